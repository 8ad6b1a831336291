# Frontdesk: `make run` serves on the embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install dev run test test-only lint bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

run: install
	$(BIN)/frontdesk migrate
	$(BIN)/frontdesk serve

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: dev lint test-only

test-only: dev
	$(BIN)/pytest

BENCHES := bench/sla_calendar.py bench/forms_ingest.py bench/email_ingest.py bench/sqlite_driver.py \
           bench/live_fanout.py bench/inbox_pages.py bench/request_timer.py \
           bench/webchat.py

bench: $(VENV)/.installed-bench
	@for script in $(BENCHES); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
