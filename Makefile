# The two commands of the README: `make run` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test test-unit bench clean

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Keys (provisioning, never a request, makes them) + Azurite (in memory) + the demo tenants
# + the app on http://127.0.0.1:$(PORT)/api
PORT ?= 7071
run: install
	$(PY) -m sendsecure.provision
	PORT=$(PORT) $(PY) -m devhost

# Every tier: unit, functions, integration (Azurite), e2e (development host over HTTP).
test: install
	$(PY) -m pytest

test-unit: $(PY_STAMP)
	$(PY) -m pytest tests/unit

bench: install
	$(PY) bench/import_time.py
	$(PY) bench/session_load.py
	$(PY) bench/engine.py
	$(PY) bench/drafts_load.py
	$(PY) bench/phones.py

clean:
	rm -rf $(VENV) node_modules .run .pytest_cache
