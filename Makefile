# Smart City Thailand inter-agency workflow. `make demo` runs the main job, `make test` the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := $(or $(SMARTCITY_LOCAL_DIR),$(CURDIR)/.local)
SERVICES := proposals approvals notifications console
PYTEST_ARGS ?=

# The local servers' ports (infra/stack.sh reads the same variables) handed to the services,
# the demo and the benchmarks, unless a service's own variable is set.
# One node, or with SMARTCITY_KAFKA_NODES=3 the three nodes of the local cluster.
KAFKA_BOOTSTRAP := $(shell infra/stack.sh bootstrap)
SMTP_PORT := $(or $(SMARTCITY_SMTP_PORT),1025)
MAILPIT_HTTP_PORT := $(or $(SMARTCITY_MAILPIT_HTTP_PORT),8025)
JAEGER_UI_PORT := $(or $(SMARTCITY_JAEGER_UI_PORT),16686)
JAEGER_OTLP_HTTP_PORT := $(or $(SMARTCITY_JAEGER_OTLP_HTTP_PORT),4318)
define service_defaults
export $(1)_KAFKA_BOOTSTRAP ?= $(KAFKA_BOOTSTRAP)
export $(1)_OTLP_ENDPOINT ?= http://127.0.0.1:$(JAEGER_OTLP_HTTP_PORT)
endef
$(foreach s,PROPOSALS APPROVALS NOTIFICATIONS CONSOLE,$(eval $(call service_defaults,$(s))))
export NOTIFICATIONS_SMTP_PORT ?= $(SMTP_PORT)
export CONSOLE_JAEGER_URL ?= http://127.0.0.1:$(JAEGER_UI_PORT)
export SMARTCITY_MAILPIT_URL ?= http://127.0.0.1:$(MAILPIT_HTTP_PORT)

.PHONY: help setup infra-install infra-up infra-down infra-status up down status test test-unit \
        test-integration test-e2e test-cluster lint format demo docs bench chaos fuzz browser \
        asyncapi-parser pdf-tools letter-screenshots clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Three distributions from this repository, all under the namespace `smartcity_th`: the wire
# contracts (contracts/), the integrator kit (smartcity_kit/) and the backbone (the rest).
DISTRIBUTIONS := -e ./contracts -e ./smartcity_kit -e '.[dev]'
$(VENV)/.installed: pyproject.toml contracts/pyproject.toml smartcity_kit/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is required (Python 3.11+)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# The editable installs' build log (setuptools warns about its import hook each time) is
	@# kept, and shown only when the install fails.
	@echo "$(PY) -m pip install $(DISTRIBUTIONS)  (log: $(VENV)/install.log)"
	@$(PY) -m pip install $(DISTRIBUTIONS) >$(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; echo "error: pip install failed; see $(VENV)/install.log"; exit 1; }
	@touch $@

# mypy does not run the import hooks of editable installs, and the folders keep their short
# names: it reads the packages through a tree of links named as they are imported.
MYPY_TREE := $(VENV)/mypy-path
$(MYPY_TREE)/smartcity_th: | $(VENV)/.installed
	@mkdir -p $@
	@ln -sfn $(CURDIR)/contracts $@/contracts
	@ln -sfn $(CURDIR)/smartcity_kit $@/kit
	@ln -sfn $(CURDIR)/services $@/services
	@ln -sfn $(CURDIR)/scenarios $@/scenarios

setup: $(VENV)/.installed pdf-tools ## Create the virtualenv and install dependencies

infra-install: ## Download/build Kafka, PostgreSQL, FerretDB, Mailpit and Jaeger (cached in .local/)
	infra/stack.sh install

infra-up: setup ## Start Kafka, PostgreSQL, FerretDB, Mailpit and Jaeger on loopback (idempotent)
	infra/stack.sh up

infra-down: ## Stop the local servers
	infra/stack.sh down

infra-status: ## Show which local servers run
	infra/stack.sh status

