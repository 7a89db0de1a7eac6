"""The design-side molecule commands' functions (sample, design, optimize, fit-heads); lebm.molecule.cli builds
their parser and imports this module when a command runs."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
import torch

from lebm.core.cli import picked
from lebm.core.distributed import pick_device
from lebm.core.errors import ConfigError, DataError
from lebm.core.io import claim_dir, write_atomic

from .data import DATASETS, canonical, clean, dataset_smiles, input_standard, read_smiles_file
from .model import MoleculeModel


def open_cluster(args: argparse.Namespace):
    """The Dask cluster of --scheduler / --jobs (lebm.molecule.cluster), or a null context: the oracles run here."""
    from contextlib import nullcontext

    if not args.scheduler and args.jobs <= 1:
        return nullcontext(None)
    from .cluster import Cluster

    return Cluster(args.scheduler or "", args.jobs)


def parse_conditions(items: list[str]) -> dict[str, float]:
    """["qed=0.9", "sa=2.5"] -> {"qed": 0.9, "sa": 2.5}, one clear error per malformed item."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--condition {item!r}: expected NAME=VALUE, e.g. qed=0.9")
    return out


def cmd_sample(args: argparse.Namespace) -> int:
    """Conditional sampling z ~ p(z | y*), decoded and scored by the real oracles (with --select K, the n
    molecules closest to the targets of K times as many decoded); the summary leads with the real values, the
    heads' own mean last, and warns where the two disagree by more than the tolerance."""
    from .api import load_model
    from .oracles import TOLERANCE

    targets = parse_conditions(args.condition)
    for flag in ("n", "oversample", "select"):  # in the flags' names
        if getattr(args, flag) < 1:
            raise ConfigError(f"-{'-' * (len(flag) > 1)}{flag} must be >= 1, got {getattr(args, flag)}")
    model = load_model(args.model, args.device)
    with open_cluster(args) as cluster:
        frame = model.sample(
            targets,
            args.n,
            cluster=cluster,
            **picked(args, "seed", "select", "oversample", "steps", "temperature", "batch_size"),
        )
    proposals = frame.attrs["proposals"]
    if args.select > 1:
        print(
            f"{proposals['decoded']} molecules decoded (valid {proposals['valid']:.3f}, unique among valid "
            f"{proposals['unique']:.3f}); kept the {len(frame)} distinct valid ones closest to the targets by their "
            f"real values"
        )
    else:
        print(f"{len(frame)} molecules, valid {proposals['valid']:.3f}, unique among valid {proposals['unique']:.3f}")
    print(
        f"{'property':<10}{'target':>9}{'real mean':>11}{'median':>9}{'std':>9}{'within':>9}{'tolerance':>11}"
        f"{'head mean':>11}"
    )
    warnings = []
    for name, target in targets.items():
        real, head = frame[name].dropna(), frame[f"predicted_{name}"].mean()
        tol = TOLERANCE.get(name, 0.1 * max(abs(target), 1.0))
        within = float((real - target).abs().le(tol).sum() / max(len(frame), 1))
        print(
            f"{name:<10}{target:>9.3f}{real.mean():>11.3f}{real.median():>9.3f}{real.std():>9.3f}{within:>9.1%}"
            f"{tol:>11g}{head:>11.3f}"
        )
        if not abs(real.mean() - head) <= tol:
            warnings.append(
                f"warning: {name}: the real mean {real.mean():.3f} and the head's {head:.3f} differ by "
                f"more than {tol:g}; the head is wrong here, trust the real values"
            )
    for line in warnings:
        print(line)
    write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
    print(f"wrote {args.output}")
    return 0


def cmd_design(args: argparse.Namespace) -> int:
    from .api import design
    from .design_config import design_table
    from .sgds import OUTPUTS

    claim_dir(args.out, resume=args.resume, overwrite=args.overwrite, owned=OUTPUTS)
    table = design_table(args.config)
    for key in ("iterations", "population", "top_k", "scheduler"):  # flags over the TOML
        if getattr(args, key) is not None:
            table[key] = getattr(args, key)
    if args.model:
        table["model"] = str(args.model)
    design(table, out_dir=args.out, resume=args.resume, progress=not args.quiet)
    print(f"wrote {args.out}/summary.csv, top.csv, top.png, properties.png")
    return 0


