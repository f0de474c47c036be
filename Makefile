# Smart City Thailand inter-agency workflow. `make demo` runs the main job, `make test` the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := $(or $(SMARTCITY_LOCAL_DIR),$(CURDIR)/.local)
SERVICES := proposals approvals notifications console
# The services that publish facts, each signed with its own key (docs/security.md, "Signed facts")
FACT_OWNERS := proposals approvals notifications
PYTEST_ARGS ?=

# The local servers' ports (infra/stack.sh reads the same variables) handed to the services,
# the demo and the benchmarks, unless a service's own variable is set.
# One node, or with SMARTCITY_KAFKA_NODES=3 the three nodes of the local cluster (which
# `make test-cluster` and `make chaos CHAOS_ARGS="--cluster ..."` ask for).
ifneq ($(findstring --cluster,$(CHAOS_ARGS))$(filter test-cluster,$(MAKECMDGOALS)),)
export SMARTCITY_KAFKA_NODES := 3
endif
# (handed on explicitly: GNU make before 4.4 does not export its variables to $(shell))
KAFKA_BOOTSTRAP := $(shell SMARTCITY_KAFKA_NODES=$(SMARTCITY_KAFKA_NODES) infra/stack.sh bootstrap)
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
        test-integration test-e2e test-cluster lint lock format demo docs bench chaos fuzz browser \
        asyncapi-parser pdf-tools letter-screenshots clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Three distributions from this repository, all under the namespace `smartcity_th`: the wire
# contracts (contracts/), the integrator kit (smartcity_kit/) and the backbone (the rest).
# Everything else comes from PyPI at the versions and hashes pinned in requirements/dev.txt (the
# image: requirements/runtime.txt), installed first with --require-hashes; the three local
# packages then without dependencies (pip refuses unhashed local paths under --require-hashes)
# and without build isolation (the pinned setuptools builds them), and `pip check` proves the
# pins satisfy what they declare (else: `make lock`). docs/development.md says more.
LOCK := requirements/dev.txt
DISTRIBUTIONS := -e ./contracts -e ./smartcity_kit -e '.[dev]'
$(VENV)/.installed: $(LOCK) requirements/pip.txt pyproject.toml contracts/pyproject.toml smartcity_kit/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is required (Python 3.11+)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements/pip.txt
	@# The editable installs' build log (setuptools warns about its import hook each time) is
	@# kept, and shown only when the install fails.
	@echo "$(PY) -m pip install --require-hashes -r $(LOCK); then $(DISTRIBUTIONS)  (log: $(VENV)/install.log)"
	@{ $(PY) -m pip install --require-hashes -r $(LOCK) \
	   && $(PY) -m pip install --no-deps --no-build-isolation $(DISTRIBUTIONS); } >$(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; echo "error: pip install failed; see $(VENV)/install.log"; exit 1; }
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check; \
	  echo "error: $(LOCK) does not satisfy pyproject.toml; run make lock"; exit 1; }
	@touch $@

# Re-resolves the pins from the three pyproject.toml files, keeping every pin that still fits
# (LOCK_ARGS="--upgrade-package fastapi" moves one, LOCK_ARGS=--upgrade all). For every
# platform and Python 3.11+, with the hashes of every file PyPI has for each pinned version.
# The image's pins are the development pins without the test and lint tools.
UV := $(VENV)/bin/uv
LOCAL_DISTRIBUTIONS := smartcity-th smartcity-th-contracts smartcity-th-kit
UV_COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
  $(addprefix --no-emit-package ,$(LOCAL_DISTRIBUTIONS)) --custom-compile-command "make lock"
lock: ## Re-pin requirements/*.txt (hashed) after a change to a pyproject.toml's dependencies
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q "uv==$$(sed -n 's/^uv==\([^ ]*\).*/\1/p' $(LOCK))"
	$(UV_COMPILE) $(LOCK_ARGS) requirements/dev.in -o $(LOCK)
	$(UV_COMPILE) requirements/runtime.in -c $(LOCK) -o requirements/runtime.txt
	$(UV_COMPILE) requirements/pip.in -c $(LOCK) -o requirements/pip.txt

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
	for svc in $(FACT_OWNERS); do $(PY) -m smartcity_th.services.admin.cli signing-key ensure svc-$$svc --out "$${SMARTCITY_LOCAL_DIR:-.local}/service-signing-keys" || exit 1; done
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

test-cluster: setup ## Broker loss, then the integration and e2e tiers, on a three-node Kafka (stops a one-node broker)
	infra/stack.sh up
	$(PY) -m pytest tests/cluster tests/integration tests/e2e $(PYTEST_ARGS)

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

chaos: infra-up ## Fault-injection suite (restarts the local servers!); CHAOS_ARGS="--proposals 1000", "--cluster" on three Kafka nodes
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
