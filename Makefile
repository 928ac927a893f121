# The two commands: `make run` and `make test`. Both build what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The infrastructure checks (sam, cfn-lint, checkov) pin versions the app cannot share: a venv of their own.
INFRA_VENV := .venv-infra
INFRA_BIN := $(INFRA_VENV)/bin
INFRA_STAMP := $(INFRA_VENV)/.installed
STAGES := dev stage prod
# The console's browser tests drive Debian's Chromium (the package's binary, not its wrapper script)
# through playwright, and Debian's Firefox ESR through puppeteer-core (tests/firefox/, from npm);
# its own modules run under Node's test runner.
CHROMIUM := /usr/lib/chromium/chromium
FIREFOX := /usr/lib/firefox-esr/firefox-esr
NODE := $(or $(shell command -v node),/usr/bin/node)
NPM := $(or $(shell command -v npm),/usr/bin/npm)
FIREFOX_MODULES := tests/firefox/node_modules/.installed
STAGE ?= dev
# The suite starts many Python processes (the local platform, sam, cfn-lint, checkov): each reuses
# the modules an earlier one compiled instead of compiling them again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint validate package format bench clean

# A venv is rebuilt whenever its requirements file changes. pip is not upgraded: chalice pins it.
# --no-compile: Python compiles what it imports on first use, a fraction of everything installed.
# Then the `sdp` client and command from pyproject.toml, editable (its dependencies are pinned above).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-compile --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(INFRA_STAMP): requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_BIN)/pip install --quiet --no-compile --disable-pip-version-check -r requirements-infra.txt
	touch $(INFRA_STAMP)

run: $(STAMP)
	$(BIN)/python -m localplatform $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Lint, every stage packaged and validated offline, the console's modules, then the whole suite, one
# worker per core (at most 4).
test: lint validate $(CHROMIUM) $(FIREFOX) $(NODE) $(FIREFOX_MODULES)
	$(NODE) --test tests/console/
	$(BIN)/python -m pytest -n auto --maxprocesses 4

# From Debian's packages (the machine's package index may be stale: refreshed only if the first try fails).
$(CHROMIUM):
	apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }

$(FIREFOX):
	apt-get install -y firefox-esr || { apt-get update && apt-get install -y firefox-esr; }

$(NODE):
	apt-get install -y nodejs || { apt-get update && apt-get install -y nodejs; }

$(NPM): | $(NODE)
	apt-get install -y npm || { apt-get update && apt-get install -y npm; }

# puppeteer-core and what it needs, exactly as package-lock.json pins them; it downloads no browser
# (no install scripts run), it drives the firefox-esr above.
$(FIREFOX_MODULES): tests/firefox/package.json tests/firefox/package-lock.json | $(NPM)
	cd tests/firefox && $(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

# out/<stage>/: the merged SAM template, the function zip and the DuckDB layer zip.
package: $(STAMP)
	$(BIN)/python -m infra.package $(STAGE)

# sam validate, the SAM transform, cfn-lint and checkov on each stage, then the template tests.
validate: $(STAMP) $(INFRA_STAMP)
	$(BIN)/python -m infra.package $(STAGES)
	$(INFRA_BIN)/python -m infra.validate $(STAGES)
	$(INFRA_BIN)/python -m pytest -c infra/pytest.ini infra/tests

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) $(INFRA_VENV) .pytest_cache .ruff_cache out *.egg-info tests/firefox/node_modules
