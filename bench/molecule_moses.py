"""Molecule benchmark: MOSES metrics of the bundled LEBM and a CharRNN baseline, speed ratios.

    lebm molecule train --data moses --out runs/moses --max-minutes 120 --steps 100000000   # a MOSES model
    python bench/molecule_moses.py --lebm runs/moses/model --charrnn runs/charrnn/model [-n 10000]

1. Generation throughput (molecules/s, CPU): LEBM (prior chain + decoding) vs CharRNN (decoding).
2. n molecules from each model; the MOSES metrics against the MOSES test set (statistics cached
   under $LEBM_CACHE), beside the published MOSES baselines (Polykovskiy et al. 2020).
3. Training cost per molecule of each preset as a ratio to a CharRNN step with the same decoder
   (timed steps on a MOSES subset, same batch size, same threads).
Prints Markdown tables and writes JSON (default bench/results/molecule_moses.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from timing import alternating_step_seconds

from lebm.core import TrainConfig
from lebm.core.config import deep_merge, from_dict, to_dict
from lebm.core.learning import Learner
from lebm.molecule.cli import preset
from lebm.molecule.data import moses_smiles
from lebm.molecule.metrics import moses_metrics, moses_reference
from lebm.molecule.model import MoleculeConfig, MoleculeModel
from lebm.molecule.tokens import Vocabulary

PUBLISHED = {  # MOSES paper, mean of 3 runs
    "CharRNN": {
        "Valid": 0.975,
        "Unique@10k": 0.999,
        "FCD/Test": 0.073,
        "SNN/Test": 0.601,
        "Frag/Test": 1.000,
        "Scaf/Test": 0.924,
        "IntDiv": 0.856,
        "Filters": 0.994,
        "Novelty": 0.842,
    },
    "VAE": {
        "Valid": 0.977,
        "Unique@10k": 0.998,
        "FCD/Test": 0.099,
        "SNN/Test": 0.626,
        "Frag/Test": 0.999,
        "Scaf/Test": 0.939,
        "IntDiv": 0.856,
        "Filters": 0.997,
        "Novelty": 0.695,
    },
    "AAE": {
        "Valid": 0.937,
        "Unique@10k": 0.997,
        "FCD/Test": 0.556,
        "SNN/Test": 0.608,
        "Frag/Test": 0.991,
        "Scaf/Test": 0.902,
        "IntDiv": 0.856,
        "Filters": 0.996,
        "Novelty": 0.793,
    },
    "JTN-VAE": {
        "Valid": 1.000,
        "Unique@10k": 1.000,
        "FCD/Test": 0.395,
        "SNN/Test": 0.548,
        "Frag/Test": 0.997,
        "Scaf/Test": 0.896,
        "IntDiv": 0.855,
        "Filters": 0.976,
        "Novelty": 0.914,
    },
    "LatentGAN": {
        "Valid": 0.897,
        "Unique@10k": 0.997,
        "FCD/Test": 0.297,
        "SNN/Test": 0.537,
        "Frag/Test": 0.999,
        "Scaf/Test": 0.887,
        "IntDiv": 0.857,
        "Filters": 0.974,
        "Novelty": 0.950,
    },
}
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
    "IntDiv2",
    "Filters",
]


def throughput(model: MoleculeModel, n: int, **chain) -> float:
    torch.manual_seed(123)
    model.generate_smiles(50, **chain)  # warm-up
    start = time.perf_counter()
    model.generate_smiles(n, **chain)
    return n / (time.perf_counter() - start)


def step_costs(specs: dict[str, tuple[str, str | None]], batch: int, rounds: int) -> dict[str, float]:
    """Median seconds of a learning step for each spec name -> (preset, preset whose decoder to use as a
    CharRNN, or None); the learners take turns, so load on the machine hits all of them alike."""
    from lebm.molecule.latent import fingerprint_bags

    smiles = moses_smiles("train")[: batch * (rounds + 1)]
    learners = {}
    for name, (preset_name, decoder_from) in specs.items():
        table = preset(preset_name)["model"]
        if decoder_from:
            table = deep_merge(table, {"decoder": preset(decoder_from)["model"]["decoder"] | {"use_latent": False}})
        cfg = from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), table))
        vocab = Vocabulary.build(smiles)
        torch.manual_seed(0)
        train = from_dict(TrainConfig, preset(preset_name).get("train", {}) | {"batch_size": batch})
        data = {"x": vocab.encode(smiles, cfg.max_len)}
        if cfg.ebm.bag.size:
            data["bag"] = fingerprint_bags(smiles, cfg.ebm.bag.size)
        learners[name] = (Learner(MoleculeModel(cfg, vocab), train, len(smiles)), data)
    return alternating_step_seconds(learners, batch, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lebm", type=Path, required=True, help="a model trained on MOSES (--data moses)")
    parser.add_argument(
        "--charrnn",
        type=Path,
        default=Path("runs/charrnn/model"),
        help="CharRNN model directory; trained first when --charrnn-minutes is given",
    )
    parser.add_argument(
        "--charrnn-minutes",
        type=float,
        help="train the CharRNN baseline here first, for this wall-clock budget (use the "
        "LEBM's training time: train_log.jsonl / the bundled README)",
    )
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument(
        "--lebm-prior-steps",
        type=int,
        nargs="*",
        default=[],
        help="extra LEBM rows generated with these prior-chain lengths",
    )
    parser.add_argument("--speed-n", type=int, default=2000, help="molecules for the throughput timing")
    parser.add_argument("--cost-batch", type=int, default=128, help="batch size of the timed training steps")
    parser.add_argument("--cost-steps", type=int, default=10, help="timed steps per preset (median)")
    parser.add_argument("--skip-paper-cost", action="store_true", help="skip timing the (slow) paper preset")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "molecule_moses.json")
    args = parser.parse_args()
    if args.charrnn_minutes:
        from lebm.core.cli import main as lebm

        run_dir = args.charrnn.parent
        assert (
            lebm(
                [
                    "molecule",
                    "train",
                    "--preset",
                    "charrnn",
                    "--data",
                    "moses",
                    "--out",
                    str(run_dir),
                    "--steps",
                    "100000000",
                    "--max-minutes",
                    str(args.charrnn_minutes),
                    "--checkpoint-every",
                    "2000",
                    "--quiet",
                    "--resume",
                ]
            )
            == 0
        )
    models = {
        "LEBM (bundled)": MoleculeModel.from_pretrained(args.lebm).eval(),
        "CharRNN (ours)": MoleculeModel.from_pretrained(args.charrnn).eval(),
    }
    result: dict = {
        "meta": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
            "n": args.n,
        }
    }

    chains = {name: {} for name in models}
    for steps in args.lebm_prior_steps:
        name = f"LEBM (bundled, {steps}-step prior chain)"
        models[name], chains[name] = models["LEBM (bundled)"], {"steps": steps}
    speed = {name: throughput(m, args.speed_n, **chains[name]) for name, m in models.items()}
    result["throughput_mol_per_s"] = speed
    ratio = speed["LEBM (bundled)"] / speed["CharRNN (ours)"]
    print(
        f"generation: LEBM {speed['LEBM (bundled)']:.0f} mol/s, CharRNN {speed['CharRNN (ours)']:.0f} mol/s, "
        f"ratio {ratio:.2f} (target >= 0.5)",
        flush=True,
    )

    reference, scaffolds, train = moses_reference("test"), moses_reference("test_scaffolds"), set(moses_smiles("train"))
    metrics = {}
    for name, model in models.items():
        torch.manual_seed(0)
        smiles = model.generate_smiles(args.n, **chains[name])
        metrics[name] = moses_metrics(
            smiles, reference, train, ks=(1000, 10000), quiet=True, scaffold_reference=scaffolds
        )
        print(name, metrics[name], flush=True)
    result["metrics"] = metrics

    specs = {"fast": ("fast", None), "charrnn (fast decoder)": ("charrnn", None)}
    if not args.skip_paper_cost:
        specs |= {"paper": ("paper", None), "charrnn (paper decoder)": ("charrnn", "paper")}
    cost = step_costs(specs, args.cost_batch, args.cost_steps)
    result["step_seconds"] = cost
    print(cost, flush=True)

    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in {**metrics, **{f"{k} (published)": v for k, v in PUBLISHED.items()}}.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "-" for c in COLUMNS) + " |")
    lines += [
        "",
        "| speed | value |",
        "|---|---|",
        f"| generation LEBM / CharRNN (mol/s) | {speed['LEBM (bundled)']:.0f} / {speed['CharRNN (ours)']:.0f}"
        f" = {ratio:.2f} |",
        f"| training cost fast preset / CharRNN (same decoder) | "
        f"{cost['fast'] / cost['charrnn (fast decoder)']:.2f}x |",
    ]
    if "paper" in cost:
        lines.append(
            f"| training cost paper preset / CharRNN (same decoder) | "
            f"{cost['paper'] / cost['charrnn (paper decoder)']:.2f}x |"
        )
    print("\n" + "\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
