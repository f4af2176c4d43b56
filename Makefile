# The two commands of the README are `make demo` and `make test`; both set things up first.
# Python 3.12 is what Azure runs: use it when this machine has it (pyenv included).
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
AZURITE := tests/azurite/node_modules/.bin/azurite

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed $(AZURITE)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(AZURITE): tests/azurite/package.json tests/azurite/package-lock.json
	npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error
	touch $@

## The connector's story, locally: Azurite and the sandboxes stand in for Azure, Lucca and Entra.
demo: setup
	$(BIN)/python -m tests.story

## Every check and every test.
test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The benchmarks the README quotes.
bench: setup
	$(BIN)/python -m bench.webhook

clean:
	rm -rf $(VENV) tests/azurite/node_modules .pytest_cache .mypy_cache .ruff_cache
