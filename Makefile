# Two commands do all set-up on a fresh machine:
#   make bench   — the whole ladder (harness run-all) on defaults that work on 2 cores
#   make test    — lint, types and the test suite (real PostgreSQL, real locust runs)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup bench bench-quick test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

bench: setup
	$(VENV)/bin/harness run-all

bench-quick: setup
	$(VENV)/bin/harness run-all --quick

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
