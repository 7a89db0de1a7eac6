"""Molecule latents at equal training time: generation quality, reconstruction, latent use, cost.

For each model directory (e.g. the snapshot-30min / -60min / -120min models of several runs):
  - n molecules from the prior (seed 0): Valid, Unique@10k, Novelty (vs MOSES train), FCD/Test (shipped
    MOSES-test moments), IntDiv;
  - greedy reconstruction of the posterior mean of R MOSES test molecules (a fixed seeded draw): mean
    Morgan Tanimoto, exact canonical match, validity of the decodings;
  - post_valid: validity of decoding (temperature 1) one draw of q(z | x) per test molecule, the
    generator's ceiling whatever the prior;
  - latent diagnostics on those test molecules: KL, MI, active units, f spread, prior / reference MMD
    to the posterior samples (shared/diagnostics.py);
and, with --cost, the training cost per step of the latent preset relative to the CharRNN (same decoder,
same batch, steps taking turns in one process).

    python bench/latent_molecule.py --models charrnn-120=runs/mol-charrnn/snapshot-120min ... [-n 10000]
        [--recon 1000] [--cost] [--json bench/results/latent_molecule.json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from molecule_moses import step_costs

from lebm.core.diagnostics import latent_diagnostics
from lebm.molecule.cli import held_out_molecules
from lebm.molecule.data import canonical, moses_smiles
from lebm.molecule.latent import encode_ids, reconstruct
from lebm.molecule.metrics import moses_metrics, shipped_fcd_reference
from lebm.molecule.model import MoleculeModel
from lebm.molecule.tokens import to_representation

COLUMNS = [
    "Valid",
    "Unique@10k",
    "Novelty",
    "FCD/Test",
    "IntDiv",
    "recon_tanimoto",
    "recon_exact",
    "recon_valid",
    "post_valid",
    "au",
    "kl",
    "mi",
    "f_spread",
    "mmd_prior",
    "mmd_ref",
]


def score(model: MoleculeModel, n: int, held_out: list[str], train: set[str]) -> dict[str, float]:
    torch.manual_seed(0)
    start = time.perf_counter()
    row = moses_metrics(model.generate_smiles(n), shipped_fcd_reference(), train, ks=(10000,), quiet=True)
    row["sample_seconds"] = time.perf_counter() - start
    if not model.latent:
        return row
    fits = [s for s in held_out if not model.vocab.unknown(to_representation(s, model.config.representation))]
    rec = reconstruct(model, fits)
    row |= {
        "recon_tanimoto": float(np.mean([r["tanimoto"] for r in rec])),
        "recon_exact": float(np.mean([r["exact"] for r in rec])),
        "recon_valid": float(np.mean([r["valid"] for r in rec])),
        "recon_n": len(rec),
    }
    torch.manual_seed(0)
    with torch.no_grad():
        x = encode_ids(model, fits)
        row |= latent_diagnostics(model, x)
        if model.encoder is not None:  # the generator's own ceiling: a perfect prior samples q(z | x) of data
            mean, logvar = model.encoder(x)
            decoded = model.decode_smiles(mean + (0.5 * logvar).exp() * torch.randn_like(mean), 1.0)
            row["post_valid"] = float(np.mean([canonical(s) is not None for s in decoded]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[], help="NAME=MODEL_DIR")
    parser.add_argument("-n", type=int, default=10000, help="molecules sampled per model")
    parser.add_argument("--recon", type=int, default=1000, help="MOSES test molecules reconstructed")
    parser.add_argument("--cost", action="store_true", help="also time training steps: latent preset vs CharRNN")
    parser.add_argument("--cost-steps", type=int, default=20)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "latent_molecule.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {
        "command": "python bench/latent_molecule.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, 1 thread",
        "rows": {},
    }
    if args.json.is_file():  # rows of earlier invocations are kept, newer ones replace them by name
        result["rows"] = json.loads(args.json.read_text()).get("rows", {})
    held_out, train = held_out_molecules(args.recon, "moses"), set(moses_smiles("train")) if args.models else set()
    for item in args.models:
        name, _, directory = item.partition("=")
        result["rows"][name] = score(MoleculeModel.from_pretrained(directory).eval(), args.n, held_out, train) | {
            "model": directory
        }
        print(name, json.dumps(result["rows"][name]), flush=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    if args.cost:
        cost = step_costs({"latent": ("latent", None), "charrnn": ("charrnn", None)}, 128, args.cost_steps)
        result["step_seconds"] = cost | {"ratio": cost["latent"] / cost["charrnn"]}
        print(json.dumps(result["step_seconds"]))
    print("| model | " + " | ".join(COLUMNS) + " |\n" + "|---" * (len(COLUMNS) + 1) + "|")
    for name, row in result["rows"].items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3g}" if c in row else "-" for c in COLUMNS) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
