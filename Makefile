# The two commands of the README: `make run` and `make test`. Both install what is missing.
# Dependencies: edit requirements.in (runtime) or requirements-dev.in (tools), then `make lock`;
# the locks requirements.txt / requirements-dev.txt (whole tree, hashes) are what gets installed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test test-unit lint lock lock-upgrade bench clean

install: $(PY_STAMP) $(NODE_STAMP)

# The dev lock holds the runtime lock's pins too; hash-checking mode refuses anything unpinned.
$(PY_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Azurite (in memory) + the demo tenants + the app on http://127.0.0.1:$(PORT)/api
PORT ?= 7071
run: install
	PORT=$(PORT) $(PY) -m devhost

# Every tier: unit, functions, integration (Azurite), e2e (development host over HTTP), with
# coverage of sendsecure, functions and devhost (floor: fail_under in pyproject.toml).
test: install
	$(PY) -m pytest --cov --cov-report=term:skip-covered

test-unit: $(PY_STAMP)
	$(PY) -m pytest tests/unit

# ruff (lint, import order), mypy (types), import-linter (the layers); settings in pyproject.toml.
# All three run, so one pass shows every finding; it fails if any of them does.
lint: $(PY_STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	$(VENV)/bin/lint-imports --no-logo || status=1; \
	exit $$status

# Regenerate the locks from the .in files. Pins already in a lock are kept (only what the .in
# change needs moves); `make lock-upgrade` moves every transitive pin to its newest release.
UV      := $(VENV)/bin/uv
UV_PIN  := $(shell grep -o '^uv==[^ ]*' requirements-dev.in)
COMPILE := $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
           --custom-compile-command 'make lock   (edit the .in file, not this one)'
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(COMPILE) $(UPGRADE) requirements.in -o requirements.txt
	$(COMPILE) $(UPGRADE) requirements-dev.in -o requirements-dev.txt

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

bench: install
	$(PY) bench/import_time.py
	$(PY) bench/session_load.py
	$(PY) bench/engine.py
	$(PY) bench/drafts_load.py
	$(PY) bench/phones.py

clean:
	rm -rf $(VENV) node_modules .run .pytest_cache .coverage .coverage.*
