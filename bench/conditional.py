"""Conditional sampling as a chemist reads it: `lebm molecule sample --condition NAME=VALUE` for five targets
per property (the 10th, 30th, 50th, 70th and 90th percentiles of MOSES train), n molecules each; the real
(RDKit) property mean of the valid molecules against the target. Issue 15's tolerance: 0.05 QED, 0.5 logP,
25 Da molecular weight.

    python bench/conditional.py --model MODEL_DIR [--properties qed logp mw] [-n 500] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lebm.molecule.data import moses_smiles
from lebm.molecule.metrics import cache_dir
from lebm.molecule.model import MoleculeModel
from lebm.molecule.oracles import Oracle, property_table

TOLERANCE = {"qed": 0.05, "logp": 0.5, "mw": 25.0}
PERCENTILES = (10, 30, 50, 70, 90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--properties", nargs="+", default=["qed", "logp", "mw"])
    parser.add_argument("-n", type=int, default=500, help="molecules per target")
    parser.add_argument("--steps", type=int, help="Langevin steps (default: the model's prior chain)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "conditional.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = MoleculeModel.from_pretrained(args.model).eval()
    train = moses_smiles("train")
    sample = [train[i] for i in np.random.default_rng(0).choice(len(train), 20000, replace=False)]
    data = property_table(sample, args.properties, cache=cache_dir())
    rows = []
    tolerance = "/".join(map(str, TOLERANCE.values()))
    print(f"| property | percentile | target | real mean | real - target | within {tolerance} | valid | head mean |"
          "\n|---|---|---|---|---|---|---|---|")
    for name in args.properties:
        for pct in PERCENTILES:
            target = float(np.nanpercentile(data[name], pct))
            torch.manual_seed(0)
            chain = {"steps": args.steps} if args.steps else {}
            smiles, z = model.sample_smiles_conditional(args.n, {name: target}, **chain)
            real = np.array(Oracle(name)(smiles), dtype=float)
            valid = np.isfinite(real)
            mean = float(real[valid].mean()) if valid.any() else float("nan")
            head = float(model.predict_properties(z)[name].detach().mean())
            row = {"property": name, "percentile": pct, "target": target, "real_mean": mean,
                   "error": mean - target, "within": abs(mean - target) <= TOLERANCE.get(name, float("inf")),
                   "valid": float(valid.mean()), "head_mean": head}
            rows.append(row)
            print(f"| {name} | {pct} | {target:.3f} | {mean:.3f} | {mean - target:+.3f} | {row['within']} | "
                  f"{row['valid']:.3f} | {head:.3f} |", flush=True)
    result = {"command": "python bench/conditional.py " + " ".join(sys.argv[1:]), "model": str(args.model),
              "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}",
              "date": time.strftime("%Y-%m-%d"), "n": args.n, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
