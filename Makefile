# Two entry points: `make run` (install, build the index from corpus/, serve the app)
# and `make test` (install with test extras, lint, type-check, run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test install install-dev build serve lint browser-deps clean clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamp files: pip runs again only when pyproject.toml changed (the package itself is installed
# editable, so code changes need no reinstall). `make clean-venv` forces a fresh environment.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	# torch pinned first: 2.13.0 is the CPU build on this machine's disk.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev
	bash scripts/install-browser.sh

build: install
	$(BIN)/assistant build --corpus corpus --index index

# Run from the repository root: streamlit reads .streamlit/config.toml (no usage statistics,
# no Deploy button or developer menu) from the working directory. serve.py serves app.py and opens
# the index as the server starts, before the first visitor (`streamlit run app.py` works too).
serve: install
	$(BIN)/streamlit run serve.py --server.port $(PORT)

run: build serve

lint:
	$(BIN)/ruff check assistant tests benchmarks app.py serve.py
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/pytest -q

clean:
	rm -rf index .pytest_cache .mypy_cache .ruff_cache
	find artifacts -type f ! -name '*.png' -delete 2>/dev/null || true  # the screenshots are committed

clean-venv:
	rm -rf $(VENV)
