# TenantHub: `make demo` to try it, `make test` to run every check.
# Everything is installed by these targets, idempotently; slow downloads are
# cached under ~/.cache/tenanthub.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
CACHE ?= $(HOME)/.cache/tenanthub
BIN := $(VENV)/bin
export TENANTHUB_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(BIN):$(CACHE)/npm/node_modules/.bin:$(PATH)

.PHONY: demo test install system-deps system-deps-test lint typecheck unit integration bench clean

## make demo: install, then start the platform on the embedded default and print the logins
demo: system-deps install
	$(BIN)/tenanthub demo .demo

## make test: install everything the tests need, then lint, type-check and run the whole suite
test: system-deps-test install
	scripts/run-tests.sh

install: $(VENV)/.installed $(CACHE)/npm/node_modules/.bin/configurable-http-proxy

$(VENV)/.installed: pyproject.toml
	scripts/install-python.sh $(PYTHON) $(VENV)
	touch $@

$(CACHE)/npm/node_modules/.bin/configurable-http-proxy:
	scripts/install-npm.sh $(CACHE)/npm

system-deps:
	scripts/install-system.sh demo

system-deps-test:
	scripts/install-system.sh test

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q tests/unit

integration:
	$(BIN)/pytest -q tests/integration

bench: install
	$(BIN)/python benchmarks/spawn_throughput.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
