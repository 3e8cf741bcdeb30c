# Each target makes .venv and installs the project (editable, with test and spark extras) when missing
# or when pyproject.toml changed since the last install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.placelink-installed
PEOPLE ?= 50000

.PHONY: demo test ui bench lint sysdeps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/placelink generate --people $(PEOPLE)
	$(BIN)/placelink init
	$(BIN)/placelink run --until link
	$(BIN)/placelink evaluate
	$(BIN)/placelink run --from models

test: $(STAMP) sysdeps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

ui: $(STAMP)
	$(BIN)/placelink ui

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# System packages for the browser, PostgreSQL and Spark tests; installs only what is missing.
sysdeps:
	@bash tools/sysdeps.sh

clean:
	rm -rf data .pytest_cache
