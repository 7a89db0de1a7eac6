"""The training loop: seeding, devices, data shards, progress, evaluation, checkpoints, resume.

Data is a dict of tensors sharing their first dimension: "x" (what the generator models) and one
entry per property head. Each epoch is a seeded permutation, split into equal shards per rank, so a
run is determined by its seed, and a run resumed from a checkpoint reaches the same weights as one
that was never interrupted (on CPU, same number of processes).

out_dir/checkpoint/   model files + trainer_state.pt (step, optimisers, chain state, RNG states)
out_dir/model/        the final model (LatentEBM.from_pretrained loads it)
out_dir/best/         with keep_best: the model at the evaluation that scored highest
out_dir/train_log.jsonl   one JSON line per logged step and per evaluation

Every evaluation also measures the latent (shared/diagnostics.py: KL, MI, active units, the spread
of f, prior-to-posterior MMD) on a fixed set of training rows, prints one warning line when the
latent has collapsed over several evaluations, and saves the last figures as the model directory's
diagnostics.json.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .config import to_dict
from .diagnostics import latent_diagnostics
from .distributed import Dist, gather_objects, rng_state, seed_everything, set_rng_state, setup
from .errors import ConfigError, DataError, ModelLoadError
from .io import load_state, load_tensors, resolve_dir, save_state, write_dir_atomic
from .learning import Learner
from .model import LatentEBM, check_finite
from .options import TrainConfig
from .progress import progress

EvalFn = Callable[[LatentEBM], Mapping[str, float]]
SHOWN = ("nll_x", "kl_ref", "loss_prior", "f_post", "f_prior", "f_spread", "grad_generator", "grad_prior")
COLLAPSE_EVALS, COLLAPSE_MI = 3, 0.05  # this many evaluations in a row with MI below this (nats) or no active unit

log = logging.getLogger(__name__)


class Trainer:
    def __init__(
        self,
        model: LatentEBM,
        data: Mapping[str, torch.Tensor],
        config: TrainConfig,
        out_dir: str | Path | None = None,
        eval_fn: EvalFn | None = None,
        resume: bool = False,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """started: clock() when the command began (max_minutes counts from it; default: now). clock: the seconds
        the time budget and the run's seconds are read from (tests pass a clock they move themselves)."""
        self.model, self.config, self.eval_fn, self.resume, self.clock = model, config, eval_fn, resume, clock
        self.command_started = clock() if started is None else started  # run seconds count from here
        self.costs = {"evaluate": 0.0, "save": 0.0, "step": 0.0}  # seconds of the last of each
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data = dict(data)
        self._check_data()
        self.n = len(self.data["x"])
        self.step = 0
        self.best = -math.inf  # the highest keep_best figure so far (negated for '-name')
        self.collapsed: list[bool] = []  # per evaluation: did the latent look collapsed
        self.seconds_before = 0.0  # training time of earlier processes of this run (from the checkpoint)

    def _check_data(self) -> None:
        if "x" not in self.data:
            raise DataError("training data has no 'x' entry")
        missing = sorted(set(self.model.heads) - set(self.data))
        if missing:
            raise DataError(f"training data has no values for property head '{missing[0]}'")
        n = len(self.data["x"])
        if n == 0:
            raise DataError("training data is empty")
        for name, value in self.data.items():
            if len(value) != n:
                raise DataError(f"training data '{name}' has {len(value)} rows, 'x' has {n}")
        check_finite("training data 'x'", self.data["x"])

    # --- data order -----------------------------------------------------------------------------
    def batch_indices(self, step: int, dist: Dist) -> torch.Tensor:
        """This rank's example ids for a global step: a seeded per-epoch permutation, sharded."""
        per_rank = self.n // dist.world
        if per_rank == 0:
            raise DataError(f"{self.n} training examples cannot be shared by {dist.world} processes")
        per_epoch = math.ceil(per_rank / self.config.batch_size)
        epoch, j = divmod(step, per_epoch)
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        shard = torch.randperm(self.n, generator=g)[dist.rank :: dist.world][:per_rank]
        return shard[j * self.config.batch_size : (j + 1) * self.config.batch_size]

    # --- checkpoints ----------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path | None:
        return self.out_dir / "checkpoint" if self.out_dir is not None else None

    def save_checkpoint(self, learner: Learner, dist: Dist) -> None:
        rngs = gather_objects(dist, rng_state())  # every rank takes part; rank 0 writes
        if not dist.main or self.checkpoint_dir is None:
            return
        began = self.clock()
        state = {
            "step": self.step,
            "world": dist.world,
            "rng": rngs,
            "learner": learner.state_dict(),
            "train_config": to_dict(self.config),
            "best": self.best,
            "seconds": self.seconds(),
        }

        def fill(tmp: Path) -> None:
            self.model.write_files(tmp)
            save_state(tmp / "trainer_state.pt", state)

        write_dir_atomic(self.checkpoint_dir, fill)
        self.costs["save"] = self.clock() - began

    def load_checkpoint(self, learner: Learner, dist: Dist) -> bool:
        """Restore weights, optimisers, chain state, RNG and step; False if there is none yet."""
        ckpt = resolve_dir(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if ckpt is None or not ckpt.exists():
            return False
        saved = type(self.model).read_config(ckpt)
        if to_dict(saved) != to_dict(self.model.config):
            diff = _first_difference(to_dict(saved), to_dict(self.model.config))
            raise ModelLoadError(f"checkpoint {ckpt} was made with a different model config ({diff})")
        self.model.load_weights(load_tensors(ckpt / "model.safetensors"), where=ckpt / "model.safetensors")
        self.model.load_extra(ckpt)
        state = load_state(ckpt / "trainer_state.pt")
        for key in ("seed", "batch_size"):
            if state["train_config"].get(key) != getattr(self.config, key):
                raise ModelLoadError(
                    f"checkpoint {ckpt} was made with {key} = {state['train_config'].get(key)}, "
                    f"this run has {getattr(self.config, key)}"
                )
        try:
            learner.load_state_dict(state["learner"])
        except (KeyError, ValueError, DataError) as e:
            raise ModelLoadError(f"{ckpt / 'trainer_state.pt'} does not fit this model: {e}") from None
        self.step, self.best = int(state["step"]), float(state.get("best", -math.inf))
        self.seconds_before = float(state.get("seconds", 0.0))
        if state["world"] == dist.world:
            set_rng_state(state["rng"][dist.rank])
        else:  # a different process count shards the data differently: close, not identical
            seed_everything(self.config.seed + 7919 * self.step + dist.rank)
        return True

    # --- the loop -------------------------------------------------------------------------------
    def log(self, dist: Dist, record: dict[str, Any]) -> None:
        """Append a record (with the training seconds so far, resumed runs included) to train_log.jsonl."""
        if dist.main and self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            record = record | {"seconds": round(self.seconds(), 1)}
            with (self.out_dir / "train_log.jsonl").open("a") as fh:
                fh.write(json.dumps(record) + "\n")

    def seconds(self) -> float:
        """Wall-clock seconds this run has trained, earlier (resumed) processes included."""
        return self.seconds_before + self.clock() - self.command_started

    def evaluate(self, dist: Dist) -> dict[str, float]:
        """Run the eval callback and the latent diagnostics without disturbing the training RNG streams."""
        if not dist.main or (self.eval_fn is None and not self.diagnosing):
            return {}
        began, saved = self.clock(), rng_state()
        self.model.eval()
        try:
            metrics = {k: float(v) for k, v in self.eval_fn(self.model).items()} if self.eval_fn else {}
            metrics |= self.diagnose()
        finally:
            self.model.train()
            set_rng_state(saved)
        self.costs["evaluate"] = self.clock() - began
        self.log(dist, {"step": self.step, "eval": metrics})
        key, sign = self.config.keep_best.lstrip("-"), -1.0 if self.config.keep_best.startswith("-") else 1.0
        if key and self.out_dir is not None:
            if key not in metrics:
                raise ConfigError(
                    f"keep_best = {self.config.keep_best!r}, but the evaluation reports only {sorted(metrics)}"
                )
            if sign * metrics[key] > self.best:
                self.best = sign * metrics[key]
                self.model.save_pretrained(self.out_dir / "best")
                self.log(dist, {"step": self.step, "best": {key: metrics[key]}})
        return metrics

    @property
    def diagnosing(self) -> bool:
        return bool(self.config.diagnose) and self.model.latent

    def diagnose(self) -> dict[str, float]:
        """Latent diagnostics on fixed training rows; one warning line once the latent has collapsed."""
        if not self.diagnosing:
            return {}
        rows = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.config.seed))[: self.config.diagnose]
        rows = rows.to(self.model.device())
        x = self.data["x"][rows]
        figures = latent_diagnostics(self.model, x, {k: self.data[k][rows] for k in self.model.heads})
        self.model.diagnostics = {"step": self.step, **figures}
        self.collapsed.append(figures["au"] == 0 or figures["mi"] < COLLAPSE_MI)
        if (
            len(self.collapsed) >= COLLAPSE_EVALS
            and all(self.collapsed[-COLLAPSE_EVALS:])
            and not any(self.collapsed[-COLLAPSE_EVALS - 1 : -COLLAPSE_EVALS])
        ):
            log.warning(
                f"warning: the latent has collapsed (active units {figures['au']:g}, MI {figures['mi']:.3f} nats "
                f"at step {self.step}, {COLLAPSE_EVALS} evaluations in a row): z carries almost nothing about x; "
                "see free_bits, pretrain_steps, decoder input_dropout and the bag head"
            )
        return figures

    def reserve(self) -> float:
        """Seconds kept at the end of a budgeted run for one more step, the final evaluation, checkpoint and
        model save."""
        return self.costs["step"] + 1.2 * self.costs["evaluate"] + 2.5 * self.costs["save"]

    def start(self, dist: Dist) -> tuple[Learner, bool]:
        """The learner on `dist`'s device, resumed from the checkpoint (when asked and there is one) or initialised
        (init_from, warm_start) and seeded per rank; True when it resumed."""
        cfg = self.config
        self.model.to(dist.device)
        self.data = {k: v.to(dist.device) for k, v in self.data.items()}
        seed_everything(cfg.seed)  # identical chain-start state on every rank
        learner = Learner(self.model, cfg, self.n, dist)
        resumed = self.resume and self.load_checkpoint(learner, dist)
        if self.resume and dist.main:
            log.info(
                f"resuming from step {self.step} ({self.seconds_before / 60:.1f} training minutes) of {self.out_dir}"
                if resumed
                else f"resume: no checkpoint in {self.out_dir}; starting at step 0"
            )
        if not resumed:  # in place: the optimisers hold the same parameters
            if cfg.init_from:
                self.model.init_from(cfg.init_from)
            elif cfg.warm_start:
                self.model.warm_start(cfg.warm_start)
            seed_everything(cfg.seed + dist.rank)
        if dist.main and not cfg.quiet:
            log.info(f"precision: {learner.precision} ({learner.precision_reason})")
        learner.distribute()
        return learner, resumed

    def after_step(self, dist: Dist, learner: Learner, bar: Any, snapshots: list[float]) -> dict[str, float]:
        """The step's log line, evaluation, checkpoint and snapshots, each when it is due; the evaluation's
        figures (empty when none was due)."""
        cfg, metrics = self.config, {}
        if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
            metrics = self.evaluate(dist)
            if metrics and not cfg.quiet:
                bar.write(f"step {self.step}: " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps:
            self.save_checkpoint(learner, dist)
        while snapshots and self.seconds() >= 60 * snapshots[0]:
            minutes = snapshots.pop(0)
            assert self.out_dir is not None  # snapshots are only planned with an output directory
            self.model.save_pretrained(self.out_dir / f"snapshot-{minutes:g}min")
            self.log(dist, {"step": self.step, "snapshot": f"snapshot-{minutes:g}min"})
        return metrics

    def fit(self) -> dict[str, Any]:
        """Train to `config.steps`; returns the last step's figures and the last evaluation."""
        cfg = self.config
        if cfg.keep_best and self.eval_fn is None:
            raise ConfigError(f"keep_best = {cfg.keep_best!r} needs an evaluation, and this run has none")
        dist = setup(cfg.device)
        learner, resumed = self.start(dist)
        bar = progress(total=cfg.steps, initial=self.step, quiet=cfg.quiet or not dist.main, desc="train")
        stats: dict[str, float] = {}
        metrics: dict[str, float] = {}
        noise0 = self.model.ebm.posterior_chain.noise
        deadline = self.command_started + 60 * cfg.max_minutes - self.seconds_before if cfg.max_minutes else math.inf
        if cfg.max_minutes:  # time an evaluation (the starting figures) and a save, so that the final ones fit
            metrics = self.evaluate(dist)
            self.save_checkpoint(learner, dist)
        snapshots = (
            sorted(m for m in cfg.snapshot_minutes if not (self.out_dir / f"snapshot-{m:g}min").exists())
            if self.out_dir is not None and dist.main
            else []
        )
        while self.step < cfg.steps and not _all_past(dist, deadline - self.reserve(), self.clock()):
            index = self.batch_indices(self.step, dist)
            batch = {k: v[index] for k, v in self.data.items()} | {"index": index.to(dist.device)}
            noise = (
                None
                if cfg.posterior_noise_final is None
                else noise0 + (cfg.posterior_noise_final - noise0) * self.step / cfg.steps
            )
            began = self.clock()
            stats = learner.step(batch, self.step, noise)
            self.costs["step"] = self.clock() - began
            self.step += 1
            bar.update(1)
            bar.set_postfix({k: f"{stats[k]:.3g}" for k in SHOWN if k in stats}, refresh=False)
            if cfg.log_every and self.step % cfg.log_every == 0:
                self.log(dist, {"step": self.step, **stats})
            metrics = self.after_step(dist, learner, bar, snapshots) or metrics
        bar.close()
        if self.clock() + self.costs["evaluate"] <= deadline:
            metrics = self.evaluate(dist) or metrics
        elif dist.main:
            log.warning(f"note: no final evaluation: the time budget (max_minutes {cfg.max_minutes:g}) is spent")
        self.finish(learner, dist)
        return {"step": self.step, "resumed": resumed, "stats": stats, "eval": metrics}

    def finish(self, learner: Learner, dist: Dist) -> None:
        """The last checkpoint and the trained model; every rank waits until rank 0 has saved them."""
        self.save_checkpoint(learner, dist)
        if dist.main and self.out_dir is not None:
            self.model.save_pretrained(self.out_dir / "model")
            log.info(
                f"wrote {self.out_dir / 'model'} (the trained model), {self.out_dir / 'checkpoint'} (to resume) "
                f"and {self.out_dir / 'train_log.jsonl'}"
            )
        if dist.active:  # no rank tears the process group down while rank 0 still evaluates and saves
            torch.distributed.barrier()


def _all_past(dist: Dist, deadline: float, now: float) -> bool:
    """True once rank 0's clock reads `now` past the deadline (all ranks stop at the same step)."""
    if deadline == math.inf:
        return False
    past = torch.tensor([float(now > deadline)], device=dist.device)
    if dist.active:
        torch.distributed.broadcast(past, src=0)
    return bool(past.item())


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}{k}.")
    return f"{where.rstrip('.')}: {a!r} in the checkpoint, {b!r} now"
