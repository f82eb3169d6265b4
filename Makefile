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
## (Docker when an engine answers: the images are built first; else the local backend)
demo: system-deps install
	@if docker info >/dev/null 2>&1; then \
	  echo "A Docker engine answers: building the notebook images it needs (cached after the first time)"; \
	  VENV=$(VENV) scripts/build-images.sh base cpu; \
	else \
	  echo "No Docker engine answers: the demo uses the local backend (no isolation between users)"; \
	fi
	$(BIN)/tenanthub demo .demo

## make test: install everything the tests need (dockerd, images, PostgreSQL), then lint,
## type-check and run the whole suite; stops dockerd afterwards if it started it
test: system-deps-test install
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh base cpu spark
	scripts/run-tests.sh; status=$$?; scripts/dockerd.sh down; exit $$status

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

.PHONY: images images-gpu
## make images: notebook images base, cpu, spark, built offline (debootstrap bookworm + docker import); see images/README.md
images:
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh base cpu spark

## make images-gpu: the CUDA PyTorch image too (opt-in: several GB of wheels; never part of make test)
images-gpu:
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh gpu
