#!/usr/bin/env bash
# Fill .whl/ (wheels for the GPU machine's Python 3.12) and .data/ (ZINC250k split and property caches).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
$PY -c "from lebm.molecule.data import zinc250k_table; zinc250k_table()"  # the split, derived once here
cache=$($PY -c "from lebm.molecule.metrics import cache_dir; print(cache_dir())")
rm -rf .data && mkdir -p .whl .data
for pkg in rdkit==2026.9.1 selfies==2.2.0; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "$pkg"
done
# the split, recompressed with xz (2 MB): the device tool carries at most 64 MiB with the working tree, and the
# RDKit wheel (32 MB) and the tracked files (33 MB) leave little room; property tables are recomputed there
$PY -c "import gzip, lzma, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), lzma.open(sys.argv[2], 'wb', preset=9))" \
  "$cache"/zinc250k-split-v1.csv.gz .data/zinc250k-split-v1.csv.xz
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
carried=$(du -cb .whl .data | tail -1 | cut -f1)
echo "tracked $((tracked / 1000000)) MB + carried $((carried / 1000000)) MB (the limit: 67 MB)"
