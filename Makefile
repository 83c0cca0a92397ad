# The two commands of the README. Each installs what it needs first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench

setup:
	@./scripts/setup.sh

## Build the bundled example image, push it to a local registry, gate it, show the verdict.
demo: setup
	@$(PY) -m examples.demo

## Run the test suite (real Trivy, real registry) plus the linters.
test: setup
	$(PY) -m pytest -q
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

## The layers hold by themselves: import contracts in pyproject.toml ([tool.importlinter]).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) -m bench.run
