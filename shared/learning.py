"""The maximum-likelihood learning step, generic over the generator.

For a batch x (and property values y):
  1. posterior samples z+ ~ p(z | x, y): Langevin chains started by the configured strategy; with an
     ELBO-trained encoder and 0 chain steps, z+ ~ q(z | x) reparameterised (a VAE step with the
     energy prior: one generator pass trains generator, heads and encoder together)
  2. generator, heads (and encoder):  minimise -mean[log p_b(x | z+) + sum_k log p_k(y_k | z+)]
     the encoder by the negative ELBO  -E_q[log p(x, y | z) + b f_a(z)] + b sum_j max(l, KL_j(q || p0))
     (b: KL weight, annealed; l: free bits per dimension, KL_j averaged over the batch)
  3. prior, one of
     contrastive: minimise mean f_a(z-) - mean f_a(z+), z- ~ p_a by prior chains from the reference
                  or from a persistent replay buffer (+ r mean f^2, the level guard);
     nce:         logistic regression of z+ against z0 ~ p0 = N(0, s^2 I) with logit f_a: at its optimum
                  exp(f_a) p0 is the aggregate posterior, self-normalised; no prior chains. With K stages
                  (multi-stage density-ratio estimation, Xiao and Han 2022): z_k = sqrt(1 - r_k^2) z+ + r_k s eps
                  with noise levels r_k falling geometrically from 1 (k = 0: the reference) to 0.05 (k = K - 1),
                  and r_K = 0 (z+ itself); stage output f_k is the logit of z_k against z_(k-1), f_a = sum_k f_k.
                  (A single logistic regression saturates when the posteriors are far from the reference.)
With precision bf16 the generator side (posterior chains, decoder, encoder, heads) runs under autocast, one
step at a time, its losses summed in fp32; the prior's update and every optimiser stay in fp32.
Two Adam optimisers with separate learning rates and gradient-norm clipping (a third, unclipped, for a
coupled prior's class terms when lr_class > 0: f then learns the labels at its own rate). Under torchrun the
two updates go through DistributedDataParallel; chains use the plain modules.

Against posterior collapse (all options): free bits, KL annealing, and the encoder warm-up of Li et
al. 2019 (`pretrain_steps` as an autoencoder, then the generator is re-initialised); the apps add
decoder input dropout and a bag head (shared/heads.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .distributed import Dist, autocast, resolve_precision, widened
from .errors import ConfigError, DataError
from .kernel import LangevinResult
from .model import LatentEBM
from .options import LearnConfig
from .posterior import encoder_nll, make_posterior_init
from .prior import class_information

NCE_MIN_NOISE = 0.05  # multi-stage NCE: the noise level of the last stage before the posterior samples


class GeneratorSide(nn.Module):
    """Generator, heads and (when amortised) encoder: the modules the posterior samples train."""

    def __init__(self, model: LatentEBM, config: LearnConfig):
        super().__init__()
        self.config = config
        self.generator, self.heads = model.generator, model.heads
        self.encoder: Any = model.encoder if model.ebm.posterior_init == "amortised" else None
        self.joint = (
            self.encoder is not None and config.encoder_objective == "elbo" and model.ebm.posterior_chain.steps == 0
        )
        self._prior = [model.prior]  # read (never trained) here: kept out of this module's parameters

    def forward(
        self,
        x: Any,
        ys: dict[str, torch.Tensor],
        z: torch.Tensor | None,
        labels: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        start: tuple[torch.Tensor, torch.Tensor, float] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Loss of the generator side and the posterior samples it used. z: posterior samples from chains,
        or None for the joint VAE step (z drawn from q here). `start` = (z0, grad_z log p(x, y, z0), mean
        of log p(x, y, z0)) from the posterior chain's first step, when z0 was drawn from the encoder: the
        ELBO then reuses that gradient instead of another pass through the generator."""
        if z is None:
            mean, logvar = (widened(t) for t in self.encoder(x))
            loss, stats, z = self._negative_elbo(x, ys, mean, logvar, labels, kl_weight, train_generator=True)
            return loss, stats, z.detach()
        loss, stats = self._data_log_likelihood(x, ys, z)
        loss = -loss.mean()
        if self.encoder is not None:
            mean, logvar = (widened(t) for t in self.encoder(x))
            if self.config.encoder_objective == "chain":
                term = encoder_nll(mean, logvar, z).mean()
            elif start is not None:
                term = self._negative_elbo_at_start(mean, logvar, *start, kl_weight)
            else:
                term = self._negative_elbo(x, ys, mean, logvar, labels, kl_weight)[0]
            stats["encoder_loss"] = term.detach()
            loss = loss + term
        return loss, stats, z

    def _data_log_likelihood(
        self, x: Any, ys: dict[str, torch.Tensor], z: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """log p_b(x | z) + sum_k log p_k(y_k | z) per row, and each term's batch mean (negated) as stats; in
        training, with latent dropout, a share of the rows' generator terms read a reference draw instead of z."""
        z_x = z
        if self.training and self.config.latent_dropout:
            drop = torch.rand(len(z), 1, device=z.device) < self.config.latent_dropout
            z_x = torch.where(drop, self._prior[0].sample_reference(len(z), z.device), z)
        total = widened(self.generator.log_likelihood(x, z_x))
        stats = {"nll_x": -total.mean().detach()}
        heads: dict[str, Any] = dict(self.heads.items())
        for name, head in heads.items():
            term = widened(head.log_likelihood(ys[name], z))
            stats[f"nll_{name}"] = -term.mean().detach()
            total = total + term
        return total, stats

    def _kl(
        self, mean: torch.Tensor, logvar: torch.Tensor, kl_weight: float, stats: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """b * sum_j max(l, mean_batch KL_j(q(z|x) || N(0, s^2 I))) (the reference part of the KL)."""
        kl = kl_to_reference(mean, logvar, self._prior[0].config.ref_std).mean(0)
        stats["kl_ref"] = kl.sum().detach()
        return kl_weight * kl.clamp_min(self.config.free_bits).sum()

    def _negative_elbo(
        self,
        x: Any,
        ys: dict[str, torch.Tensor],
        mean: torch.Tensor,
        logvar: torch.Tensor,
        labels: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        train_generator: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """-E_q[log p(x, y | z) + b f_a(z)] + b KL(q || p0) (free bits as configured), reparameterised; the
        prior is frozen, and so are the generator and heads unless `train_generator` (the joint step)."""
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        prior = self._prior[0]
        with frozen(prior), frozen(self.generator, self.heads, when=not train_generator):
            log_joint, stats = self._data_log_likelihood(x, ys, z)
            if kl_weight * self.config.elbo_energy:
                log_joint = log_joint + kl_weight * self.config.elbo_energy * prior(z)
            if labels is not None:
                log_joint = log_joint + self.config.label_weight * prior.class_log_likelihood(labels, z)
            bonus = self._class_bonus(z)
        loss = -log_joint.mean() + self._kl(mean, logvar, kl_weight, stats) - bonus
        return loss, stats, z

    def _negative_elbo_at_start(
        self,
        mean: torch.Tensor,
        logvar: torch.Tensor,
        z0: torch.Tensor,
        grad0: torch.Tensor,
        log_joint0: float,
        kl_weight: float = 1.0,
    ) -> torch.Tensor:
        """The loss of `_negative_elbo` and the same encoder gradient, for the draw z0 ~ q(z|x) the chain started
        from: z0 is rebuilt as mean + std * eps, so d log p(x, y, z0) / d phi = grad0 . d z0 / d phi needs no
        generator pass. The chain's target holds log p_a(z) = f_a(z) - |z|^2 / 2s^2 once: the reference part
        is taken out (the KL term holds it) and f_a reweighted by b."""
        prior, std = self._prior[0], (0.5 * logvar).exp()
        z = mean + std * ((z0 - mean) / std).detach()
        log_joint = log_joint0 + (grad0 * (z - z.detach())).sum(1) + z.pow(2).sum(1) / (2 * prior.config.ref_std**2)
        if kl_weight != 1.0:
            with frozen(prior):
                log_joint = log_joint + (kl_weight - 1.0) * prior(z)
        return -log_joint.mean() + self._kl(mean, logvar, kl_weight, {}) - self._class_bonus(z)

    def _class_bonus(self, z: torch.Tensor) -> torch.Tensor | float:
        weight = self.config.class_mi_weight
        return weight * class_information(self._prior[0].logits(z)) if weight else 0.0


class Learner:
    """Holds the optimisers and chain-start state; `step(batch)` does one learning step."""

    def __init__(self, model: LatentEBM, config: LearnConfig, n_data: int, dist: Dist | None = None):
        self.model, self.config, self.dist = model, config, dist or Dist()
        self.init = make_posterior_init(model, n_data, self.dist)
        self.side: nn.Module = GeneratorSide(model, config)
        self.joint = self.side.joint
        self.prior: nn.Module = model.prior
        betas = tuple(config.betas)
        adam: dict[str, Any] = {
            "betas": betas,
            "foreach": True,
        }  # one fused update per optimiser (CPU too): less overhead per step
        self.opt_generator = torch.optim.Adam(self.side.parameters(), lr=config.lr_generator, **adam)
        prior_params = list(model.prior.parameters())
        self.opt_prior = torch.optim.Adam(prior_params, lr=config.lr_prior, **adam) if prior_params else None
        self.opt_class = (
            torch.optim.Adam(prior_params, lr=config.lr_class, **adam)
            if config.lr_class and model.prior.config.kind == "coupled"
            else None
        )
        self.precision, self.precision_reason = resolve_precision(config.precision, model.device())
        self.buffer = (
            model.prior.sample_reference(config.prior_buffer, model.device())
            if config.prior_init == "persistent" and prior_params and config.prior_objective == "contrastive"
            else None
        )

    def distribute(self) -> None:
        """Wrap the two updated parts in DistributedDataParallel (call after loading any checkpoint)."""
        if not self.dist.active:
            return
        if self.config.class_mi_weight or self.opt_class is not None:
            raise ConfigError(
                "class_mi_weight and lr_class are not supported under torchrun (their prior gradients "
                "would not be synced)"
            )
        ids = [self.dist.device] if self.dist.device.type == "cuda" else None
        self.side = DistributedDataParallel(self.side, device_ids=ids)
        if self.opt_prior is not None:
            self.prior = DistributedDataParallel(self.model.prior, device_ids=ids)

    def prior_negatives(self, n: int) -> LangevinResult:
        """z- ~ p_a(z): a prior chain from the reference, or from the persistent buffer (written back)."""
        if self.buffer is None:
            return self.model.sample_prior(n)
        rows = torch.randint(len(self.buffer), (n,), device=self.buffer.device)
        z0 = self.buffer[rows]
        fresh = torch.rand(n, device=z0.device) < self.config.prior_reinit
        z0 = torch.where(fresh[:, None], self.model.prior.sample_reference(n, z0.device), z0)
        neg = self.model.ebm.prior_chain.run(z0, self.model.prior.log_density)
        self.buffer[rows] = neg.z
        return neg

    def reset_generator(self) -> None:
        """Re-initialise the generator (the end of the encoder warm-up) and forget its optimiser state."""
        generator = self.model.generator
        for module in generator.modules():
            if module is not generator and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for p in generator.parameters():
            self.opt_generator.state.pop(p, None)
            if self.dist.active:  # every rank takes rank 0's fresh weights
                torch.distributed.broadcast(p.data, src=0)

    def step(self, batch: dict[str, Any], step: int = 0, posterior_noise: float | None = None) -> dict[str, float]:
        """One learning step (number `step`, counted from 0) on a batch {"x": data, "index": example ids,
        <head name>: values}; `posterior_noise` overrides the posterior chain's noise factor."""
        model, cfg = self.model, self.config
        model.train()
        x, index, labels = batch["x"], batch["index"], batch.get("label")
        ys = {name: batch[name] for name in model.heads}
        if labels is not None and model.prior.config.kind != "coupled":
            raise DataError("training data has labels but the prior is not a coupled prior")
        if cfg.pretrain_steps and step == cfg.pretrain_steps:
            self.reset_generator()
        kl_weight = cfg.kl_weight(step)
        out: dict[str, float] = {"kl_weight": kl_weight}
        self.opt_generator.zero_grad(set_to_none=True)
        with autocast(self.precision, model.device()):
            if self.joint:
                loss, stats, z_post = self.side(x, ys, None, labels, kl_weight)
            else:
                target = model.posterior_log_density(x, ys, labels, cfg.label_weight)
                noise = {} if posterior_noise is None else {"noise": posterior_noise}
                z0 = self.init.initial(x, index)
                post = model.ebm.posterior_chain.run(z0, target, **noise)
                start = None if post.grad_start is None else (z0, post.grad_start, -post.energy_start)
                loss, stats, z_post = self.side(x, ys, post.z, labels, kl_weight, start)
                out.update(langevin_grad_post=post.grad_norm, resets=float(post.resets))
        z_post = widened(z_post)
        loss.backward()
        out["grad_generator"] = _clip(self.side.parameters(), cfg.clip_generator)
        self.opt_generator.step()
        out.update({k: v.item() for k, v in stats.items()})
        if self.opt_prior is not None:
            out.update(self.prior_step(z_post, None if self.opt_class else labels))
        if self.opt_class is not None:
            out.update(self.class_step(z_post, labels))
        self.init.update(index, z_post)
        return out

    def prior_step(self, z_post: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        """One update of the energy prior on the posterior samples z_post (see the module docstring)."""
        model, cfg = self.model, self.config
        n = cfg.prior_chains or len(z_post)
        out: dict[str, float] = {}
        assert self.opt_prior is not None  # a model with a prior to train
        self.opt_prior.zero_grad(set_to_none=True)
        if cfg.prior_objective == "nce" and model.prior.config.stages > 1:
            f_neg, f_pos, f, loss = self._staged_nce(z_post)
        elif cfg.prior_objective == "nce":
            f = self.prior(torch.cat([model.prior.sample_reference(n, z_post.device), z_post]))
            f_neg, f_pos = f[:n], f[n:]
            loss = F.softplus(f_neg).mean() + F.softplus(-f_pos).mean()
            if labels is not None:
                loss = loss - cfg.label_weight * model.prior.class_log_likelihood(labels, z_post).mean()
        else:
            neg = self.prior_negatives(n)
            # positives of labeled rows score f_y(z+), the joint prior's score: exact ML for (x, y)
            joint = None if labels is None else torch.cat([torch.full((n,), -1, device=labels.device), labels])
            f = self.prior(torch.cat([neg.z, z_post]), joint, cfg.label_weight)
            f_neg, f_pos = f[:n], f[n:]
            loss = f_neg.mean() - f_pos.mean()
            out.update(langevin_grad_prior=neg.grad_norm, resets_prior=float(neg.resets))
        loss_prior = loss + cfg.prior_energy_reg * f.pow(2).mean()
        if cfg.class_mi_weight and self.opt_class is None:
            loss_prior = loss_prior - cfg.class_mi_weight * class_information(model.prior.logits(z_post))
        torch.autograd.backward(loss_prior)
        spread = f_pos.std().item() if len(f_pos) > 1 else 0.0  # one example: no spread (and no torch warning)
        out.update(
            f_prior=f_neg.mean().item(),
            f_post=f_pos.mean().item(),
            f_spread=spread,
            loss_prior=loss.item(),
            grad_prior=_clip(self.prior.parameters(), cfg.clip_prior),
        )
        self.opt_prior.step()
        return out

    def class_step(self, z_post: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        """The class terms' own update of f (lr_class): mean -log p(y | z+) over the batch's labeled rows,
        minus class_mi_weight times the class-use information on the whole batch."""
        labels = torch.full((len(z_post),), -1, device=z_post.device) if labels is None else labels
        labeled = labels >= 0
        if not labeled.any() and not self.config.class_mi_weight:
            return {}  # nothing to learn from this batch: no step (Adam's momentum would still move f)
        assert self.opt_class is not None  # only called with lr_class on a coupled prior
        self.opt_class.zero_grad(set_to_none=True)
        logits = self.model.prior.logits(z_post)
        loss = -self.model.prior.picked_log_softmax(logits, labels).sum() / labeled.sum().clamp(min=1)
        if self.config.class_mi_weight:
            loss = loss - self.config.class_mi_weight * class_information(logits)
        torch.autograd.backward(loss)
        self.opt_class.step()
        return {"loss_class": loss.item()}

    def _staged_nce(self, z_post: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Multi-stage NCE loss (module docstring); returns (f at reference draws, f at z+, all f, loss)."""
        stages, prior = self.model.prior.config.stages, self.model.prior
        b = len(z_post)
        noise = [NCE_MIN_NOISE ** (k / (stages - 1)) for k in range(stages)] + [0.0]
        path = [
            z_post * (1 - r * r) ** 0.5 + prior.sample_reference(b, z_post.device) * r for r in noise
        ]  # path[0] ~ p0, path[stages] = z+
        out = self.prior(torch.cat(path), per_stage=True).view(stages + 1, b, stages)
        k = torch.arange(stages, device=z_post.device)
        loss = (F.softplus(-out[k + 1, :, k]) + F.softplus(out[k, :, k])).mean(1).sum()
        f = out.sum(2)
        return f[0], f[stages], f.reshape(-1), loss

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "opt_generator": self.opt_generator.state_dict(),
            "posterior_init": self.init.state_dict(),
        }
        if self.opt_prior is not None:
            state["opt_prior"] = self.opt_prior.state_dict()
        if self.opt_class is not None:
            state["opt_class"] = self.opt_class.state_dict()
        if self.buffer is not None:
            state["prior_buffer"] = self.buffer.cpu()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt_generator.load_state_dict(state["opt_generator"])
        if self.opt_prior is not None:
            self.opt_prior.load_state_dict(state["opt_prior"])
        if self.opt_class is not None:
            if "opt_class" not in state:
                raise DataError("the checkpoint has no state for the class terms' optimiser (lr_class)")
            self.opt_class.load_state_dict(state["opt_class"])
        self.init.load_state_dict(state["posterior_init"])
        if self.buffer is not None:
            buffer = state.get("prior_buffer")
            if buffer is None or buffer.shape != self.buffer.shape:
                raise DataError(f"the checkpoint has no persistent prior buffer of {len(self.buffer)} chains")
            self.buffer = buffer.to(self.buffer)


def kl_to_reference(mean: torch.Tensor, logvar: torch.Tensor, ref_std: float) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, s^2)) per row and dimension."""
    return 0.5 * ((mean.pow(2) + logvar.exp()) / ref_std**2 - 1.0 - logvar) + math.log(ref_std)


@contextmanager
def frozen(*modules: nn.Module, when: bool = True) -> Iterator[None]:
    """Parameters of the modules take no gradient inside the block (inputs still do); a no-op unless `when`."""
    flags = [(p, p.requires_grad) for m in modules if when for p in m.parameters()]
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
