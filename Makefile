# byosms developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
PY_SRC := libs/byosms-common/src $(wildcard services/*/src) $(wildcard tools/*/src) scripts
# The targets of the one Dockerfile (each image is tagged byosms/<target>:dev, as docker-compose.yml names them).
IMAGES := ingress-webhook provisioning inventory routing console twilio-emulator

.PHONY: help install lint typecheck contracts contracts-check helm-check test test-unit test-integration stack-up stack-down up down images bench console-screenshots clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## Install the whole workspace (all packages, dev tools) into .venv from the lock file
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.9'
	$(UV) sync --all-packages --locked

lint: install ## ruff lint and format check
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: install ## mypy --strict over every package
	$(UV) run mypy $(PY_SRC)

contracts: install ## Regenerate contracts/ (JSON Schemas, AsyncAPI, OpenAPI) from the code
	$(UV) run byosms-contracts write contracts
	$(UV) run byosms-provisioning write-openapi contracts/openapi/provisioning.json

contracts-check: install ## Fail when contracts/ drifted from the code
	$(UV) run byosms-contracts check contracts

helm-check: ## helm lint + render every scenario and validate against Kubernetes 1.33 schemas
	bash scripts/helm_check.sh

test: lint typecheck contracts-check helm-check ## Lint, type-check, chart checks, then all tests (starts Kafka + PostgreSQL when not configured); the 15 slowest are listed, to keep CI well under its budget
	$(UV) run pytest -q --durations=15

test-unit: install ## Only the unit tests
	$(UV) run pytest -q -m unit

test-integration: install ## Only the integration and end-to-end tests
	$(UV) run pytest -q -m "integration or e2e"

stack-up: install ## Start Kafka (KRaft, from Maven Central jars) and PostgreSQL on loopback, create topics
	$(UV) run byosms-stack up

stack-down: install ## Stop what stack-up started, and the test suite's own stack
	$(UV) run byosms-stack down
	$(UV) run byosms-stack down --test

up: stack-up ## Bring the whole system up in the background, wait until every service is ready, run the demo
	@eval "$$($(UV) run byosms-stack env)" && $(UV) run python scripts/services.py up
	@eval "$$($(UV) run byosms-stack env)" && $(UV) run byosms-stack demo $$($(UV) run python scripts/services.py demo-args)
	@echo "Admin console: http://127.0.0.1:$${BYOSMS_CONSOLE_PORT:-8085}/ (development login)"

down: ## Stop the services, then the stack
	-@$(UV) run python scripts/services.py down
	$(UV) run byosms-stack down

images: ## Build every image with Docker from the one Dockerfile (a target each: `docker build --target routing .`)
	@for target in $(IMAGES); do echo "== $$target"; docker build --target $$target -t byosms/$$target:dev . || exit 1; done

bench: install ## Run the benchmarks on the test stack, not make up's (results in bench/results/)
	@eval "$$($(UV) run byosms-stack up --test)" && for b in bench/*/run.py bench/routing/transactions.py; do echo "== $$b"; $(UV) run python $$b || exit 1; done

console-screenshots: install ## Regenerate docs/console/*.png: the console's browser tests save its main screens (Debian's chromium)
	@eval "$$($(UV) run byosms-stack up --test)" && BYOSMS_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(UV) run pytest -q tests/e2e/test_console.py

clean: ## Remove caches (not .run/, which holds the stack's data)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
