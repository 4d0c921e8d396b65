# Two commands on a fresh machine: `make run` and `make test`. Each creates the virtual
# environment (and, without DATABASE_URL, the embedded PostgreSQL) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The embedded PostgreSQL and the development secret live here (the CLI's own default, used
# outside this Makefile, is the user's data folder, e.g. ~/.local/share/gridweave).
export GRIDWEAVE_DATA_DIR ?= $(CURDIR)/.gridweave

.PHONY: run test lint bench schema clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gridweave needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/gridweave serve --demo --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gridweave tests bench
	$(VENV)/bin/ruff format --check gridweave tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	bench/readpath $(BENCH_ARGS)

schema: $(VENV)/.installed
	@$(VENV)/bin/gridweave export-schema

clean:
	rm -rf $(VENV) .gridweave .pytest_cache .mypy_cache .ruff_cache
