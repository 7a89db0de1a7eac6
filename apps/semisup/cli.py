"""`lebm semisup ...`: the command line of the semi-supervised app (fit on a CSV with empty or -1 labels for
unlabeled rows, predict, evaluate). Building the parser imports nothing heavy; a command's
function (lebm.semisup.commands) is imported when it runs."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from lebm.core.cli import add_app_group, command

_command = partial(command, "lebm.semisup.commands")


def add_group(sub: argparse._SubParsersAction) -> None:
    cmds = add_app_group(sub, "semisup", "semi-supervised classification by symbol-vector coupling")
    fit = cmds.add_parser("fit", help="fit on a CSV; empty or -1 labels are unlabeled rows")
    fit.add_argument("--data", type=Path, required=True, help="CSV with feature columns and a label column")
    fit.add_argument("--label-column", required=True, help="the label column")
    fit.add_argument("--out", type=Path, required=True, help="model directory")
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the model already in OUT (without it, a non-empty OUT is refused)",
    )
    fit.add_argument("--steps", type=int, default=2000, help="learning steps")
    fit.add_argument("--seed", type=int, default=0, help="random_state")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another SymbolVectorClassifier setting, e.g. --param latent_dim=8 --param mi_weight=0.3",
    )
    fit.set_defaults(func=_command("cmd_fit"))
    for name, func, text in (
        ("predict", _command("cmd_predict"), "write predicted classes and probabilities"),
        ("evaluate", _command("cmd_evaluate"), "accuracy on the labeled rows of a CSV"),
    ):
        cmd = cmds.add_parser(name, help=text)
        cmd.add_argument("--model", type=Path, required=True, help="model directory from fit")
        cmd.add_argument("--data", type=Path, required=True, help="CSV with the same feature columns")
        cmd.add_argument("--label-column", default="label", help="label column (ignored by predict)")
        if name == "predict":
            cmd.add_argument("-o", "--output", type=Path, default=Path("predictions.csv"), help="output CSV")
        cmd.set_defaults(func=func)
