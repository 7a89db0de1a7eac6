"""The `lebm` command line. The core adds the `toy` group; each app adds its own group through the
`lebm.commands` entry-point group (a function that takes the subparsers object), so the core
never imports an app. Under torchrun: `torchrun --nproc_per_node N -m lebm <group> train ...`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .config import add_arguments, config_toml, deep_merge, from_dict, load_toml, resolve, to_dict
from .errors import LebmError
from .options import TrainConfig

# Building the parser imports no torch, RDKit or app code (`lebm --help` answers at once): each command's function
# imports what it needs when it runs.


def command(module: str, name: str) -> Callable[[argparse.Namespace], Any]:
    """The function `name` of `module` as a parser's command, imported only when that command runs."""
    return lambda args: getattr(importlib.import_module(module), name)(args)


def add_app_group(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str) -> Any:
    """An app's command group, `lebm NAME ...`: the subparsers object its commands are added to."""
    return sub.add_parser(name, help=help).add_subparsers(dest="command", required=True)


def add_train_command(cmds: Any, help: str, presets: tuple[str, ...], default: str) -> argparse.ArgumentParser:
    """An app's `train` command: the core's run and training flags, and --preset."""
    train: argparse.ArgumentParser = cmds.add_parser("train", help=help)
    add_common(train)
    train.add_argument("--preset", choices=presets, default=default, help="starting settings, overridden by --config")
    return train


def picked(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The named command-line values as keyword arguments of the function a command wraps."""
    return {name: getattr(args, name) for name in names}


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with [model] and [train] tables")
    parser.add_argument("--out", type=Path, required=True, help="output directory (checkpoint, model, log)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if it exists")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run in OUT (else a non-empty OUT is refused)"
    )
    add_arguments(parser, TrainConfig)


def print_preset(name: str, model_class: Any, toml: dict[str, Any]) -> int:
    """Print a preset's complete model and training configuration as documented TOML."""
    cfg = from_dict(model_class, deep_merge(to_dict(model_class()), toml.get("model", {})), where="model.")
    print(f"# preset {name!r}: every option with its meaning; copy, edit, pass with --config\n")
    print(config_toml(cfg, resolve(TrainConfig, None, toml.get("train", {}), where="train.")))
    return 0


def _toy_setup(args: argparse.Namespace) -> tuple[Any, TrainConfig]:
    from .toy import ToyConfig

    toml = load_toml(args.config) if args.config else {}
    base = deep_merge(to_dict(ToyConfig()), toml.get("model", {}))  # defaults < TOML < flags
    if args.prior:
        base = deep_merge(base, {"ebm": {"prior": {"kind": args.prior}}})
    if args.posterior_init:
        base = deep_merge(base, {"ebm": {"posterior_init": args.posterior_init}})
    model_cfg = from_dict(ToyConfig, base, where="model.")
    train_cfg = resolve(TrainConfig, args, toml.get("train", {}), where="train.")
    return model_cfg, train_cfg


def train_command(
    args: argparse.Namespace, model: Any, data: dict[str, Any], model_cfg: Any, train_cfg: TrainConfig, eval_fn: Any
) -> int:
    """The end of every app's train command: OUT/config.toml with every setting of the run, the core's trainer on
    `data` (resumed with --resume), and the last step's figures as one JSON line. Under torchrun rank 0 alone
    writes and prints (it alone claimed OUT: a file from another rank would look like an earlier run to it)."""
    from .io import write_atomic
    from .trainer import Trainer

    main_rank = os.environ.get("RANK", "0") == "0"
    if main_rank:
        args.out.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out / "config.toml", lambda p: p.write_text(config_toml(model_cfg, train_cfg)))
        print(f"wrote {args.out / 'config.toml'} (every setting of this run)", file=sys.stderr)
    started = getattr(args, "started", None)
    trainer = Trainer(model, data, train_cfg, out_dir=args.out, resume=args.resume, started=started, eval_fn=eval_fn)
    result = trainer.fit()
    if main_rank:
        print(json.dumps({"step": result["step"], **result["eval"]}))
    return 0


def toy_train(args: argparse.Namespace) -> int:
    import torch

    from .io import RUN_ENTRIES, claim_dir
    from .toy import ToyModel, evaluate, make_data

    claim_dir(args.out, resume=args.resume, overwrite=args.overwrite, owned=RUN_ENTRIES)
    model_cfg, train_cfg = _toy_setup(args)
    torch.manual_seed(train_cfg.seed)
    model = ToyModel(model_cfg)
    x, _ = make_data(args.n_train, seed=train_cfg.seed)
    x_test, mode_test = make_data(2000, seed=train_cfg.seed + 1)
    return train_command(args, model, {"x": x}, model_cfg, train_cfg, lambda m: evaluate(m, x_test, mode_test))


