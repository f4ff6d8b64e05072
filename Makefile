# ArbMonitor — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-postgres lint format devnet superuser migrate setup bench clean browser-check

# Virtualenv with the pinned requirements; reinstalled when the pins change.
# requirements.txt is what the image runs; requirements-dev.txt adds the test and lint tools.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@

# anvil and solc from npm, exactly as package-lock.json pins them.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NPM_STAMP)

## run: set everything up and run the whole monitor (embedded Redis, SQLite, devnet) until Ctrl-C
run: setup
	$(PY) -m arbmonitor.run

## test: the whole suite on SQLite and an embedded Redis (nothing else needs to run)
test: setup browser-check
	$(PY) -m pytest

# The dashboard's browser tests need a system Chromium (Debian: apt-get install chromium); say whether they run.
browser-check:
	@if [ -x "$${CHROMIUM:-/usr/bin/chromium}" ] || command -v chromium >/dev/null; then \
		echo "browser tests: will run with $$( [ -x "$${CHROMIUM:-/usr/bin/chromium}" ] && echo $${CHROMIUM:-/usr/bin/chromium} || command -v chromium)"; \
	else \
		echo "browser tests: SKIPPED (no Chromium; apt-get install chromium, or set CHROMIUM=/path)"; \
	fi

## test-postgres: the suite against this machine's PostgreSQL and Redis
test-postgres: setup
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 $(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy arbmonitor evm dexes chains scanning opportunities transactions streaming devnet alerts api dashboard
	$(VENV)/bin/vulture

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## devnet: both local chains with the market simulator, until Ctrl-C
devnet: setup
	$(PY) -m devnet up

migrate: setup
	DEBUG=1 $(PY) manage.py migrate

superuser: setup
	DEBUG=1 $(PY) manage.py createsuperuser

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
