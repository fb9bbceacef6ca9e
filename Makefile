# Two entry points: `make run` (install, build the index from corpus/, serve the app)
# and `make test` (install with test extras, lint, type-check, run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test install install-dev build serve lint browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	# torch pinned first: 2.13.0 is the CPU build on this machine's disk.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	bash scripts/install-browser.sh

build: install
	$(BIN)/assistant build --corpus corpus --index index

serve:
	$(BIN)/streamlit run app.py --server.headless true --server.port $(PORT)

run: build serve

lint:
	$(BIN)/ruff check assistant tests benchmarks app.py
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/pytest -q

clean:
	rm -rf index artifacts .pytest_cache .mypy_cache .ruff_cache
