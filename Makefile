# Everything runs through the virtualenv's own binaries, so nothing needs activating.
# `make run` and `make test` work on a fresh Linux machine with only Python >= 3.11.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt only when the dependencies change (pyproject.toml newer than the stamp).
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv run worker test lint bench chaos clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install the project with its dev extras and the SDK/CLI (client/)

$(STAMP): pyproject.toml client/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is needed; run: make PYTHON=python3.11 ..." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ echo "python -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; \
		  rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e './client[cli]'
	@touch $@

run: venv ## Start the whole stack (embedded Redis, SQLite, gateway, worker, beat, Flower, simulator)
	$(BIN)/veo-dev run

worker: venv ## Start one more worker that joins the running stack
	$(BIN)/veo-dev worker

# `veo-dev test` is pytest; outside CI it starts an embedded Redis when none answers on :6379.
test: venv ## Run the test suite
	$(BIN)/veo-dev test -q --durations=10 $(PYTEST_ARGS)

lint: venv ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy api_gateway worker shared simulator admin devtools client/veo_client

bench: venv ## Run the benchmark (bench/run.py)
	@if [ -f bench/run.py ]; then $(BIN)/python bench/run.py; \
	else echo "bench/run.py does not exist yet"; fi

chaos: venv ## Run the full chaos and network-partition runs (tests/chaos)
	@if [ -d tests/chaos ]; then VEO_TEST_CHAOS=full $(BIN)/pytest tests/chaos -s -k full $(PYTEST_ARGS); \
	else echo "tests/chaos does not exist yet"; fi

clean: ## Remove caches and build output (keeps .venv and the data in var/)
	rm -rf .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info client/build client/*.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and var/ (the local database, videos, Redis data, demo key)
	rm -rf $(VENV) var
