"""`lebm text ...`: the command line of the text app. Building the parser imports nothing heavy; a command's
function (lebm.text.commands) is imported when it runs."""

from __future__ import annotations

import argparse
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

from lebm.core.cli import add_app_group, add_train_command, command
from lebm.core.config import deep_merge, load_toml
from lebm.models import TEXT as BUNDLED  # the bundled model, the default of every command

PRESETS = ("paper", "latent", "fast", "vae", "lm")
REFINE_STEPS = 10  # default refinement of an encoder model (evaluate, encode, probe, demo): on BBC valid it
# tightened the NLL bound by 2.5% and raised the 1,000-label probe by 2 points; greedy reconstructions gained nothing


def preset(name: str) -> dict[str, Any]:
    """A preset's TOML tables; every preset but `paper` is written as changes to `paper`."""

    def read(n: str) -> dict[str, Any]:
        return load_toml(Path(str(files("lebm.text") / "presets" / f"{n}.toml")))

    return read("paper") if name == "paper" else deep_merge(read("paper"), read(name))


_command = partial(command, "lebm.text.commands")


def add_group(sub: argparse._SubParsersAction) -> None:
    cmds = add_app_group(sub, "text", "sentences: latent models trained by short-run inference")
    train = add_train_command(cmds, "train a latent sentence model (or a baseline)", PRESETS, "paper")
    train.add_argument("--data", default="bbc", help="'bbc' (embedded BBC News, train split) or a text file")
    train.add_argument("--valid", help="held-out text file for progress figures (default: BBC valid split)")
    train.add_argument("--prior", choices=["gaussian", "ebm"], help="latent prior kind")
    train.add_argument("--tokenizer", choices=["word", "bpe"], help="tokenizer kind")
    train.add_argument("--probe", type=int, default=200, help="held-out sentences scored at each evaluation")
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.set_defaults(func=_command("cmd_train"))

    def common(name: str, help: str, chains: int = 4, refine: int | None = None) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help)
        p.add_argument(
            "--model",
            type=Path,
            default=BUNDLED,
            help="model directory (default: the bundled BBC model, models/bbc-text)",
        )
        p.add_argument("--seed", type=int, default=0, help="seed for chains and sampling")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda")
        p.add_argument("--chains", type=int, default=chains, help="posterior chains per sentence (their mean is used)")
        p.add_argument(
            "--refine-steps",
            type=int,
            default=refine,
            help="short-run refinement at inference time: K noise-free Langevin steps on log p(x | z) + "
            "log p(z) from the encoder's mean (a model with chains: K chain steps instead of its own); "
            + (
                f"default {refine}"
                if refine is not None
                else f"default {REFINE_STEPS} for an encoder model, 0 for a chain model"
            ),
        )
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        return p

    ev = common("evaluate", "importance-sampled NLL, PPL, REC, KL, MI, AU", chains=8)
    ev.add_argument("--data", default="bbc", help="'bbc' or a text file")
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"], help="BBC split")
    ev.add_argument("--samples", type=int, default=100, help="importance samples per sentence")
    ev.add_argument("--max-sentences", type=int, help="evaluate only the first N sentences")
    ev.add_argument("--batch-size", type=int, default=50, help="sentences at once")
    ev.add_argument("--overlong", choices=["skip", "truncate"], help="overlong sentences (default: as trained)")
    ev.add_argument("--json", type=Path, help="also write the figures as JSON")
    ev.set_defaults(func=_command("cmd_evaluate"))

    def decoding(p: argparse.ArgumentParser) -> None:
        p.add_argument("--method", choices=["greedy", "sample", "beam"], default="greedy", help="decoding")
        p.add_argument("--beam", type=int, default=5, help="beam width")
        p.add_argument("-o", "--output", type=Path, help="also write the rows as a CSV file (as the molecule commands)")

    sample = common("sample", "sentences from the prior")
    sample.add_argument("-n", type=int, default=10, help="number of sentences")
    decoding(sample)
    sample.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    sample.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")
    sample.set_defaults(func=_command("cmd_sample"), method="sample")

    rec = common("reconstruct", "infer z for sentences and decode it", refine=0)
    rec.add_argument("text", nargs="*", help="sentences")
    rec.add_argument("--file", type=Path, help="file with one sentence per line")
    decoding(rec)
    rec.set_defaults(func=_command("cmd_reconstruct"))

    inter = common("interpolate", "decode points on the line between two sentences' latents", refine=0)
    inter.add_argument("start", help="first sentence")
    inter.add_argument("end", help="second sentence")
    inter.add_argument("--points", type=int, default=5, help="number of points, ends included")
    decoding(inter)
    inter.set_defaults(func=_command("cmd_interpolate"))

    enc = common("encode", "latent features (posterior means) of a file's lines")
    enc.add_argument("--input", type=Path, required=True, help="text file, one text per line (label<TAB>text ok)")
    enc.add_argument("--output", type=Path, required=True, help=".csv (with a label column) or .npy")
    enc.set_defaults(func=_command("cmd_encode"))

    probe = common("probe", "logistic regression on latent features with few labels")
    probe.add_argument("--data", default="bbc", help="'bbc' (train split pool, test split) or a labeled file")
    probe.add_argument("--test", help="labeled test file (default: BBC test split)")
    probe.add_argument(
        "--split", default="test", choices=["valid", "test"], help="BBC split scored (valid: for choosing settings)"
    )
    probe.add_argument("--labels", type=int, nargs="+", default=[100, 500, 1000], help="labeled rows")
    probe.add_argument("--seeds", type=int, default=5, help="label draws per size")
    probe.add_argument("--pool", type=int, default=5000, help="training rows encoded (labels drawn from these)")
    probe.add_argument("--test-size", type=int, default=2000, help="test rows encoded")
    probe.add_argument("--json", type=Path, help="also write the accuracies as JSON")
    probe.set_defaults(func=_command("cmd_probe"))

    demo = common("demo", "samples, reconstructions and an interpolation from the bundled BBC model")
    demo.set_defaults(func=_command("cmd_demo"))

    config = cmds.add_parser("config", help="print a preset's settings")
    config.add_argument("--preset", choices=PRESETS, default="paper", help="which preset")
    config.set_defaults(func=_command("cmd_config"))
