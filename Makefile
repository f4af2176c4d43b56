# The two commands of the README are `make demo` and `make test`; both set things up first.
# Python 3.12 is what Azure runs: use it when this machine has it (pyenv included).
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo "$$p"; break; }; done)
PYTHON311 ?= $(shell for p in python3.11 $$(pyenv root 2>/dev/null)/versions/3.11*/bin/python3.11; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
AZURITE := tests/azurite/node_modules/.bin/azurite

.PHONY: setup demo test test-311 lint lock infra-check bench bench-reconcile clean

setup: $(VENV)/.installed $(AZURITE)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

$(AZURITE): tests/azurite/package.json tests/azurite/package-lock.json
	npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error
	touch $@

## The connector's story, locally: Azurite and the sandboxes stand in for Azure, Lucca and Entra.
demo: setup
	$(BIN)/python -m tests.story

## Every check and every test (on Python 3.12, then again on 3.11 where the machine has it).
test: setup lint infra-check
	$(BIN)/python -m pytest
	@if [ -n "$(PYTHON311)" ]; then $(MAKE) --no-print-directory test-311; \
	else echo "No Python 3.11 on this machine: the 3.11 run is skipped."; fi

## The same tests on Python 3.11, the oldest version the code supports.
test-311: .venv311/.installed $(AZURITE)
	.venv311/bin/python -m pytest -q -p no:cacheprovider

.venv311/.installed: requirements.txt requirements-dev.txt
	$(PYTHON311) -m venv .venv311
	.venv311/bin/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

## The locked dependencies, regenerated from requirements.in and requirements-dev.in: exact
## versions and hashes, one resolution for every Python and platform from 3.11 on (README,
## "Dependencies"). Pins already in the lock files stay unless the .in files need otherwise;
## `make lock LOCK_ARGS=--upgrade` takes the newest of everything.
LOCK = UV_CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/uv pip compile --quiet --universal \
	--python-version 3.11 --generate-hashes --no-strip-extras $(LOCK_ARGS)
lock: setup
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Static checks of infra/: every Bicep file parses with checkov's parser, checkov finds nothing.
infra-check: .venv-checkov/.installed
	.venv-checkov/bin/python tests/checkov/check_infra.py

.venv-checkov/.installed: tests/checkov/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet -r tests/checkov/requirements.txt
	touch $@

## The benchmarks the README quotes.
bench: setup
	$(BIN)/python -m bench.webhook

## The reconciliation of 5,000 employees, paced by the real Lucca limiter: about half an hour.
## The sliced night by default; the one-shot runs A and B with BENCH_ARGS=--one-shot; a quick
## run: make bench-reconcile BENCH_ARGS="--one-shot --employees 500 --window 2"
bench-reconcile: setup
	$(BIN)/python -m bench.reconcile $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv311 .venv-checkov tests/azurite/node_modules .pytest_cache .mypy_cache .ruff_cache
