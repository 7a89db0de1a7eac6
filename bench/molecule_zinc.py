"""ZINC250k benchmark: models against a CharRNN with the same decoder on the ZINC250k split.

    python bench/molecule_zinc.py --charrnn runs/zinc/charrnn/snapshot-120min \
        --models bundled=models/zinc-lebm [-n 10000] [--recon 1000] [--json bench/results/molecule_zinc.json]
    python bench/molecule_zinc.py --split valid --charrnn DIR --models chain0=models/zinc-lebm@0 ...

NAME=MODEL_DIR@K samples with a K-step prior chain instead of the model's own. `--split valid` scores against
the ZINC250k validation split (its statistics computed on the fly, a few minutes), to choose settings without
reading the test split; reconstruction and heads then use validation molecules too.

Per model (NAME=MODEL_DIR; the CharRNN is one more row):
1. n samples (seed 0, temperature 1, no repair): the MOSES metric table against the ZINC250k test split
   (Valid, Unique@1k/10k, Novelty against ZINC250k train, FCD/SNN/Frag/Scaf/Test, IntDiv, Filters, and the
   logP / SA / QED / weight Wasserstein distances), and each distance-like figure as a ratio to the CharRNN's.
2. Latent models: greedy reconstruction of `recon` test molecules (a seeded draw) from the posterior mean
   (mean Tanimoto, exact share), active units (posterior-mean variance > 0.01 over those molecules), and
   each property head's R^2 on them.
3. Generation throughput (molecules/s of `generate_smiles`, models taking turns for `--rounds` rounds) and
   the training cost per example (median seconds of a learning step, same batch, learners taking turns),
   both as ratios to the CharRNN.
Prints Markdown tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from timing import alternating_step_seconds

from lebm.core import TrainConfig
from lebm.core.config import from_dict, to_dict
from lebm.core.learning import Learner
from lebm.molecule.data import zinc250k_smiles
from lebm.molecule.latent import fingerprint_bags, posterior_means, reconstruction_figures
from lebm.molecule.metrics import ReferenceStats, dataset_reference, moses_metrics
from lebm.molecule.model import MoleculeModel
from lebm.molecule.oracles import property_table
from lebm.molecule.tokens import to_representation

COLUMNS = [
    "Valid",
    "Unique@1k",
    "Unique@10k",
    "Novelty",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "IntDiv",
    "Filters",
    "logP",
    "SA",
    "QED",
    "weight",
]
RATIOS = ["FCD/Test", "logP", "SA", "QED", "weight"]  # lower is better: reported as model / CharRNN
HEADS = ["qed", "sa", "logp", "mw", "tpsa", "plogp"]


def fits(model: MoleculeModel, smiles: list[str]) -> list[str]:
    """The molecules the model's vocabulary can write."""
    return [s for s in smiles if not model.vocab.unknown(to_representation(s, model.config.representation))]


def latent_figures(model: MoleculeModel, test: list[str]) -> dict[str, float]:
    usable = fits(model, test)
    out = {"recon_molecules": len(usable)} | reconstruction_figures(model, usable)
    z = posterior_means(model, usable)
    out["au"] = int((z.var(0) > 0.01).sum())
    if model.config.properties:
        values = property_table(usable, model.config.properties)
        predicted = model.predict_properties(z)
        for name in model.config.properties:
            y, p = values[name], predicted[name].detach().cpu().numpy()
            keep = np.isfinite(y)
            out[f"r2_{name}"] = float(1 - ((y[keep] - p[keep]) ** 2).sum() / ((y[keep] - y[keep].mean()) ** 2).sum())
    return out


