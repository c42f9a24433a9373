# Two commands do all set-up on a fresh machine:
#   make bench   — the whole ladder (harness run-all) on defaults that work on 2 cores
#   make test    — lint, types and the whole test suite (real PostgreSQL, locust, Docker, the wire): what CI runs
# and one for every change, without root or PostgreSQL:
#   make check   — lint, types and the unit tests, in under a minute
VENV ?= .venv
# the interpreter the venv (and so every service of a local run) is built from: a statically
# linked CPython where one is installed (scripts/pick-python.sh says why)
PYTHON ?= $(shell scripts/pick-python.sh)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps

.PHONY: setup venv bench bench-quick check test lint clean

# the Python side only: what `make check` needs (no root)
venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# PostgreSQL and mmdebstrap from Debian's packages (root or sudo), then the venv
setup: $(SYSTEM_STAMP) $(STAMP)

$(SYSTEM_STAMP): scripts/install-system-deps.sh | $(STAMP)
	scripts/install-system-deps.sh
	touch $(SYSTEM_STAMP)

bench: setup
	$(VENV)/bin/harness run-all

bench-quick: setup
	$(VENV)/bin/harness run-all --quick

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# the unit tests on every CPU (pytest-xdist): much of their time is the installed `harness`
# command starting in a subprocess; the integration tests measure, so they run one at a time
UNIT_TESTS = $(VENV)/bin/pytest -q -n auto tests/unit

check: lint
	$(UNIT_TESTS)

# everything CI runs: the integration tests, then the unit tests as `check` runs them
test: setup lint
	$(VENV)/bin/pytest tests/integration
	$(UNIT_TESTS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
