# The two commands: `make run` and `make test`. Both build .venv themselves on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/minimaker serve --host 127.0.0.1 --port 8000

# The suite on both cores of the CI machine (pytest-xdist); `make test WORKERS=1` runs it in one.
WORKERS ?= 2

test: lint browser
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -n $(WORKERS)

# The page tests drive Debian's Chromium through Playwright (no browser download at run time).
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) minimaker-data .pytest_cache .ruff_cache .mypy_cache