up: infra-up ## Start the servers and every service in the background (logs in .local/logs)
	$(PY) -m smartcity_th.services.admin.cli seed
	$(PY) -m smartcity_th.services.admin.cli signing-key ensure svc-approvals --out "$${SMARTCITY_LOCAL_DIR:-.local}/service-signing-keys"
	infra/services.sh up $(SERVICES)
	@echo "console  $${CONSOLE_URL:-http://127.0.0.1:$${CONSOLE_HTTP_PORT:-8004}}"
	@echo "traces   $(CONSOLE_JAEGER_URL)  (Jaeger query API; smartcity trace <proposal id>)"
	@echo "mail     $(SMARTCITY_MAILPIT_URL)"

down: ## Stop the services and the servers
	-infra/services.sh down $(SERVICES)
	-infra/temporal.sh down  # the benchmark's peer engine, if a run left it up
	infra/stack.sh down

status: ## Show servers and services
	-infra/stack.sh status
	-infra/services.sh status $(SERVICES)

# The notifications service renders every letter as a PDF at run time, in the Laksaman font,
# and refuses to start without it; the tests read the PDFs with poppler's tools.
pdf-tools: ## Install the letters' PDF font (Laksaman) and poppler-utils (idempotent)
	infra/install-pdf-tools.sh

browser: ## Install Debian's Chromium and Thai fonts for the browser tests (idempotent)
	infra/install-browser.sh

asyncapi-parser: ## Install the official AsyncAPI parser (npm ci) that validates docs/asyncapi/
	infra/install-asyncapi-parser.sh

test: infra-up browser asyncapi-parser ## Run every test tier against the real Kafka, FerretDB and SMTP server
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup asyncapi-parser ## Unit tests only (pure code, no servers)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: infra-up ## Integration tests (real adapters)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: infra-up ## End-to-end tests (the services as processes)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

test-cluster: setup ## Broker loss on a three-node Kafka (stops a one-node broker; SMARTCITY_KAFKA_NODES=3)
	SMARTCITY_KAFKA_NODES=3 infra/stack.sh up
	SMARTCITY_KAFKA_NODES=3 $(PY) -m pytest tests/cluster $(PYTEST_ARGS)

lint: setup $(MYPY_TREE)/smartcity_th ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=$(MYPY_TREE) $(VENV)/bin/mypy -p smartcity_th.contracts -p smartcity_th.kit \
	  -p smartcity_th.services -p smartcity_th.scenarios -p tests -p tools
	MYPYPATH=$(MYPY_TREE) $(VENV)/bin/mypy infra/storewatch.py

format: setup ## Apply ruff's formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: up ## The main job: the stack with a realistic scenario flowing through it (DEMO_ARGS=--reset: from scratch)
	$(PY) -m smartcity_th.scenarios $(DEMO_ARGS)

chaos: infra-up ## Fault-injection suite (restarts the local servers!); CHAOS_ARGS="--proposals 1000"
	$(PY) -m tests.chaos.run $(CHAOS_ARGS)

fuzz: infra-up ## Fuzz campaign: hostile records through the real broker to every consumer; FUZZ_ARGS="--records 10000"
	$(PY) -m tests.fuzz.run $(FUZZ_ARGS)

bench: infra-up ## Benchmarks: latency, throughput, memory against targets (BENCH_ARGS="--peer temporal": beside Temporal)
	$(PY) -m tests.bench.run $(BENCH_ARGS)

letter-screenshots: setup ## Render the first page of three sample letters' PDFs to docs/screenshots/
	$(PY) -m tools.letter_screenshots

docs: setup ## Regenerate docs/: JSON Schemas, AsyncAPI documents, events.md
	$(PY) -m tools.docgen

clean: down ## Stop everything and delete local data (keeps downloaded/built servers)
	rm -rf $(LOCAL)/kafka/data $(LOCAL)/postgres/data $(LOCAL)/postgres $(LOCAL)/ferretdb \
	  $(LOCAL)/mailpit $(LOCAL)/temporal $(LOCAL)/logs  # postgres/data first: postgres may link out (infra/stack.sh)
