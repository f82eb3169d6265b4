# TenantHub: `make demo` to try it, `make test` to run every check.
# Everything is installed by these targets, idempotently; slow downloads are
# cached under ~/.cache/tenanthub.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
CACHE ?= $(HOME)/.cache/tenanthub
BIN := $(VENV)/bin
export TENANTHUB_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(BIN):$(CACHE)/npm/node_modules/.bin:$(CACHE)/helm/bin:$(PATH)

.PHONY: demo test install system-deps system-deps-test lint typecheck unit integration bench clean k8s-up k8s-down screenshots

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

## make test: install everything the tests need (dockerd, images, PostgreSQL, the Kubernetes
## test cluster), then lint, type-check and run the whole suite. Afterwards it always stops
## the cluster, then dockerd if it started it (in that order: the kubelet's containers live in
## that engine), and exits non-zero if any step failed.
## The tests find the cluster through TENANTHUB_TEST_KUBECONFIG (also exported as KUBECONFIG).
test: system-deps-test install
	scripts/dockerd.sh up
	status=0; \
	VENV=$(VENV) scripts/build-images.sh base cpu spark hub proxy || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  if tests/k8s/cluster.sh up >/dev/null; then \
	    eval "$$(tests/k8s/cluster.sh env)"; \
	  else \
	    status=1; echo "make test: the Kubernetes test cluster did not start; its tests fail" >&2; \
	  fi; \
	  scripts/run-tests.sh || status=$$?; \
	fi; \
	tests/k8s/cluster.sh down || { [ $$status -ne 0 ] || status=1; }; \
	scripts/dockerd.sh down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

## make k8s-up: the Kubernetes test cluster on the project's Docker engine, with the notebook
## images it runs (binaries built once, ~4 min, then cached; up in ~15 s); then
## `eval "$(tests/k8s/cluster.sh env)"` and `pytest tests/k8s`. Stop it with make k8s-down.
k8s-up: system-deps-test install
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh base cpu
	tests/k8s/cluster.sh up

## make screenshots: refresh docs/console-*.png and docs/lab-*.png from the browser tests
screenshots: system-deps-test install
	TENANTHUB_SCREENSHOTS=docs $(BIN)/pytest -q tests/browser/test_console.py tests/browser/test_console_datasets.py tests/browser/test_lab_extension.py

## make k8s-down: stop the Kubernetes test cluster (the Docker engine stays: scripts/dockerd.sh down)
k8s-down:
	tests/k8s/cluster.sh down

CONSOLE_VENDOR := hub/service/console/static/vendor
install: $(VENV)/.installed $(CACHE)/npm/node_modules/.bin/configurable-http-proxy \
  $(CONSOLE_VENDOR)/chart.umd.min.js $(CACHE)/helm/bin/helm

$(VENV)/.installed: pyproject.toml images/sdk/pyproject.toml \
  extensions/jupyterlab-tenanthub/pyproject.toml extensions/jupyterlab-tenanthub/package.json
	scripts/install-python.sh $(PYTHON) $(VENV)
	touch $@

$(CACHE)/npm/node_modules/.bin/configurable-http-proxy:
	scripts/install-npm.sh $(CACHE)/npm

# helm and kubectl (the chart's tests); the script pins the version and reinstalls on a new pin
$(CACHE)/helm/bin/helm: scripts/install-helm.sh
	scripts/install-helm.sh $(CACHE)/helm

# the console's chart library: Chart.js's prebuilt bundle from npm, copied next to the
# console's own static files, so the service serves it (no CDN at run time; not in git)
$(CONSOLE_VENDOR)/chart.umd.min.js: scripts/install-npm.sh
	scripts/install-npm.sh $(CACHE)/npm
	mkdir -p $(@D)
	cp $(CACHE)/npm/node_modules/chart.js/dist/chart.umd.min.js $@

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
## make images: notebook images base, cpu, spark, built offline (debootstrap bookworm + docker import),
## the platform's own image tenanthub/hub (for the Helm chart) and tenanthub/proxy (its proxy where
## quay.io cannot be pulled); see images/README.md
images:
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh base cpu spark hub proxy

## make images-gpu: the CUDA PyTorch image too (opt-in: several GB of wheels; never part of make test)
images-gpu:
	scripts/dockerd.sh up
	VENV=$(VENV) scripts/build-images.sh gpu
