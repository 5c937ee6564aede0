# `make demo` and `make test` work on a fresh clone: both create .venv when missing and
# install exactly the locked dependency set (requirements.lock, with hashes), then the
# project itself without its dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
PYTEST_ARGS ?=
# One command line for the lock, so that `make lock` and `make lock-check` agree.
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet \
	--generate-hashes --allow-unsafe --extra dev --strip-extras --no-emit-index-url

.PHONY: setup demo test lint typecheck unit lock lock-upgrade lock-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/factory demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -n 2 --dist loadgroup -m "not soak" $(PYTEST_ARGS)

test: lint typecheck unit

# Re-resolve after editing dependencies in pyproject.toml (pins that still satisfy it are kept).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(PIP_COMPILE) --output-file $(LOCK) pyproject.toml

# Move every pin to the newest release pyproject.toml allows.
lock-upgrade: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(PIP_COMPILE) --upgrade --output-file $(LOCK) pyproject.toml

# The lock tool's own resolution, starting from the committed pins, must reproduce the
# committed file: fails when pyproject.toml and requirements.lock disagree.
lock-check: setup
	@tmp=$$(mktemp -d) && cp $(LOCK) $$tmp/$(LOCK) && \
	$(PIP_COMPILE) --output-file $$tmp/$(LOCK) pyproject.toml 2>/dev/null && \
	if diff -u $(LOCK) $$tmp/$(LOCK); then echo "lock-check: $(LOCK) matches pyproject.toml"; \
	else echo "lock-check: $(LOCK) is out of date with pyproject.toml: run 'make lock'"; rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
