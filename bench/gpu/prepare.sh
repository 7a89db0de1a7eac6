#!/usr/bin/env bash
# Fill .whl/ (wheels for the GPU machine's Python 3.12) and .data/ (ZINC250k split and property caches).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
$PY -c "from lebm.molecule.data import zinc250k_table; zinc250k_table()"  # the split, derived once here
cache=$($PY -c "from lebm.molecule.metrics import cache_dir; print(cache_dir())")
mkdir -p .whl .data/cache
for pkg in rdkit==2025.9.3 selfies==2.2.0; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "$pkg"
done
cp "$cache"/zinc250k-split-v1.csv.gz .data/cache/
cp "$cache"/props-*.npy .data/cache/ 2>/dev/null || true
du -sh .whl .data
