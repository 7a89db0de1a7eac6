"""The molecule commands' functions (train, generate, evaluate, encode, reconstruct, sample, design, optimize,
fit-heads, demo); lebm.molecule.cli builds their parser and imports this module when a command runs."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
import torch
from rdkit import Chem

from lebm.core.cli import picked, print_preset, train_command
from lebm.core.config import deep_merge, from_dict, load_toml, resolve, to_dict
from lebm.core.errors import DataError
from lebm.core.io import RUN_ENTRIES, claim_dir, save_json, save_npy, write_atomic
from lebm.core.trainer import TrainConfig

from .cli import preset
from .data import (
    DATASETS,
    Standardise,
    canonical,
    clean,
    dataset_smiles,
    input_standard,
    parse,
    read_smiles_file,
    standardise,
)
from .model import MoleculeConfig, MoleculeModel
from .tokens import Representation, Vocabulary, to_representation


def load_training_smiles(args: argparse.Namespace, representation: Representation, max_len: int) -> list[str]:
    """A named set's train split (ZINC250k or MOSES: standard, canonical, unique) or a user file cleaned with
    RDKit."""
    if args.data in DATASETS:
        raw = dataset_smiles(args.data, "train")
        report = clean(
            raw[: args.max_molecules] if args.max_molecules else raw,
            representation,
            max_len=max_len,
            canonicalise=False,
        )
    else:
        raw = read_smiles_file(args.data, args.smiles_column)
        standard = Standardise(stereo=args.drop_stereo, isotopes=args.drop_isotopes) if args.standardise else None
        report = clean(
            raw[: args.max_molecules] if args.max_molecules else raw, representation, max_len=max_len, standard=standard
        )
    print(f"data: {report.summary()}", file=sys.stderr)
    if args.rejects:
        report.write_rejects(args.rejects)
        print(f"wrote the {len(report.rejects)} skipped rows to {args.rejects}", file=sys.stderr)
    if not report.kept:
        raise DataError(f"{args.data}: no usable molecules")
    return report.kept


def validity_probe(n: int = 200, recon: int = 200, data: str = "zinc250k"):
    """Eval callback: validity and uniqueness of n fresh samples; greedy reconstruction of `recon` held-out
    molecules (a fixed seeded draw: ZINC250k valid, or MOSES test for MOSES and user files) when the model has a
    latent."""
    from .latent import reconstruction_figures

    held_out = held_out_molecules(recon, "zinc250k" if data == "zinc250k" else "moses") if recon else []

    def probe(model: MoleculeModel) -> dict[str, float]:
        smiles = model.generate_smiles(n)
        valid = [c for c in map(canonical, smiles) if c]
        figures = {"valid": len(valid) / n, "unique": len(set(valid)) / max(len(valid), 1)}
        fits = [s for s in held_out if not model.vocab.unknown(to_representation(s, model.config.representation))]
        if model.latent and fits:
            figures |= reconstruction_figures(model, fits)
        return figures

    return probe


def held_out_molecules(n: int, data: str = "zinc250k", seed: int = 0) -> list[str]:
    """n molecules of a named set's held-out split (ZINC250k valid, MOSES test) drawn with a fixed seed."""
    pool = dataset_smiles(data, "valid" if data == "zinc250k" else "test")
    return [pool[i] for i in np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False)]


def cmd_train(args: argparse.Namespace) -> int:
    claim_dir(args.out, resume=args.resume, overwrite=args.overwrite, owned=RUN_ENTRIES)
    if args.threads:
        torch.set_num_threads(args.threads)
    toml = deep_merge(preset(args.preset), load_toml(args.config) if args.config else {})
    model_table = toml.get("model", {})
    if args.representation:
        model_table = deep_merge(model_table, {"representation": args.representation})
    cfg = from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), model_table), where="model.")
    train_cfg = resolve(TrainConfig, args, toml.get("train", {}), where="train.")
    smiles = load_training_smiles(args, cfg.representation, cfg.max_len)
    texts = [to_representation(s, cfg.representation) for s in smiles]
    vocab = Vocabulary.build(texts, cfg.representation)
    data = {"x": vocab.encode(texts, cfg.max_len).to(torch.int16)}
    if cfg.ebm.bag.size:
        from .latent import fingerprint_bags
        from .metrics import cache_dir

        data["bag"] = fingerprint_bags(smiles, cfg.ebm.bag.size, cache=cache_dir())
    if args.properties:
        from .metrics import cache_dir
        from .oracles import property_table

        table = property_table(smiles, args.properties, jobs=args.jobs, cache=cache_dir())
        cfg.properties = list(args.properties)
        cfg.property_stats = {k: [float(np.nanmean(v)), float(np.nanstd(v)) or 1.0] for k, v in table.items()}
        for name, values in table.items():
            mean, std = cfg.property_stats[name]
            data[name] = torch.tensor((values - mean) / std, dtype=torch.float32)
    torch.manual_seed(train_cfg.seed)
    model = MoleculeModel(cfg, vocab)
    return train_command(args, model, data, cfg, train_cfg, validity_probe(args.probe, args.probe_recon, args.data))


