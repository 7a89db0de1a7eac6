"""The maximum-likelihood learning step, generic over the generator.

For a batch x (and property values y):
  1. posterior chains  z+ ~ p(z | x, y)   (started by the configured initialisation strategy)
     prior chains      z- ~ p_a(z)        (started from the reference)
  2. generator, heads (and encoder):  minimise -mean[log p_b(x | z+) + sum_k log p_k(y_k | z+)]
                                      (+ mean[-log q(z+ | x)] for the amortised encoder)
  3. prior:                           minimise mean f_a(z-) - mean f_a(z+)
Two Adam optimisers with separate learning rates and gradient-norm clipping. Under torchrun the
two updates go through DistributedDataParallel; chains use the plain modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .config import check_choices, option
from .distributed import Dist
from .errors import ConfigError, DataError
from .model import LatentEBM
from .posterior import encoder_nll, make_posterior_init


@dataclass
class LearnConfig:
    lr_generator: float = option(1e-3, "Adam learning rate of the generator, heads and encoder")
    lr_prior: float = option(1e-4, "Adam learning rate of the energy prior")
    betas: list[float] = option([0.5, 0.999], "Adam betas (both optimisers)")
    clip_generator: float | None = option(5.0, "gradient-norm clip for the generator side (none if unset)")
    clip_prior: float | None = option(1.0, "gradient-norm clip for the prior (none if unset)")
    prior_chains: int = option(0, "prior chains per step (0 = the batch size)")
    prior_energy_reg: float = option(0.0, "weight of mean f(z)^2 on prior samples and posterior samples: keeps "
                                          "the energy's level from drifting (0 = off)")
    label_weight: float = option(1.0, "weight w of log p(label | z) for labeled rows (coupled prior; 1 = exact ML)")
    encoder_objective: Literal["chain", "elbo"] = option(
        "elbo", "amortised start: fit q(z|x) to the posterior by the ELBO, or to the chain outputs")
    class_mi_weight: float = option(0.0, "coupled prior: weight of the class-use information H(mean p(y|z)) - "
                                         "mean H(p(y|z)) on each batch, maximised by f and the encoder (0 = off)")
    kl_warmup_steps: int = option(0, "ELBO encoder: weight of log p(z) - log q(z|x) rises linearly from 0 to 1 "
                                     "over this many steps (KL annealing, 0 = off)")

    def __post_init__(self) -> None:
        check_choices(self)
        if not (self.lr_generator > 0 and self.lr_prior > 0):
            raise ConfigError("learning rates must be > 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        for name in ("clip_generator", "clip_prior"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 or unset")
        if self.kl_warmup_steps < 0:
            raise ConfigError(f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        if self.prior_chains < 0:
            raise ConfigError(f"prior_chains must be >= 0, got {self.prior_chains}")


class GeneratorSide(nn.Module):
    """Generator, heads and (when amortised) encoder: the modules the posterior samples train."""

    def __init__(self, model: LatentEBM, encoder_objective: str = "elbo", class_mi_weight: float = 0.0):
        super().__init__()
        self.class_mi_weight = class_mi_weight
        self.generator, self.heads = model.generator, model.heads
        self.encoder = model.encoder if model.ebm.posterior_init == "amortised" else None
        self.encoder_objective = encoder_objective
        self._prior = [model.prior]  # read (never trained) here: kept out of this module's parameters

    def forward(self, x: Any, ys: dict[str, torch.Tensor], z: torch.Tensor, labels: torch.Tensor | None = None,
                label_weight: float = 1.0, kl_weight: float = 1.0,
                start: tuple[torch.Tensor, torch.Tensor, float] | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of the generator side on posterior samples z. `start` = (z0, grad_z log p(x, y, z0), mean of
        log p(x, y, z0)) from the posterior chain's first step, when z0 was drawn from the encoder: the
        ELBO then reuses that gradient instead of another pass through the generator."""
        nll = -self.generator.log_likelihood(x, z).mean()
        stats = {"nll_x": nll.detach()}
        loss = nll
        for name, head in self.heads.items():
            term = -head.log_likelihood(ys[name], z).mean()
            stats[f"nll_{name}"] = term.detach()
            loss = loss + term
        if self.encoder is not None:
            mean, logvar = self.encoder(x)
            if self.encoder_objective == "chain":
                term = encoder_nll(mean, logvar, z).mean()
            elif start is not None:
                term = self._negative_elbo_at_start(mean, logvar, *start, kl_weight)
            else:
                term = self._negative_elbo(x, mean, logvar, labels, label_weight, kl_weight)
            stats["encoder_loss"] = term.detach()
            loss = loss + term
        return loss, stats

    def _negative_elbo(self, x: Any, mean: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor | None = None,
                       label_weight: float = 1.0, kl_weight: float = 1.0) -> torch.Tensor:
        """-E_q[log p_b(x|z) + b (log p_a(z) - log q(z|x))] (unnormalised p_a, b = kl_weight, 1 = the ELBO),
        reparameterised; the generator and prior parameters are frozen while it is computed, so this
        term trains the encoder alone."""
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        prior = self._prior[0]
        with frozen(self.generator), frozen(prior):
            log_joint = self.generator.log_likelihood(x, z) + kl_weight * prior.log_density(z)
            if labels is not None:
                log_joint = log_joint + label_weight * prior.class_log_likelihood(labels, z)
            bonus = self.class_mi_weight * class_information(prior.logits(z)) if self.class_mi_weight else 0.0
        return -(log_joint + kl_weight * 0.5 * logvar.sum(1)).mean() - bonus  # entropy of q up to a constant


    def _negative_elbo_at_start(self, mean: torch.Tensor, logvar: torch.Tensor, z0: torch.Tensor, grad0: torch.Tensor,
                                log_joint0: float, kl_weight: float = 1.0) -> torch.Tensor:
        """The loss of `_negative_elbo` (with the heads' terms too) and the same encoder gradient, for the draw
        z0 ~ q(z|x) the chain started from: z0 is rebuilt as mean + std * eps, so d log p(x, y, z0) / d phi
        = grad0 . d z0 / d phi needs no generator pass."""
        prior, std = self._prior[0], (0.5 * logvar).exp()
        z = mean + std * ((z0 - mean) / std).detach()
        log_joint = log_joint0 + (grad0 * (z - z.detach())).sum(1)
        if kl_weight != 1.0:  # the chain's target holds log p_a(z) once; the annealed ELBO wants kl_weight times it
            with frozen(prior):
                log_joint = log_joint + (kl_weight - 1.0) * prior.log_density(z)
        bonus = self.class_mi_weight * class_information(prior.logits(z)) if self.class_mi_weight else 0.0
        return -(log_joint + kl_weight * 0.5 * logvar.sum(1)).mean() - bonus


