#!/usr/bin/env bash
# On the GPU machine: install the carried wheels and this project, train CharRNN then the warm-started latent
# recipe on ZINC250k, copy the models into $OUT. MINUTES bounds the whole training (a third CharRNN); HIDDEN is
# the GRU decoder's width (512: at equal CPU time it matched the 256-unit decoder with a third of the steps).
set -euo pipefail
MINUTES=${MINUTES:-8}
HIDDEN=${HIDDEN:-512}
if [ -z "${SKIP_INSTALL:-}" ]; then  # SKIP_INSTALL=1: a rehearsal where the project is installed already
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site .
  export PYTHONPATH=/tmp/site LEBM_CACHE=$PWD/.data/cache
  mkdir -p .data/cache
  python3 -c "import gzip, lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), gzip.open(sys.argv[2], 'wb', 1))" \
    .data/zinc250k-split-v1.csv.xz .data/cache/zinc250k-split-v1.csv.gz
fi
export PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-out}
mkdir -p "$OUT" runs/gpu
if [ -n "${INIT_FROM:-}" ]; then
  python3 -m lebm molecule train --preset latent --config "$INIT_FROM/train_config.toml" --init-from "$INIT_FROM" \
    --out runs/gpu/latent --steps 100000000 --batch-size 1024 --max-minutes "$MINUTES" --eval-every 2000 \
    --checkpoint-every 2000 --quiet --kl-warmup-steps 0 --precision auto --properties qed sa logp mw tpsa plogp \
    --jobs 16 2>&1 | tail -3
  tar -czf "$OUT/latent.tar.gz" -C runs/gpu/latent model train_log.jsonl config.toml
  ls -la "$OUT"
  exit 0
fi
lm=$(python3 -c "print(round($MINUTES / 3, 2))")
latent=$(python3 -c "print(round(2 * $MINUTES / 3, 2))")
printf '[model.decoder]\nhidden = %s\n' "$HIDDEN" > runs/gpu/charrnn.toml
python3 -m lebm molecule train --preset charrnn --config runs/gpu/charrnn.toml --out runs/gpu/charrnn --steps 100000000 --batch-size 1024 \
  --max-minutes "$lm" --probe-recon 0 --eval-every 2000 --checkpoint-every 2000 --quiet 2>&1 | tail -3
sed -e "s#^warm_start = .*#warm_start = \"$PWD/runs/gpu/charrnn/model\"#" -e "s#^hidden = 256\$#hidden = $HIDDEN#" \
  models/zinc-lebm/train_config.toml > runs/gpu/latent.toml
python3 -m lebm molecule train --preset latent --config runs/gpu/latent.toml --out runs/gpu/latent --steps 100000000 \
  --batch-size 1024 --max-minutes "$latent" --eval-every 2000 --checkpoint-every 2000 --quiet \
  --properties qed sa logp mw tpsa plogp --jobs 16 2>&1 | tail -3
for run in charrnn latent; do
  tar -czf "$OUT/$run.tar.gz" -C runs/gpu/$run model train_log.jsonl config.toml
done
ls -la "$OUT"