def cmd_generate(args: argparse.Namespace) -> int:
    from .api import load_model

    if args.n < 1:  # before the model loads, in the flag's name
        raise DataError(f"-n must be >= 1, got {args.n}")
    frame = load_model(args.model, args.device).generate(
        args.n, **picked(args, "seed", "temperature", "prior_steps", "batch_size", "quiet")
    )
    write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
    valid = frame[frame.valid]
    print(
        f"{len(frame)} generated, valid {len(valid) / len(frame):.3f}, unique among valid "
        f"{valid.canonical_smiles.nunique() / max(len(valid), 1):.3f}; wrote {args.output}"
    )
    if args.image:
        from .props import write_grid

        shown = valid.drop_duplicates("canonical_smiles").head(args.image_count)
        write_grid(args.image, list(shown.canonical_smiles), list(shown.canonical_smiles))
        print(f"wrote {args.image} ({len(shown)} molecules)")
    return 0


def read_encodable(args: argparse.Namespace, model: MoleculeModel) -> list[str]:
    """The input file's molecules the model can encode (any length): standardised (largest fragment, neutralised)
    and canonical, one per input row that parses; the changes and the skipped rows counted by reason."""
    report = clean(
        read_smiles_file(args.input, args.smiles_column),
        model.config.representation,
        model.vocab,
        standard=input_standard(model.vocab),
        unique=False,
    )
    print(f"input: {report.summary()}", file=sys.stderr)
    if not report.kept:
        raise DataError(f"{args.input}: no molecule the model can encode")
    return report.kept


def cmd_encode(args: argparse.Namespace) -> int:
    """SMILES file -> posterior means: CSV (smiles, z0..z{d-1}) or .npy [N, d] (row order of the kept molecules)."""
    from .api import load_model

    model = load_model(args.model, args.device)
    smiles = read_encodable(args, model.network)
    z = model.encode(smiles, args.seed, args.batch_size)
    if args.output.suffix == ".npy":
        save_npy(args.output, z)
    else:
        frame = pd.concat(
            [pd.DataFrame({"smiles": smiles}), pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])], axis=1
        )
        write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
    print(f"encoded {len(smiles)} molecules into {z.shape[1]} dimensions; wrote {args.output}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """SMILES file -> decodings of each posterior mean, with Tanimoto similarity and exact match."""
    from .api import load_model

    model = load_model(args.model, args.device)
    frame = model.reconstruct(read_encodable(args, model.network), args.temperature, args.seed, args.batch_size)
    write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
    print(
        f"{len(frame)} molecules: mean Tanimoto {frame.tanimoto.mean():.3f}, exact {frame.exact.mean():.3f}, "
        f"valid {frame.valid.mean():.3f}; wrote {args.output}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """generate -> CSV + PNG grid -> headline metrics, on the bundled model."""
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    base = dict(
        model=args.model,
        n=args.n,
        seed=0,
        output=out / "generated.csv",
        batch_size=500,
        temperature=1.0,
        image=out / "grid.png",
        image_count=24,
        device="auto",
        prior_steps=None,
        quiet=args.quiet,
    )
    cmd_generate(argparse.Namespace(**base))
    return cmd_evaluate(
        argparse.Namespace(
            generated=out / "generated.csv",
            column=None,
            reference="zinc250k-test",
            train="zinc250k",
            smiles_column=None,
            k=[1000],
            json=out / "metrics.json",
            quiet=args.quiet,
            standardise=False,
        )
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import REFERENCES, evaluate, small_sample_warnings

    generated = read_smiles_file(args.generated, args.column)  # file order; empty cells count as invalid
    if args.standardise:  # off by default: a generator's raw output is what it is judged on
        mols = [parse(s) for s in generated]
        generated = [Chem.MolToSmiles(standardise(m, Standardise())[0]) if m else s for m, s in zip(mols, generated)]
    reference = args.reference if args.reference in REFERENCES else read_smiles_file(args.reference, args.smiles_column)
    train = (
        args.train
        if args.train in DATASETS
        else None
        if args.train == "none"
        else read_smiles_file(args.train, args.smiles_column)
    )
    metrics = evaluate(generated, reference, train, args.k, quiet=args.quiet)
    n_valid = round(metrics["Valid"] * len(generated))
    if n_valid == 0:
        print(f"warning: none of the {len(generated)} molecules of {args.generated} is valid", file=sys.stderr)
    warnings = small_sample_warnings(n_valid, metrics, tuple(args.k))
    print(f"{'metric':<12}{'value':>10}")
    for name, value in metrics.items():
        print(f"{name:<12}{value:>10.4f}" + (f"  warning: {warnings[name]}" if name in warnings else ""))
    if args.json:
        save_json(
            args.json, {"generated": str(args.generated), "n": len(generated), "metrics": metrics, "warnings": warnings}
        )
        print(f"wrote {args.json}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    return print_preset(args.preset, MoleculeConfig, preset(args.preset))