def read_leads(args: argparse.Namespace, model: MoleculeModel) -> list[str]:
    """The leads of --start and --start-file, standardised; those the model cannot encode are left out (said)."""
    raw = list(args.start or [])
    if args.start_file:
        raw += read_smiles_file(args.start_file, args.smiles_column)
    if not raw:
        raise ConfigError("no lead molecules: pass --start SMILES and/or --start-file FILE")
    for smiles in args.start or []:
        if canonical(smiles) is None:
            raise DataError(f"--start {smiles!r} is not a valid SMILES")
    report = clean(
        raw, model.config.representation, model.vocab, model.config.max_len, standard=input_standard(model.vocab)
    )
    if not report.kept:
        raise DataError(f"no lead molecule the model can encode ({report.summary()})")
    if report.rejects or report.changed:
        print(f"leads: {report.summary()}", file=sys.stderr)
    return report.kept


def write_leads(args: argparse.Namespace, found: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per lead a CSV of its candidates (and a PNG with --images); summary.csv with the best of each; the summary."""
    from .props import write_grid

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (lead, value) in enumerate(found.attrs["leads"].items()):
        frame = found[found.lead == lead].drop(columns=["lead", "lead_value"]).reset_index(drop=True)
        write_atomic(args.out / f"lead_{i:04d}.csv", lambda p, f=frame: f.to_csv(p, index=False))
        best = frame.iloc[0] if len(frame) else pd.Series(index=frame.columns, dtype=object)  # none: all NaN
        rows.append(
            {
                "lead": lead,
                name: value,
                "candidates": len(frame),
                "best_candidate": best.candidate,
                "best_similarity": best.similarity,
                f"best_{name}": best[name],
                "best_improvement": best.improvement,
                "success": bool(best.improvement > 0),
            }
        )
        if args.images:
            shown = [lead, *frame.candidate[: args.image_count]]
            legends = [f"lead {name} {value:.2f}"] + [
                f"{name} {r[name]:.2f} ({r.improvement:+.2f}), sim {r.similarity:.2f}"
                for _, r in frame.head(args.image_count).iterrows()
            ]
            write_grid(args.out / f"lead_{i:04d}.png", shown, legends, min(len(shown), 4), (300, 240))
    summary = pd.DataFrame(rows)
    write_atomic(args.out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    return summary


OPTIMIZE_OUTPUTS = ("lead_*.csv", "lead_*.png", "summary.csv")


def cmd_optimize(args: argparse.Namespace) -> int:
    """Lead optimisation: per lead a CSV of candidates within the similarity bound and a PNG; a summary."""
    from .api import Model, optimize
    from .leads import LeadSettings

    settings = LeadSettings(
        args.objective,
        args.min_similarity,
        args.steps,
        args.chains,
        args.step_size,
        args.shift,
        args.temperature,
        args.minimize,
        args.mutations,
    )
    model = MoleculeModel.from_pretrained(args.model, device=pick_device(args.device)).eval()
    settings.check(model)
    claim_dir(args.out, overwrite=args.overwrite, owned=OPTIMIZE_OUTPUTS, resumable=False)
    leads = read_leads(args, model)
    with open_cluster(args) as cluster:
        found = optimize(
            leads,
            args.objective,
            args.min_similarity,
            Model(model),
            args.seed,
            args.minimize,
            cluster,
            args.quiet,
            **picked(args, "steps", "chains", "step_size", "shift", "temperature", "mutations"),
        )
    summary = write_leads(args, found, settings.objective)
    gains = summary.best_improvement[summary.success]
    print(
        f"{len(leads)} leads: success {summary.success.mean():.3f} (a candidate with similarity >= "
        f"{settings.min_similarity} and a better {settings.objective}), mean improvement of the successes "
        f"{gains.mean() if len(gains) else 0.0:.3f}; wrote {args.out}"
    )
    return 0


def cmd_fit_heads(args: argparse.Namespace) -> int:
    """A trained model + property heads regressed on its latent: a new model directory."""
    from .leads import fit_heads

    claim_dir(
        args.out,
        overwrite=args.overwrite,
        owned=("config.json", "model.safetensors", "vocab.json", "diagnostics.json"),
        resumable=False,
    )
    model = MoleculeModel.from_pretrained(args.model).eval()
    if args.data in DATASETS:
        smiles = dataset_smiles(args.data, "train")
        rows = np.random.default_rng(args.seed).choice(len(smiles), min(args.molecules, len(smiles)), replace=False)
        smiles = [smiles[i] for i in rows]
    else:
        report = clean(
            read_smiles_file(args.data, args.smiles_column)[: args.molecules], standard=input_standard(model.vocab)
        )
        print(f"data: {report.summary()}", file=sys.stderr)
        smiles = report.kept
    torch.manual_seed(args.seed)
    r2 = fit_heads(model, smiles, args.properties, args.steps, seed=args.seed, jobs=args.jobs, quiet=args.quiet)
    for name, value in r2.items():
        print(f"{name:<10} R^2 on held-out molecules {value:.3f}")
    model.save_pretrained(args.out)
    print(f"wrote {args.out} (heads: {', '.join(model.config.properties)})")
    return 0
