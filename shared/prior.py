"""The energy-based prior on the latent space.

    p_a(z) = exp(f_a(z)) N(z; 0, s^2 I) / Z(a),    energy E_a(z) = -f_a(z) + |z|^2 / (2 s^2)

One class serves three kinds:
  - "ebm":      f_a is an MLP with one output (Pang et al. 2020), or with `stages` = K outputs summed,
                f_a = sum_k f_k, for multi-stage noise-contrastive learning (f_k = log p_k / p_(k-1) along a
                path of noised posteriors from the reference to the aggregate posterior; shared/learning.py);
  - "gaussian": f_a = 0, the plain reference N(0, s^2 I) (the baseline, no parameters);
  - "coupled":  an MLP with K outputs f(z) (symbol-vector coupling): p(y, z) ~ exp(f_y(z)) p0(z),
                marginal score f_a(z) = logsumexp_k f_k(z), class posterior p(y|z) = softmax f(z).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .config import check_choices, option
from .errors import ConfigError, DataError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "swish": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}
Activation = Literal["gelu", "leaky_relu", "swish", "relu", "tanh"]


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


@dataclass
class PriorConfig:
    latent_dim: int = option(100, "dimension d of the latent vector z")
    kind: Literal["ebm", "gaussian", "coupled"] = option(
        "ebm", "learned energy, plain Gaussian, or K-class coupled head"
    )
    ref_std: float = option(1.0, "standard deviation s of the Gaussian reference N(0, s^2 I)")
    hidden: list[int] = option([200, 200], "hidden widths of the energy MLP f_a")
    activation: Activation = option("gelu", "activation of the energy MLP")
    num_classes: int = option(0, "number of classes K (only for kind = 'coupled')")
    stages: int = option(1, "kind 'ebm': f_a as a sum of this many stage outputs (multi-stage NCE, Xiao and Han 2022)")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.ref_std > 0:
            raise ConfigError(f"ref_std must be > 0, got {self.ref_std}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden widths must be >= 1, got {self.hidden}")
        if self.kind == "coupled" and self.num_classes < 2:
            raise ConfigError(f"a coupled prior needs num_classes >= 2, got {self.num_classes}")
        if self.stages < 1 or (self.stages > 1 and self.kind != "ebm"):
            raise ConfigError(f"stages must be >= 1, and > 1 only for kind = 'ebm' (got {self.stages}, '{self.kind}')")
        if self.kind != "coupled" and self.num_classes:
            raise ConfigError(f"num_classes applies only to kind = 'coupled' (kind is '{self.kind}')")


class EnergyPrior(nn.Module):
    """Latent prior exp(f_a(z)) N(0, s^2 I); `forward(z)` returns the score f_a(z), shape [B]."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.config = config
        outputs = {"ebm": config.stages, "gaussian": 0, "coupled": config.num_classes}[config.kind]
        self.net = mlp([config.latent_dim, *config.hidden, outputs], config.activation) if outputs else None

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def check(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latent z must have shape [batch, {self.latent_dim}], got {list(z.shape)}")
        return z

    def raw(self, z: torch.Tensor) -> torch.Tensor:
        """The MLP outputs: [B, stages] for 'ebm', [B, K] for 'coupled'."""
        if self.net is None:
            raise ConfigError("a Gaussian prior has no energy network")
        return self.net(self.check(z))

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, label_weight: float = 1.0, per_stage: bool = False
    ) -> torch.Tensor:
        """Score f_a(z): MLP output (summed over stages), logsumexp of the K outputs, or 0 for the Gaussian prior.
        `per_stage`: the stage outputs [B, stages] of an 'ebm' prior instead of their sum.

        Coupled prior with labels (-1 = unlabeled): labeled rows score logsumexp f(z) + w log p(y|z),
        which is the joint score f_y(z) for w = 1 (one forward, as DistributedDataParallel needs).
        """
        if self.net is None:
            return self.check(z).new_zeros(z.shape[0])
        out = self.raw(z)
        if self.config.kind == "ebm":
            return out if per_stage else out.sum(1)
        score = torch.logsumexp(out, dim=1)
        if labels is not None:
            score = score + label_weight * self.picked_log_softmax(out, labels)
        return score

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """E_a(z) = -f_a(z) + |z|^2 / (2 s^2), shape [B]."""
        return -self(z) + z.pow(2).sum(dim=1) / (2 * self.config.ref_std**2)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised log p_a(z) = -E_a(z); the Langevin target for prior sampling."""
        return -self.energy(z)

    def grad_energy(self, z: torch.Tensor) -> torch.Tensor:
        """dE_a/dz for each row of z (no parameter gradients are accumulated)."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.energy(z).sum(), z)
        return g

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Class logits f(z), shape [B, K] (coupled prior only); p(y|z) = softmax(f(z))."""
        if self.config.kind != "coupled":
            raise ConfigError(f"class logits need a coupled prior, this one is '{self.config.kind}'")
        return self.raw(z)

    def class_log_likelihood(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(y|z) = f_y(z) - logsumexp f(z) per row; rows with y = -1 (unlabeled) give 0."""
        return self.picked_log_softmax(self.logits(z), y)

    @staticmethod
    def picked_log_softmax(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, dim=1)
        y = y.long()
        if ((y < -1) | (y >= logp.shape[1])).any():
            raise DataError(f"class labels must be in [0, {logp.shape[1] - 1}] or -1 for unlabeled")
        picked = logp.gather(1, y.clamp(min=0)[:, None])[:, 0]
        return torch.where(y >= 0, picked, torch.zeros_like(picked))

    def sample_reference(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        """n draws from the reference N(0, s^2 I): the noise initialisation of every chain."""
        device = device or next(self.parameters(), torch.empty(0)).device
        return torch.randn(n, self.latent_dim, device=device) * self.config.ref_std

    def reference_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised log N(z; 0, s^2 I)."""
        s, d = self.config.ref_std, self.latent_dim
        return -z.pow(2).sum(1) / (2 * s * s) - d * math.log(s) - 0.5 * d * math.log(2 * math.pi)


def class_information(logits: torch.Tensor) -> torch.Tensor:
    """H(mean_b p(y | z_b)) - mean_b H(p(y | z_b)) over a batch: the mutual information between rows and
    classes; high when every row is confidently classified and the classes are used evenly."""
    logp = torch.log_softmax(logits, dim=1)
    mean_p = logp.exp().mean(0)
    return -(mean_p * mean_p.clamp_min(1e-12).log()).sum() + (logp.exp() * logp).sum(1).mean()
