"""Toy benchmark: EBM prior vs Gaussian prior, and the posterior-initialisation strategies.

Every variant trains the same toy model for the same number of steps on the same data (CPU, 2
threads unless told otherwise) and is scored on held-out data. Prints a Markdown table and writes
JSON (default bench/results/toy_prior.json).

    python bench/toy_prior.py [--steps 600] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from shared import TrainConfig, Trainer
from shared.toy import ToyModel, evaluate, make_data, mmd, toy_config

VARIANTS = [  # name, prior, posterior_init, posterior steps, encoder objective
    ("gaussian prior, reference init, K=20", "gaussian", "reference", 20, "elbo"),
    ("EBM prior, reference init, K=20", "ebm", "reference", 20, "elbo"),
    ("EBM prior, reference init, K=5", "ebm", "reference", 5, "elbo"),
    ("EBM prior, persistent chains, K=5", "ebm", "persistent", 5, "elbo"),
    ("EBM prior, amortised encoder (chain-matching), K=5", "ebm", "amortised", 5, "chain"),
    ("EBM prior, amortised encoder (ELBO), K=5", "ebm", "amortised", 5, "elbo"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per variant (mean reported)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "toy_prior.json")
    args = parser.parse_args()
    x, _ = make_data(4000, seed=0)
    x_test, mode_test = make_data(2000, seed=1)
    rows = []
    for name, prior, init, k, objective in VARIANTS:
        runs = []
        for seed in range(args.seeds):
            cfg = toy_config(prior, init)
            cfg = replace(cfg, ebm=replace(cfg.ebm, posterior_chain=replace(cfg.ebm.posterior_chain, steps=k)))
            torch.manual_seed(seed)
            model = ToyModel(cfg)
            start = time.perf_counter()
            Trainer(model, {"x": x}, TrainConfig(steps=args.steps, batch_size=128, lr_prior=1e-3, seed=seed,
                                                 quiet=True, device="cpu", encoder_objective=objective)).fit()
            seconds = time.perf_counter() - start
            torch.manual_seed(1000 + seed)
            runs.append({**evaluate(model, x_test, mode_test), "train_s": seconds})
        row = {"variant": name, **{k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}}
        row["ms_per_step"] = 1000 * row["train_s"] / args.steps
        rows.append(row)
        print(f"{name}: {row}", flush=True)
    base = rows[0]["ms_per_step"]
    lines = ["| variant | MMD (lower better) | near mode | min mode share | ms/step | cost vs Gaussian K=20 |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['mmd']:.4f} | {r['near_mode']:.3f} | {r['min_mode_share']:.3f} | "
                     f"{r['ms_per_step']:.1f} | {r['ms_per_step'] / base:.2f}x |")
    floor = mmd(x_test[:1000], x[:1000])
    print(f"\nToy, {args.steps} steps, mean of {args.seeds} seeds; MMD floor (data vs data) {floor:.4f}\n")
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {"steps": args.steps, "seeds": args.seeds, "mmd_floor": floor, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.platform(), "processor": platform.processor()}
    args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
