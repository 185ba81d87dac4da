# Two commands on a fresh machine with python3 and make:
#   make run   - set up .venv and start a head node with 2 local workers (Ctrl-C stops it)
#   make test  - set up .venv with the test extras and run the whole suite
#   make chaos - only the chaos suite (tests/chaos: kills, slow clients, damaged files), figures printed
#   make docs  - build the documentation site (mkdocs, --strict) into site/
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint bench bench-parallel chaos clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-base

run: $(VENV)/.installed-base
	$(BIN)/pycluster head --nworkers 2

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/python -m mypy

test: $(VENV)/.installed-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# scripted faults against real heads and workers (kills, slow clients, damaged files); -s prints figures
chaos: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m chaos -s $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	for b in benchmarks/*.py; do echo "# $$b"; $(BIN)/python $$b || exit 1; done

# the documentation site (mkdocs.yml) into site/; --strict: a warning (a broken link, a
# reference that does not resolve) fails the build. Not part of `make test`.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts site

bench-parallel: $(VENV)/.installed-test
	$(BIN)/python benchmarks/parallel.py
