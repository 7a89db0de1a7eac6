"""Toy benchmark: EBM prior vs Gaussian prior, the posterior-initialisation strategies, and the ways
of learning the prior.

Every variant trains the same toy model for the same number of steps on the same data (CPU, 2
threads unless told otherwise) and is scored on held-out data. Prints a Markdown table and writes
JSON (default bench/results/toy_prior.json).

    python bench/toy_prior.py [--steps 600] [--group init|prior] [--json PATH]

group "init": posterior starts (reference / persistent / amortised) with the contrastive prior;
group "prior": the joint VAE step (encoder, 0 chain steps) with the prior learned by the contrastive
loss (with and without the f^2 guard, chains from noise or persistent), by NCE in 1 or 4 stages, or
not at all (Gaussian).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from lebm.core import TrainConfig, Trainer
from lebm.core.toy import ToyModel, evaluate, make_data, mmd, toy_config

VARIANTS = {  # group: [(name, prior, posterior_init, posterior steps, training options, prior stages)]
    "init": [
        ("gaussian prior, reference init, K=20", "gaussian", "reference", 20, {}, 1),
        ("EBM prior, reference init, K=20", "ebm", "reference", 20, {}, 1),
        ("EBM prior, reference init, K=5", "ebm", "reference", 5, {}, 1),
        ("EBM prior, persistent chains, K=5", "ebm", "persistent", 5, {}, 1),
        (
            "EBM prior, amortised encoder (chain-matching), K=5",
            "ebm",
            "amortised",
            5,
            {"encoder_objective": "chain"},
            1,
        ),
        ("EBM prior, amortised encoder (ELBO), K=5", "ebm", "amortised", 5, {}, 1),
    ],
    "prior": [
        ("joint step, gaussian prior", "gaussian", "amortised", 0, {}, 1),
        ("joint step, contrastive prior", "ebm", "amortised", 0, {}, 1),
        ("joint step, contrastive prior, f^2 guard 0.1", "ebm", "amortised", 0, {"prior_energy_reg": 0.1}, 1),
        (
            "joint step, contrastive prior, persistent prior chains",
            "ebm",
            "amortised",
            0,
            {"prior_init": "persistent"},
            1,
        ),
        ("joint step, NCE prior", "ebm", "amortised", 0, {"prior_objective": "nce"}, 1),
        ("joint step, NCE prior, 4 stages", "ebm", "amortised", 0, {"prior_objective": "nce"}, 4),
        ("joint step, NCE prior, 8 stages", "ebm", "amortised", 0, {"prior_objective": "nce"}, 8),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per variant (mean reported)")
    parser.add_argument("--group", choices=list(VARIANTS), default="init")
    parser.add_argument("--match", default="", help="only the variants whose name contains this text")
    parser.add_argument(
        "--json", type=Path, help="default bench/results/toy_prior.json (toy_prior_<group>.json for other groups)"
    )
    args = parser.parse_args()
    args.json = args.json or Path(__file__).parent / "results" / (
        "toy_prior.json" if args.group == "init" else f"toy_prior_{args.group}.json"
    )
    x, _ = make_data(4000, seed=0)
    x_test, mode_test = make_data(2000, seed=1)
    rows = []
    for name, prior, init, k, options, stages in [v for v in VARIANTS[args.group] if args.match in v[0]]:
        runs = []
        for seed in range(args.seeds):
            cfg = toy_config(prior, init)
            cfg = replace(
                cfg,
                ebm=replace(
                    cfg.ebm,
                    posterior_chain=replace(cfg.ebm.posterior_chain, steps=k),
                    prior=replace(cfg.ebm.prior, stages=stages),
                ),
            )
            torch.manual_seed(seed)
            model = ToyModel(cfg)
            start = time.perf_counter()
            trainer = Trainer(
                model,
                {"x": x},
                TrainConfig(
                    steps=args.steps, batch_size=128, lr_prior=1e-3, seed=seed, quiet=True, device="cpu", **options
                ),
            )
            trainer.fit()
            seconds = time.perf_counter() - start
            torch.manual_seed(1000 + seed)
            runs.append(
                {
                    **evaluate(model, x_test, mode_test),
                    "train_s": seconds,
                    **{k: model.diagnostics[k] for k in ("f_spread", "mmd_prior", "mmd_ref")},
                }
            )
        row = {"variant": name, **{k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}}
        row["ms_per_step"] = 1000 * row["train_s"] / args.steps
        rows.append(row)
        print(f"{name}: {row}", flush=True)
    base = rows[0]["ms_per_step"]
    lines = [
        f"| variant | MMD (lower better) | near mode | min mode share | latent: f spread | latent: MMD prior / "
        f"reference to posterior | ms/step | cost vs {rows[0]['variant']} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['mmd']:.4f} | {r['near_mode']:.3f} | {r['min_mode_share']:.3f} | "
            f"{r['f_spread']:.2f} | {r['mmd_prior']:.4f} / {r['mmd_ref']:.4f} | "
            f"{r['ms_per_step']:.1f} | {r['ms_per_step'] / base:.2f}x |"
        )
    floor = mmd(x_test[:1000], x[:1000])
    print(f"\nToy, {args.steps} steps, mean of {args.seeds} seeds; MMD floor (data vs data) {floor:.4f}\n")
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "steps": args.steps,
        "seeds": args.seeds,
        "mmd_floor": floor,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "processor": platform.processor(),
    }
    args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
