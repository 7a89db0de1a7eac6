#!/usr/bin/env bash
# Same numbers before and after a change to the design loop: the design_qed preset for 2 iterations of 500 proposals
# (top 250) and PMO (sgds) on zaleplon_mpo and perindopril_mpo, seed 100, 2,000 oracle calls, into runs/refactor/TAG/.
# Another commit's code runs with TREE=<its checkout> and PYTHONPATH=<its wheel, unpacked>:
#   git worktree add /tmp/old REV && (cd /tmp/old && pip wheel --no-deps -w /tmp/w .) && unzip -d /tmp/site /tmp/w/*.whl
#   TREE=/tmp/old PYTHONPATH=/tmp/site bash bench/refactor_check.sh before;  bash bench/refactor_check.sh after
# then compare runs/refactor/{before,after}/qed/*.csv (byte for byte) and the PMO JSON files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=$1
out=$root/runs/refactor/$tag
tree=${TREE:-$root}
py=$root/.venv/bin/python
rm -rf "$out" && mkdir -p "$out" && cd "$tree"
$py -m lebm molecule design --config apps/molecule/presets/design_qed.toml --out "$out/qed" --quiet --iterations 2 \
    --population 500 --top-k 250 > "$out/qed.log" 2>&1
$py bench/pmo.py --methods sgds --tasks zaleplon_mpo perindopril_mpo --seeds 100 --budget 2000 --out "$out/pmo" \
    > "$out/pmo.log" 2>&1