def toy_demo(args: argparse.Namespace) -> int:
    """Train the toy with the EBM prior and with the Gaussian prior; print the held-out figures."""
    import torch

    from .io import save_json
    from .toy import ToyModel, evaluate, make_data, mmd, toy_config
    from .trainer import Trainer

    x, _ = make_data(4000, seed=0)
    x_test, mode_test = make_data(2000, seed=1)
    rows = []
    for kind in ("gaussian", "ebm"):
        torch.manual_seed(0)
        model = ToyModel(toy_config(kind))
        start = time.perf_counter()
        Trainer(
            model,
            {"x": x},
            TrainConfig(steps=args.steps, batch_size=128, lr_prior=1e-3, quiet=args.quiet, device="cpu"),
        ).fit()
        seconds = time.perf_counter() - start
        torch.manual_seed(1)
        rows.append({"prior": kind, **evaluate(model, x_test, mode_test), "train_s": seconds})
    floor = mmd(x_test[:1000], x[:1000])
    print(f"\nToy latent model, {args.steps} steps, held-out data (MMD floor data-vs-data: {floor:.4f})")
    print(f"{'prior':<10}{'MMD':>10}{'near mode':>12}{'min mode share':>16}{'train s':>10}")
    for r in rows:
        print(
            f"{r['prior']:<10}{r['mmd']:>10.4f}{r['near_mode']:>12.3f}{r['min_mode_share']:>16.3f}{r['train_s']:>10.1f}"
        )
    print(f"EBM prior / Gaussian prior MMD ratio: {rows[1]['mmd'] / rows[0]['mmd']:.3f}")
    if args.json:
        save_json(args.json, {"steps": args.steps, "mmd_floor": floor, "rows": rows})
        print(f"wrote {args.json}")
    return 0


def add_toy_group(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    toy = sub.add_parser("toy", help="the core's toy latent model (4-mode latent, fixed generator)")
    cmds = toy.add_subparsers(dest="command", required=True)
    train = cmds.add_parser("train", help="train the toy model")
    add_common(train)
    train.add_argument("--prior", choices=["ebm", "gaussian"], help="prior kind (default: ebm)")
    train.add_argument(
        "--posterior-init",
        choices=["reference", "persistent", "amortised"],
        help="where posterior chains start (default: reference)",
    )
    train.add_argument("--n-train", type=int, default=4000, help="number of generated training points")
    train.set_defaults(func=toy_train)
    demo = cmds.add_parser("demo", help="EBM prior vs Gaussian prior on the toy; prints held-out figures")
    demo.add_argument("--steps", type=int, default=600, help="learning steps per model")
    demo.add_argument("--json", type=Path, help="also write the figures as JSON here")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=toy_demo)


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless it is None or False or the help already names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and not any(action.default is v for v in (None, False, argparse.SUPPRESS))
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lebm")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lebm", description="Latent-space energy-based models: one core, three apps.")
    parser.add_argument("--version", action="version", version=f"lebm {_version()}")
    sub = parser.add_subparsers(dest="group", required=True)
    add_toy_group(sub)
    for ep in sorted(entry_points(group="lebm.commands"), key=lambda e: e.name):
        ep.load()(sub)
    pending = [parser]
    while pending:  # every command's help shows its defaults
        p = pending.pop()
        if p.formatter_class is argparse.HelpFormatter:
            p.formatter_class = DefaultsFormatter
        pending += [c for a in p._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices.values()]
    return parser


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records as plain lines on the current sys.stderr (looked up at each record: tests swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_to_stderr() -> None:
    """The command line's logging: lebm's messages (info and up) as plain lines on stderr. Library use leaves
    logging to the caller (Python shows warnings and errors)."""
    logger = logging.getLogger("lebm")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    logger.setLevel(logging.INFO)  # records still reach the root logger's handlers, if the caller set any


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()  # --max-minutes bounds the whole command from here
    args = build_parser().parse_args(argv)
    log_to_stderr()
    args.started = started
    try:
        return int(args.func(args) or 0)
    except LebmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume from the last checkpoint", file=sys.stderr)
        return 130
    finally:
        torch = sys.modules.get("torch")  # imported by a command that ran, if any
        if torch is not None and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
