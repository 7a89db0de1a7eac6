# make setup: .venv with torch==2.13.0 (CPU build, installed first), then the project + test extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	# MOSES data and the official metric code; molsets pins an unbuildable pomegranate, hence --no-deps
	$(PY) -m pip install -q --no-deps molsets==0.3.1 fcd_torch==1.0.7
	touch $(STAMP)

demo: setup
	$(VENV)/bin/lebm toy demo

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m ""

bench: setup
	$(PY) bench/toy_prior.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
