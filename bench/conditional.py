"""Conditional sampling as a chemist reads it: `lebm molecule sample --condition NAME=VALUE`, n molecules per
target, every figure from the real (RDKit) values of the decoded molecules.

Targets: logP 1.5 / 3.5 / 5.0, QED 0.6 / 0.9, MW 300 / 400 Da (within the 5th-95th percentiles of ZINC250k
train). Per target: validity, uniqueness among the valid, real mean against the target, the share of all
molecules within the tolerance (0.5 logP, 0.05 QED, 25 Da), the share of degenerate molecules (one element
other than carbon over half the heavy atoms), the median SA, and the heads' own mean. With --select K (as
`sample --select`), n * K molecules are decoded and the n distinct valid ones closest to the target by their
real values kept; the validity of all decoded molecules is reported beside the kept rows' figures.

    python bench/conditional.py [--model MODEL_DIR] [-n 300] [--oversample 64] [--steps 0] [--temperature 0.7]
        [--select 8] [--targets NAME=VALUE ...] [--json bench/results/conditional.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from lebm.molecule.cli import BUNDLED
from lebm.molecule.data import canonical
from lebm.molecule.latent import sample_on_target
from lebm.molecule.model import MoleculeModel
from lebm.molecule.oracles import TOLERANCE, Oracle

TARGETS = [("logp", 1.5), ("logp", 3.5), ("logp", 5.0), ("qed", 0.6), ("qed", 0.9), ("mw", 300.0), ("mw", 400.0)]


def degenerate(smiles: str) -> bool:
    """One element other than carbon makes up more than half of the heavy atoms (e.g. SSSS chains)."""
    mol = Chem.MolFromSmiles(smiles)
    counts = Counter(a.GetSymbol() for a in mol.GetAtoms())
    return any(n > mol.GetNumHeavyAtoms() / 2 for element, n in counts.items() if element != "C")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("-n", type=int, default=300, help="molecules per target")
    parser.add_argument("--oversample", type=int, default=1, help="prior samples per chain start (sample --oversample)")
    parser.add_argument("--steps", type=int, help="Langevin steps (default: the model's prior chain)")
    parser.add_argument("--temperature", type=float, default=1.0, help="decoding temperature")
    parser.add_argument(
        "--targets",
        nargs="+",
        help="NAME=VALUE targets instead of the seven above (e.g. settings "
        "chosen on other targets than the benchmark's)",
    )
    parser.add_argument("--select", type=int, default=1, help="decode K x n, keep the n closest by real values")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "conditional.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = MoleculeModel.from_pretrained(args.model).eval()
    rows = []
    print(
        "| target | decoded valid | valid | unique | real mean | within tol. | degenerate | median SA | head mean |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    targets = [(t.split("=")[0], float(t.split("=")[1])) for t in args.targets] if args.targets else TARGETS
    for name, target in targets:
        torch.manual_seed(0)
        chain = {"steps": args.steps} if args.steps is not None else {}
        frame, proposals = sample_on_target(
            model,
            args.n,
            {name: target},
            args.select,
            temperature=args.temperature,
            oversample=args.oversample,
            **chain,
        )
        valid = [c for c in map(canonical, frame.smiles) if c]
        real = np.array(Oracle(name)(valid), dtype=float)
        sa = np.array(Oracle("sa")(valid), dtype=float)
        row = {
            "property": name,
            "target": target,
            "decoded_valid": proposals["valid"],
            "valid": len(valid) / args.n,
            "unique": len(set(valid)) / max(len(valid), 1),
            "real_mean": float(np.nanmean(real)),
            "within": float((np.abs(real - target) <= TOLERANCE.get(name, 0.1 * max(abs(target), 1.0))).sum() / args.n),
            "degenerate": float(np.mean([degenerate(s) for s in valid])) if valid else float("nan"),
            "median_sa": float(np.nanmedian(sa)),
            "head_mean": float(frame[f"predicted_{name}"].mean()),
        }
        rows.append(row)
        print(
            f"| {name} = {target:g} | {row['decoded_valid']:.3f} | {row['valid']:.3f} | {row['unique']:.3f} | "
            f"{row['real_mean']:.3f} | "
            f"{row['within']:.1%} | {row['degenerate']:.1%} | {row['median_sa']:.2f} | {row['head_mean']:.3f} |",
            flush=True,
        )
    result = {
        "command": "python bench/conditional.py " + " ".join(sys.argv[1:]),
        "model": str(args.model),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "n": args.n,
        "oversample": args.oversample,
        "steps": args.steps,
        "select": args.select,
        "temperature": args.temperature,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
