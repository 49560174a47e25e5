# The two commands of the README: `make run` and `make test`. Both install what is missing.
# Dependencies: edit requirements.in (runtime) or requirements-dev.in (tools), then `make lock`;
# the locks requirements.txt / requirements-dev.txt (whole tree, hashes) are what gets installed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test test-unit lint lock lock-upgrade bench clean mutate addin-build addin-test chromium package

ADDIN_STAMP := addin/node_modules/.installed

install: $(PY_STAMP) $(NODE_STAMP) $(ADDIN_STAMP)

# The dev lock holds the runtime lock's pins too; hash-checking mode refuses anything unpinned.
$(PY_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Outlook add-in (addin/, docs/addin.md): its own package.json and lock, its own node_modules.
$(ADDIN_STAMP): addin/package.json addin/package-lock.json
	cd addin && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Build settings (ADDIN_ORIGIN, API_BASE, ...) are read from the environment: docs/addin.md. Unless
# ADDIN_ORIGIN is set, the add-in is built for the port `make run` serves it on (PORT).
PORT ?= 7071
ADDIN_ORIGIN ?= https://localhost:$(PORT)
addin-build: $(ADDIN_STAMP)
	cd addin && ADDIN_ORIGIN='$(ADDIN_ORIGIN)' npm run --silent build

# Types, the vitest unit tests and the manifest's offline schema validation.
addin-test: addin-build
	cd addin && npx --no-install tsc --noEmit -p . && npx --no-install vitest run \
	  && npx --no-install office-addin-manifest validate dist/manifest.json && echo "manifest valid: addin/dist/manifest.json"

# The browser tests (tests/browser) drive Debian's chromium; Playwright never downloads a browser.
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for tests/browser"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# Keys (provisioning, never a request, makes them) + Azurite (in memory) + the demo tenants
# + the app on http://127.0.0.1:$(PORT)/api (PORT=7072 make run: the add-in is built for that port too)
run: install addin-build
	$(PY) -m sendsecure.provision
	PORT=$(PORT) $(PY) -m devhost

# Every tier: unit, functions, integration (Azurite), e2e (development host over HTTP), with
# coverage of sendsecure, functions and devhost (floor: fail_under in pyproject.toml); first the
# add-in's own tests, and its browser tests (tests/browser) are required here, not skipped.
test: install addin-test chromium
	SENDSECURE_BROWSER_TESTS=required $(PY) -m pytest --cov --cov-report=term:skip-covered

test-unit: $(PY_STAMP)
	$(PY) -m pytest tests/unit

# The deployable zip of the Function App (docs/deployment.md): the files git knows minus .funcignore,
# reproducible (sorted, fixed dates). The pipeline deploys it; tests/infra lists it.
package: $(PY_STAMP)
	$(PY) infra/package.py --output dist/sendsecure.zip

# ruff (lint, import order), mypy (types), import-linter (the layers); settings in pyproject.toml.
# All three run, so one pass shows every finding; it fails if any of them does.
lint: $(PY_STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	$(VENV)/bin/lint-imports --no-logo || status=1; \
	exit $$status

# Mutation testing of the pure core (not part of `make test` or CI; 3-8 min on 2 cores): mutmut
# mutates sendsecure/core/{rules,logincodes,drafts}.py and runs the unit tests that reach each
# mutated function (settings in pyproject.toml [tool.mutmut]); survivors are listed at the end,
# `$(VENV)/bin/mutmut show NAME` shows one. Score and the survivors left: docs/testing.md.
mutate: $(PY_STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

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

# Every benchmark in bench/ (figures printed and written to bench/results/), in about 8-10 minutes:
# the load runs are shorter than their defaults (docs/testing.md, "Benchmarks"). All of them run,
# so one pass gives every figure; it fails if any of them does (a missed target, for some).
BENCH_LOAD := --seconds 10 --runs 3
BENCHES := "import_time.py" "engine.py" "adversarial.py" "phones.py" "login_verify.py" \
           "session_load.py $(BENCH_LOAD)" "drafts_load.py $(BENCH_LOAD)" "workers_load.py $(BENCH_LOAD)" \
           "onsend_frozen.py --seconds 5 --runs 3" "frozen_burst.py" "profile_onsend.py --seconds 10" \
           "book_sync.py" "addin.py" "send_load.py $(BENCH_LOAD)" "send_load.py $(BENCH_LOAD) --workers 2 \
           --output send_load_2w.json" "send_inprocess.py" "send_inprocess.py --endpoint on-send" "signing.py" "entra_validate.py" "audit_chain.py"
bench: install addin-build chromium
	@status=0; \
	for bench in $(BENCHES); do \
	  echo "== bench/$$bench"; $(PY) bench/$$bench || { echo "FAILED: bench/$$bench"; status=1; }; \
	done; \
	exit $$status

clean:
	rm -rf $(VENV) node_modules .run .pytest_cache .coverage .coverage.* addin/node_modules addin/dist dist
