"""Generation throughput of latent models against the CharRNN: molecules per second of `generate_smiles`
(prior chain, decoding, SMILES strings), the models taking turns for several rounds so that load on the
machine hits them alike; reported per model, with the median per-round ratio to the CharRNN.

    python bench/throughput.py --charrnn runs/mol-charrnn/model --models bundled=models/zinc-lebm ... [-n 2000]
        [--rounds 5] [--json bench/results/throughput.json]

NAME=MODEL_DIR@K samples with a K-step prior chain instead of the model's own.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from lebm.molecule.model import MoleculeModel


def seconds(model: MoleculeModel, n: int, chain: dict) -> float:
    torch.manual_seed(0)
    start = time.perf_counter()
    model.generate_smiles(n, **chain)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charrnn", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True, help="NAME=MODEL_DIR")
    parser.add_argument("-n", type=int, default=2000, help="molecules per timing")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {"charrnn": (MoleculeModel.from_pretrained(args.charrnn).eval(), {})}
    for item in args.models:
        name, _, spec = item.partition("=")
        directory, _, steps = spec.partition("@")
        models[name] = (MoleculeModel.from_pretrained(directory).eval(), {"steps": int(steps)} if steps else {})
    for model, chain in models.values():
        model.generate_smiles(100, **chain)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, chain) in models.items():
            times[name].append(seconds(model, args.n, chain))
    rows = {}
    print("| model | mol/s (median) | ratio to CharRNN (median of rounds) |\n|---|---|---|")
    for name in models:
        ratios = [c / t for c, t in zip(times["charrnn"], times[name])]
        rows[name] = {"mol_per_s": args.n / statistics.median(times[name]), "ratio": statistics.median(ratios),
                      "seconds": times[name]}
        print(f"| {name} | {rows[name]['mol_per_s']:.0f} | {rows[name]['ratio']:.2f} |")
    result = {"command": "python bench/throughput.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, "
                         "1 thread",
              "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
