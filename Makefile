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
.PHONY: help run test lint fmt bench sync schemas asyncapi-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.synced: uv.lock pyproject.toml $(MEMBER_PROJECTS)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --locked --all-packages --python $(PYTHON)
	@touch $@

sync: $(VENV)/.synced ## install the locked dependencies into .venv

run: $(VENV)/.synced ## run the local system (Ctrl-C stops everything)
	$(BIN)/orderflow up

test: lint asyncapi-check ## lint, then every test tier (unit, integration, e2e, chaos)
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

bench: $(VENV)/.synced ## benchmarks: var/bench/results.json and docs/benchmarks.md
	$(BIN)/python tests/bench/run.py