def throughput(models: dict[str, MoleculeModel], chains: dict[str, dict], n: int, rounds: int) -> dict[str, float]:
    """Molecules per second of each model with its prior chain (median over rounds, models taking turns)."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for name, model in models.items():
        model.generate_smiles(50, **chains[name])  # warm-up
    for _ in range(rounds):
        for name, model in models.items():
            torch.manual_seed(0)
            start = time.perf_counter()
            model.generate_smiles(n, **chains[name])
            times[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def step_costs(dirs: dict[str, Path], batch: int, rounds: int) -> dict[str, float]:
    """Median seconds of a learning step of each model's training recipe (its train_config.toml / config.toml
    beside it, else the defaults), fresh weights, the same ZINC batches."""
    from lebm.core.config import load_toml

    smiles = zinc250k_smiles("train")[: batch * (rounds + 1)]
    learners = {}
    for name, directory in dirs.items():
        model = MoleculeModel.from_pretrained(directory)
        fresh = MoleculeModel(model.read_config(directory), model.vocab)
        table = next(
            (
                load_toml(p).get("train", {})
                for p in (directory / "train_config.toml", directory.parent / "config.toml")
                if p.is_file()
            ),
            {},
        )
        keep = {k: v for k, v in table.items() if k in to_dict(TrainConfig())}
        train = from_dict(TrainConfig, keep | {"batch_size": batch, "warm_start": ""})
        texts = [to_representation(s, fresh.config.representation) for s in smiles]
        usable = [i for i, t in enumerate(texts) if not fresh.vocab.unknown(t)]
        data = {"x": fresh.vocab.encode([texts[i] for i in usable], fresh.config.max_len)}
        if fresh.config.ebm.bag.size:
            data["bag"] = fingerprint_bags([smiles[i] for i in usable], fresh.config.ebm.bag.size)
        for head in fresh.config.properties:
            data[head] = torch.zeros(len(usable))
        learners[name] = (Learner(fresh, train, len(usable)), data)
    return alternating_step_seconds(learners, batch, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charrnn", type=Path, required=True, help="CharRNN model directory (the baseline)")
    parser.add_argument("--models", nargs="+", default=[], help="NAME=MODEL_DIR")
    parser.add_argument("--split", choices=["test", "valid"], default="test", help="the ZINC250k split scored against")
    parser.add_argument("-n", type=int, default=10000, help="samples per model")
    parser.add_argument("--recon", type=int, default=1000, help="test molecules reconstructed")
    parser.add_argument("--speed-n", type=int, default=1000, help="molecules per throughput timing")
    parser.add_argument("--rounds", type=int, default=3, help="throughput and step-cost rounds")
    parser.add_argument(
        "--charrnn-json",
        type=Path,
        help="take the CharRNN's row from this earlier result JSON (the same --charrnn, -n and "
        "--split) instead of sampling it again",
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput and training-cost timings")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "molecule_zinc.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = {"CharRNN": str(args.charrnn)} | dict(m.split("=", 1) for m in args.models)
    dirs = {name: Path(spec.partition("@")[0]) for name, spec in specs.items()}
    chains = {name: {"steps": int(spec.partition("@")[2])} if "@" in spec else {} for name, spec in specs.items()}
    models = {name: MoleculeModel.from_pretrained(d).eval() for name, d in dirs.items()}
    test = zinc250k_smiles(args.split)
    reference = (
        dataset_reference("zinc250k", "test", quiet=True)
        if args.split == "test"
        else ReferenceStats.compute(test, quiet=True)
    )
    train = set(zinc250k_smiles("train"))
    test = [test[i] for i in np.random.default_rng(0).choice(len(test), args.recon, replace=False)]
    result: dict = {
        "meta": {
            "date": str(date.today()),
            "machine": platform.platform(),
            "torch": torch.__version__,
            "threads": 1,
            "n": args.n,
            "split": args.split,
            "models": specs,
        },
        "rows": {},
    }
    for name, model in models.items():
        if name == "CharRNN" and args.charrnn_json:  # its row from an earlier run of this script (same n, split)
            result["rows"][name] = {
                k: v
                for k, v in json.loads(args.charrnn_json.read_text())["rows"]["CharRNN"].items()
                if not k.endswith(" ratio")
            }
            continue
        torch.manual_seed(0)
        started = time.perf_counter()
        smiles = model.generate_smiles(args.n, **chains[name])
        row = moses_metrics(smiles, reference, train, ks=(1000, 10000), quiet=True)
        row["sample_seconds"] = time.perf_counter() - started
        if model.latent:
            row |= latent_figures(model, test)
        result["rows"][name] = row
        print(name, json.dumps(row), flush=True)
    base = result["rows"]["CharRNN"]
    for row in result["rows"].values():
        row |= {f"{c} ratio": row[c] / base[c] for c in RATIOS if c in row and base.get(c)}
    if not args.no_speed:
        speed = throughput(models, chains, args.speed_n, args.rounds)
        cost = step_costs(dirs, 128, 5 * args.rounds)
        for name in models:
            result["rows"][name] |= {
                "mol_per_s": speed[name],
                "speed ratio": speed[name] / speed["CharRNN"],
                "step_seconds": cost[name],
                "cost ratio": cost[name] / cost["CharRNN"],
            }
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "-" for c in COLUMNS) + " |")
    extra = [
        "recon_tanimoto",
        "recon_exact",
        "au",
        *[f"r2_{h}" for h in HEADS],
        *[f"{c} ratio" for c in RATIOS],
        "speed ratio",
        "cost ratio",
    ]
    lines += ["", "| model | " + " | ".join(extra) + " |", "|---" * (len(extra) + 1) + "|"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "-" for c in extra) + " |")
    print("\n" + "\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
