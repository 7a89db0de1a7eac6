"""Heads on the latent vector: property heads p(y | z) = N(g(z), v) (one per property), and the bag
head p(b | z) = prod_j Bernoulli(b_j; sigmoid(h_j(z))) over a multi-hot bag of the observation's parts
(words of a sentence, fingerprint bits of a molecule; Zhao et al. 2017), which gives z a signal that
does not wait for the sequence decoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .config import check_choices, option
from .distributed import widened
from .errors import ConfigError
from .prior import Activation, mlp


@dataclass
class HeadConfig:
    hidden: list[int] = option([200, 200], "hidden widths of the head MLP g")
    activation: Activation = option("swish", "activation of the head MLP")
    variance: float = option(0.05, "fixed variance v of p(y|z) = N(g(z), v); 0.05 weighs MSE by 10")
    output: Literal["linear", "sigmoid"] = option("linear", "output map: linear, or sigmoid for values in (0, 1)")

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.variance > 0:
            raise ConfigError(f"head variance must be > 0, got {self.variance}")


class GaussianHead(nn.Module):
    """p(y | z) = N(g(z), v). Rows whose y is NaN (unknown) contribute nothing."""

    def __init__(self, latent_dim: int, config: HeadConfig):
        super().__init__()
        self.config = config
        self.net = mlp([latent_dim, *config.hidden, 1], config.activation)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """The mean g(z), shape [B]."""
        out = widened(self.net(z)[:, 0])  # fp32 under autocast too
        return torch.sigmoid(out) if self.config.output == "sigmoid" else out

    def log_likelihood(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-(y - g(z))^2 / (2 v) per row (the constant is dropped); 0 where y is NaN."""
        y = y.to(z.dtype)
        known = torch.isfinite(y)
        err = torch.where(known, y, torch.zeros_like(y)) - self.predict(z)
        return torch.where(known, -err.pow(2) / (2 * self.config.variance), torch.zeros_like(err))


@dataclass
class BagConfig:
    size: int = option(0, "length n of the multi-hot bag b (0 = no bag head)")
    hidden: list[int] = option([256], "hidden widths of the bag head MLP h")
    weight: float = option(1.0, "weight of log p(b | z) in the model (1 = a plain extra observation)")

    def __post_init__(self) -> None:
        if self.size < 0 or not self.weight > 0:
            raise ConfigError(f"bag size must be >= 0 and weight > 0, got {self.size} and {self.weight}")


class BagHead(nn.Module):
    """weight * sum_j log Bernoulli(b_j; sigmoid(h_j(z))): how well z predicts the bag b [B, n] of 0/1."""

    def __init__(self, latent_dim: int, config: BagConfig):
        super().__init__()
        self.config = config
        self.net = mlp([latent_dim, *config.hidden, config.size], "swish")

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """Probabilities of each part, [B, n]."""
        return torch.sigmoid(self.net(z))

    def log_likelihood(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        logits = widened(self.net(z))
        bce = nn.functional.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
        return -self.config.weight * bce.sum(1)
