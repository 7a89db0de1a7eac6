"""The learning and training options (the `[train]` table, every flag of a `train` command), kept free of torch
so that building the command line imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .config import check_choices, option
from .errors import ConfigError


@dataclass
class LearnConfig:
    lr_generator: float = option(1e-3, "Adam learning rate of the generator, heads and encoder")
    lr_prior: float = option(1e-4, "Adam learning rate of the energy prior")
    betas: list[float] = option([0.5, 0.999], "Adam betas (both optimisers)")
    clip_generator: float | None = option(5.0, "gradient-norm clip for the generator side (none if unset)")
    clip_prior: float | None = option(1.0, "gradient-norm clip for the prior (none if unset)")
    prior_chains: int = option(0, "prior chains per step (0 = the batch size)")
    prior_energy_reg: float = option(
        0.0,
        "weight of mean f(z)^2 on prior samples and posterior samples: keeps "
        "the energy's level from drifting (0 = off)",
    )
    label_weight: float = option(1.0, "weight w of log p(label | z) for labeled rows (coupled prior; 1 = exact ML)")
    lr_class: float = option(
        0.0,
        "coupled prior: the class terms (log p(label | z) on the batch's labeled rows, "
        "and the class-use term) get their own unclipped Adam at this rate, after the "
        "prior's own update (0 = they join the prior's loss, weighted by label_weight)",
    )
    encoder_objective: Literal["chain", "elbo"] = option(
        "elbo", "amortised start: fit q(z|x) to the posterior by the ELBO, or to the chain outputs"
    )
    class_mi_weight: float = option(
        0.0,
        "coupled prior: weight of the class-use information H(mean p(y|z)) - "
        "mean H(p(y|z)) on each batch, maximised by f and the encoder (0 = off)",
    )
    kl_warmup_steps: int = option(
        0,
        "ELBO encoder: the KL weight b rises linearly from 0 to 1 over this many "
        "steps (KL annealing, 0 = off; counted after pretrain_steps)",
    )
    free_bits: float = option(
        0.0,
        "ELBO encoder: KL floor l per latent dimension in nats (free bits): a "
        "dimension's batch-mean KL to the reference below l gives no gradient (0 = off)",
    )
    pretrain_steps: int = option(
        0,
        "encoder warm-up (Li et al. 2019): the first steps train an autoencoder (KL "
        "weight 0), then the generator is re-initialised (0 = off)",
    )
    prior_objective: Literal["contrastive", "nce"] = option(
        "contrastive",
        "prior learning: posterior-minus-prior-chain contrast (maximum likelihood), or noise-"
        "contrastive estimation of f_a = log(aggregate posterior / reference) without prior chains",
    )
    prior_init: Literal["reference", "persistent"] = option(
        "reference", "contrastive prior: start prior chains from the reference, or from a persistent replay buffer"
    )
    prior_buffer: int = option(10000, "size of the persistent prior-chain buffer")
    elbo_energy: float = option(
        1.0,
        "ELBO encoder: weight of the energy f_a(z) in the ELBO that trains the encoder "
        "and the generator (1 = exact; 0 = they see only the reference N(0, s^2 I), "
        "and f_a fits the aggregate posterior beside them: a noise-contrastive prior, "
        "Aneja et al. 2021)",
    )
    prior_reinit: float = option(0.05, "share of persistent prior chains restarted from the reference each step")
    latent_dropout: float = option(
        0.0,
        "share of rows whose generator term reads a reference draw z ~ N(0, s^2 I) "
        "instead of their posterior sample (latent dropout): the generator stays a "
        "good sampler where prior samples miss the aggregate posterior (0 = off)",
    )
    precision: Literal["auto", "bf16", "fp32"] = option(
        "fp32",
        "arithmetic of the generator side's passes (decoder, encoder, heads, posterior chains): bf16 autocast "
        "(weights, gradients and optimiser state stay fp32), fp32, or auto (bf16 where the device computes "
        "it natively: CUDA with bf16, a CPU with AVX512-BF16 or AMX)",
    )

    def __post_init__(self) -> None:
        check_choices(self)
        if not (self.lr_generator > 0 and self.lr_prior > 0 and self.lr_class >= 0):
            raise ConfigError("learning rates must be > 0 (lr_class >= 0)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        for name in ("clip_generator", "clip_prior"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 or unset")
        if self.kl_warmup_steps < 0:
            raise ConfigError(f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        if self.prior_chains < 0:
            raise ConfigError(f"prior_chains must be >= 0, got {self.prior_chains}")
        if self.free_bits < 0 or self.pretrain_steps < 0:
            raise ConfigError(f"free_bits and pretrain_steps must be >= 0, got {self.free_bits}, {self.pretrain_steps}")
        if not 0 <= self.elbo_energy <= 1:
            raise ConfigError(f"elbo_energy must be in [0, 1], got {self.elbo_energy}")
        if not 0 <= self.latent_dropout < 1:
            raise ConfigError(f"latent_dropout must be in [0, 1), got {self.latent_dropout}")
        if self.prior_buffer < 1 or not 0 <= self.prior_reinit <= 1:
            raise ConfigError(
                f"prior_buffer must be >= 1 and prior_reinit in [0, 1], got {self.prior_buffer}, {self.prior_reinit}"
            )

    def kl_weight(self, step: int) -> float:
        """The KL weight b at learning step `step` (0 while pre-training, then the annealing ramp)."""
        if step < self.pretrain_steps:
            return 0.0
        after = step - self.pretrain_steps
        return min(1.0, (after + 1) / self.kl_warmup_steps) if self.kl_warmup_steps else 1.0


@dataclass
class TrainConfig(LearnConfig):
    steps: int = option(1000, "total number of learning steps")
    batch_size: int = option(128, "examples per step and process")
    seed: int = option(0, "seed for data order, chains and initialisation")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    log_every: int = option(10, "write a log line every this many steps")
    eval_every: int = option(0, "run the evaluation every this many steps (0 = at the end only)")
    checkpoint_every: int = option(0, "write a checkpoint every this many steps (0 = at the end only)")
    quiet: bool = option(False, "no progress bar")
    max_minutes: float = option(
        0.0,
        "wall-clock budget of the whole command, earlier resumed processes' training "
        "included: the loop stops early enough for the final evaluation and save to fit "
        "(their cost is timed at the start), leaving a checkpoint to --resume (0 = no limit)",
    )
    keep_best: str = option(
        "",
        "also keep out_dir/best/: the model at the evaluation with the highest value of "
        "this figure, e.g. valid, or with a leading '-' the lowest, e.g. -ppl ('' = off)",
    )
    posterior_noise_final: float | None = option(
        None, "during training, move the posterior chain's noise factor linearly from its configured value to this one"
    )
    snapshot_minutes: list[float] = option(
        [],
        "also save the model as out_dir/snapshot-<M>min/ once training has "
        "run M minutes (wall-clock, earlier resumed processes included; for equal-time comparisons)",
    )
    warm_start: str = option(
        "",
        "a model directory whose generator starts this run (e.g. a language model's "
        "decoder, use_latent = false: z's weights start at zero, so training begins from "
        "its fluency); ignored when resuming ('' = off)",
    )
    init_from: str = option(
        "",
        "a model directory whose every part (prior, generator, encoder, heads) starts this "
        "run, the optimisers fresh at step 0: to go on training a saved model, e.g. with "
        "other settings or precision (a warm_start beside it is ignored); ignored when "
        "resuming ('' = off)",
    )
    diagnose: int = option(256, "latent diagnostics at every evaluation on this many fixed training rows (0 = off)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("log_every", "eval_every", "checkpoint_every", "max_minutes", "diagnose"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