class Learner:
    """Holds the optimisers and chain-start state; `step(batch)` does one learning step."""

    def __init__(self, model: LatentEBM, config: LearnConfig, n_data: int, dist: Dist | None = None):
        self.model, self.config, self.dist = model, config, dist or Dist()
        self.init = make_posterior_init(model, n_data, self.dist)
        self.side: nn.Module = GeneratorSide(model, config.encoder_objective, config.class_mi_weight)
        self.prior: nn.Module = model.prior
        betas = tuple(config.betas)
        self.opt_generator = torch.optim.Adam(self.side.parameters(), lr=config.lr_generator, betas=betas)
        prior_params = list(model.prior.parameters())
        self.opt_prior = torch.optim.Adam(prior_params, lr=config.lr_prior, betas=betas) if prior_params else None

    def distribute(self) -> None:
        """Wrap the two updated parts in DistributedDataParallel (call after loading any checkpoint)."""
        if not self.dist.active:
            return
        if self.config.class_mi_weight:
            raise ConfigError("class_mi_weight is not supported under torchrun (its prior gradient would not be synced)")
        ids = [self.dist.device] if self.dist.device.type == "cuda" else None
        self.side = DistributedDataParallel(self.side, device_ids=ids)
        if self.opt_prior is not None:
            self.prior = DistributedDataParallel(self.model.prior, device_ids=ids)

    def step(self, batch: dict[str, Any], step: int = 0, posterior_noise: float | None = None) -> dict[str, float]:
        """One learning step (number `step`, counted from 0) on a batch {"x": data, "index": example ids,
        <head name>: values}; `posterior_noise` overrides the posterior chain's noise factor."""
        model, cfg = self.model, self.config
        model.train()
        x, index, labels = batch["x"], batch["index"], batch.get("label")
        ys = {name: batch[name] for name in model.heads}
        if labels is not None and model.prior.config.kind != "coupled":
            raise DataError("training data has labels but the prior is not a coupled prior")
        target = model.posterior_log_density(x, ys, labels, cfg.label_weight)
        noise = {} if posterior_noise is None else {"noise": posterior_noise}
        z0 = self.init.initial(x, index)
        post = model.ebm.posterior_chain.run(z0, target, **noise)
        n_prior = cfg.prior_chains or len(index)
        neg = model.sample_prior(n_prior)

        self.opt_generator.zero_grad(set_to_none=True)
        kl_weight = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        start = None if post.grad_start is None else (z0, post.grad_start, -post.energy_start)
        loss, stats = self.side(x, ys, post.z, labels, cfg.label_weight, kl_weight, start)
        loss.backward()
        grad_generator = _clip(self.side.parameters(), cfg.clip_generator)
        self.opt_generator.step()

        out = {k: v.item() for k, v in stats.items()}
        if self.opt_prior is not None:
            self.opt_prior.zero_grad(set_to_none=True)
            # positives of labeled rows score f_y(z+), the joint prior's score: exact ML for (x, y)
            joint = None if labels is None else torch.cat([torch.full((n_prior,), -1, device=labels.device), labels])
            f = self.prior(torch.cat([neg.z, post.z]), joint, cfg.label_weight)
            f_prior, f_post = f[:n_prior].mean(), f[n_prior:].mean()
            loss_prior = f_prior - f_post + cfg.prior_energy_reg * f.pow(2).mean()
            if cfg.class_mi_weight:
                loss_prior = loss_prior - cfg.class_mi_weight * class_information(model.prior.logits(post.z))
            loss_prior.backward()
            out.update(f_prior=f_prior.item(), f_post=f_post.item(), loss_prior=(f_prior - f_post).item(),
                       grad_prior=_clip(self.prior.parameters(), cfg.clip_prior))
            self.opt_prior.step()
        self.init.update(index, post.z)
        out.update(grad_generator=grad_generator, langevin_grad_post=post.grad_norm,
                   langevin_grad_prior=neg.grad_norm, resets=float(post.resets + neg.resets))
        return out

    def state_dict(self) -> dict[str, Any]:
        state = {"opt_generator": self.opt_generator.state_dict(), "posterior_init": self.init.state_dict()}
        if self.opt_prior is not None:
            state["opt_prior"] = self.opt_prior.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt_generator.load_state_dict(state["opt_generator"])
        if self.opt_prior is not None:
            self.opt_prior.load_state_dict(state["opt_prior"])
        self.init.load_state_dict(state["posterior_init"])


def class_information(logits: torch.Tensor) -> torch.Tensor:
    """H(mean_b p(y | z_b)) - mean_b H(p(y | z_b)) over a batch: the mutual information between rows and
    classes; high when every row is confidently classified and the classes are used evenly."""
    logp = torch.log_softmax(logits, dim=1)
    mean_p = logp.exp().mean(0)
    return -(mean_p * mean_p.clamp_min(1e-12).log()).sum() + (logp.exp() * logp).sum(1).mean()


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of `module` take no gradient inside the block (inputs still do)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _clip(params: Any, max_norm: float | None) -> float:
    """Clip the gradient norm (when set) and return the norm before clipping."""
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    if max_norm is None:
        return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
