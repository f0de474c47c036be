# Smart City Thailand inter-agency workflow. `make demo` runs the main job, `make test` the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := $(or $(SMARTCITY_LOCAL_DIR),$(CURDIR)/.local)
SERVICES := proposals approvals notifications console
PYTEST_ARGS ?=

.PHONY: help setup infra-install infra-up infra-down infra-status up down status test test-unit \
        test-integration test-e2e lint format demo docs bench chaos fuzz browser clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is required (Python 3.11+)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## Create the virtualenv and install dependencies

infra-install: ## Download/build Kafka, FerretDB and Mailpit (cached in .local/)
	infra/stack.sh install

infra-up: setup ## Start Kafka, FerretDB and Mailpit on loopback (idempotent)
	infra/stack.sh up

infra-down: ## Stop the local servers
	infra/stack.sh down

infra-status: ## Show which local servers run
	infra/stack.sh status

up: infra-up ## Start the servers and every service in the background (logs in .local/logs)
	infra/services.sh up $(SERVICES)

down: ## Stop the services and the servers
	-infra/services.sh down $(SERVICES)
	infra/stack.sh down

status: ## Show servers and services
	-infra/stack.sh status
	-infra/services.sh status $(SERVICES)

browser: ## Install Debian's Chromium and Thai fonts for the browser tests (idempotent)
	infra/install-browser.sh

test: infra-up browser ## Run every test tier against the real Kafka, FerretDB and SMTP server
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## Unit tests only (pure code, no servers)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: infra-up ## Integration tests (real adapters)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: infra-up ## End-to-end tests (the services as processes)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: setup ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts services tests scenarios

format: setup ## Apply ruff's formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: up ## The main job: the stack with a realistic scenario flowing through it
	PROPOSALS_MONGO_URL=$${PROPOSALS_MONGO_URL:-mongodb://127.0.0.1:$${SMARTCITY_FERRETDB_PORT:-27017}} \
	SMARTCITY_MAILPIT_URL=$${SMARTCITY_MAILPIT_URL:-http://127.0.0.1:$${SMARTCITY_MAILPIT_HTTP_PORT:-8025}} \
	$(PY) -m scenarios $(DEMO_ARGS)

chaos: infra-up ## Fault-injection suite (restarts the local servers!); CHAOS_ARGS="--proposals 1000"
	$(PY) -m tests.chaos.run $(CHAOS_ARGS)

fuzz: infra-up ## Fuzz campaign: hostile records through the real broker to every consumer; FUZZ_ARGS="--records 10000"
	$(PY) -m tests.fuzz.run $(FUZZ_ARGS)

bench: infra-up ## Benchmarks: end-to-end latency, throughput, memory against targets
	$(PY) -m tests.bench.run $(BENCH_ARGS)

docs: setup ## Regenerate docs/: JSON Schemas, AsyncAPI documents, events.md
	$(PY) -m contracts.export

clean: down ## Stop everything and delete local data (keeps downloaded/built servers)
	rm -rf $(LOCAL)/kafka/data $(LOCAL)/ferretdb $(LOCAL)/mailpit $(LOCAL)/logs
