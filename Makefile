# orderflow: every target bootstraps what it needs (uv, .venv, the locked dependencies).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH, else the copy `pip install uv` puts next to $(PYTHON).
UV := $(or $(shell command -v uv 2>/dev/null),$(PYTHON) -m uv)
export UV
MEMBER_PROJECTS := $(wildcard */pyproject.toml services/*/pyproject.toml)

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt bench chaos sync schemas asyncapi-check browser

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.synced: uv.lock pyproject.toml $(MEMBER_PROJECTS)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --locked --all-packages --compile-bytecode --python $(PYTHON)
	@# the workspace's own sources too: orderflow up starts seven processes at once, which
	@# would otherwise each compile the same modules on first import
	@$(BIN)/python -m compileall -q runtime/src schemas/src projections/src services/*/src
	@touch $@

sync: $(VENV)/.synced ## install the locked dependencies into .venv

run: $(VENV)/.synced ## run the local system (Ctrl-C stops everything)
	$(BIN)/orderflow up

test: lint asyncapi-check browser ## lint, then every test tier (unit, integration, e2e, chaos)
	$(BIN)/pytest

lint: $(VENV)/.synced ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(VENV)/.synced ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: $(VENV)/.synced ## regenerate schemas/json and schemas/asyncapi.yaml from the models
	$(BIN)/python -m orderflow.schemas.artifacts schemas

ASYNCAPI_CHECK := schemas/asyncapi-check
$(ASYNCAPI_CHECK)/node_modules/.installed: $(ASYNCAPI_CHECK)/package-lock.json
	cd $(ASYNCAPI_CHECK) && npm ci --no-audit --no-fund --silent
	@touch $@

asyncapi-check: $(ASYNCAPI_CHECK)/node_modules/.installed ## validate asyncapi.yaml with @asyncapi/parser
	cd $(ASYNCAPI_CHECK) && node validate.mjs ../asyncapi.yaml

# The browser tests drive Debian's chromium (a browser build of Playwright's own cannot be
# downloaded here); installed once as root, else the command to run is printed.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	else \
		echo "the browser tests need $@: run 'sudo apt-get install chromium fonts-dejavu-core'"; \
	fi

browser: $(CHROMIUM) ## Debian's chromium for the browser tests
	@:

chaos: $(VENV)/.synced ## the full chaos suite: 30 SIGKILLs under load, then the invariants
	@mkdir -p var/chaos
	$(BIN)/orderflow chaos --kills 30 --every 3 --rate 20 --report var/chaos/report.json

# The benchmarks run in a venv of their own: faust-streaming (the bench group) cannot share one
# with the dev tools (see [tool.uv] conflicts in pyproject.toml).
bench: $(VENV)/.synced ## benchmarks: var/bench/results.json and docs/benchmarks.md
	UV_PROJECT_ENVIRONMENT=.venv-bench $(UV) sync --locked --all-packages --no-default-groups \
		--group bench --python $(PYTHON) --quiet
	.venv-bench/bin/python tests/bench/run.py
