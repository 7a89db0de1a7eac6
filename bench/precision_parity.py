"""bf16 autocast against fp32 on the molecule learning step: the same model initialisation, seed and ZINC250k
batches (20,000 training molecules, batch 128, one thread), the mean training NLL of every 50 steps, for three
arms: fp32; precision = "bf16" (autocast entered afresh for every step, as the learner does); and one autocast
context held around the whole loop with the learner itself in fp32, the way that stalls (autocast caches its bf16
copies of the weights until the context exits, so every step computes with the first step's weights).

    python bench/precision_parity.py [--preset charrnn] [--hidden 512] [--steps 300] [--arms fp32 bf16 one-context]
        [--json bench/results/precision_parity.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from lebm.core.config import deep_merge, from_dict, resolve, to_dict
from lebm.core.learning import Learner
from lebm.core.options import TrainConfig
from lebm.molecule.cli import preset
from lebm.molecule.data import zinc250k_smiles
from lebm.molecule.model import MoleculeConfig, MoleculeModel
from lebm.molecule.tokens import Vocabulary


def curve(arm: str, table: dict, hidden: int, steps: int, x: torch.Tensor, vocab: Vocabulary) -> tuple[list, float]:
    """Mean NLL of every 50 steps, and the seconds the arm took."""
    model_table = deep_merge(table["model"], {"decoder": {"hidden": hidden}, "ebm": {"bag": {"size": 0}}})
    cfg = from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), model_table), where="model.")
    train = resolve(TrainConfig, None, table.get("train", {}) | {"precision": "bf16" if arm == "bf16" else "fp32"})
    torch.manual_seed(0)
    learner = Learner(MoleculeModel(cfg, vocab), train, len(x))
    batches = torch.Generator().manual_seed(0)
    context = torch.autocast("cpu", dtype=torch.bfloat16) if arm == "one-context" else nullcontext()
    losses, points, start = [], [], time.perf_counter()
    with context:
        for step in range(steps):
            rows = torch.randint(len(x), (128,), generator=batches)
            losses.append(learner.step({"x": x[rows], "index": rows}, step)["nll_x"])
            if (step + 1) % 50 == 0:
                points.append(sum(losses[-50:]) / 50)
    return points, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="charrnn")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--arms", nargs="+", default=["fp32", "bf16", "one-context"])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "precision_parity.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    smiles = zinc250k_smiles("train")[:20000]
    vocab = Vocabulary.build(smiles, "smiles")
    x = vocab.encode(smiles, 100)
    rows = {arm: curve(arm, preset(args.preset), args.hidden, args.steps, x, vocab) for arm in args.arms}
    print(
        f"| arm ({args.preset}, GRU {args.hidden}) | "
        + " | ".join(f"NLL steps {50 * i + 1}-{50 * i + 50}" for i in range(args.steps // 50))
        + " | seconds |"
    )
    print("|---|" + "---|" * (args.steps // 50 + 1))
    for arm, (points, seconds) in rows.items():
        print(f"| {arm} | " + " | ".join(f"{p:.3f}" for p in points) + f" | {seconds:.0f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "command": "python bench/precision_parity.py " + " ".join(sys.argv[1:]),
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "rows": {a: {"nll_per_50": p, "seconds": s} for a, (p, s) in rows.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
