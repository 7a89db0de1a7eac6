"""A toy latent model with a known answer, used by tests, the demo and `lebm toy`.

Data: z* from a 4-mode mixture in 2-D (modes at (+-1.5, +-1.5), std 0.25, equal weights),
pushed through a fixed nonlinear map G: R^2 -> R^8, plus N(0, 0.1^2) noise. A model with a
Gaussian prior must bend N(0, I) into four clusters with its generator; the EBM prior can put
the four modes in the latent space itself. Held-out measure: MMD between data and model samples
(lower is better), plus the share of samples near a mode and how evenly the modes are used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .config import check_choices, option
from .errors import ConfigError, DataError
from .model import ChainConfig, LatentEBM, LatentEBMConfig
from .prior import Activation, PriorConfig, mlp

CENTRES = torch.tensor([[1.5, 1.5], [1.5, -1.5], [-1.5, 1.5], [-1.5, -1.5]])
MODE_STD, NOISE_STD, DATA_DIM = 0.25, 0.1, 8


def true_map(z: torch.Tensor) -> torch.Tensor:
    """The fixed generator G (seeded, so every process builds the same map)."""
    g = torch.Generator().manual_seed(1234)
    a = torch.randn(2, DATA_DIM, generator=g) / 2**0.5
    b = torch.randn(2, DATA_DIM, generator=g)
    return z @ a + 0.5 * torch.tanh(z @ b)


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n points (x [n, 8], mode label [n]) of the toy distribution."""
    g = torch.Generator().manual_seed(seed)
    mode = torch.randint(0, 4, (n,), generator=g)
    z = CENTRES[mode] + MODE_STD * torch.randn(n, 2, generator=g)
    x = true_map(z) + NOISE_STD * torch.randn(n, DATA_DIM, generator=g)
    return x, mode


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)) -> float:
    """Squared maximum mean discrepancy with a sum of RBF kernels (biased V-statistic)."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)
    k = torch.stack([torch.exp(-d2 / (2 * h * h)) for h in bandwidths]).sum(0)
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def mode_report(samples: torch.Tensor, reference: torch.Tensor, reference_mode: torch.Tensor) -> dict[str, float]:
    """Share of samples near a mode, and the smallest mode's share among those (0.25 = even).

    A sample is near mode k when its distance to that mode's mean (of the reference data) is
    below the 99th percentile of the reference points' own distances to their mode mean.
    """
    means = torch.stack([reference[reference_mode == k].mean(0) for k in range(4)])
    radius = torch.quantile((reference - means[reference_mode]).norm(dim=1), 0.99)
    dist, nearest = torch.cdist(samples, means).min(dim=1)
    near = dist < radius
    shares = torch.bincount(nearest[near], minlength=4).float() / near.sum().clamp(min=1)
    return {"near_mode": float(near.float().mean()), "min_mode_share": float(shares.min())}


@dataclass
class ToyConfig:
    ebm: LatentEBMConfig = option(
        LatentEBMConfig(
            prior=PriorConfig(latent_dim=2, hidden=[64, 64], activation="gelu"),
            prior_chain=ChainConfig(steps=40, step_size=0.3, noise=1.0),
            posterior_chain=ChainConfig(steps=20, step_size=0.1, noise=1.0, clip_grad=100.0),
        ),
        "prior, chains and posterior initialisation",
    )
    data_dim: int = option(DATA_DIM, "dimension of x")
    hidden: list[int] = option([64, 64], "hidden widths of the generator MLP")
    activation: Activation = option("gelu", "activation of the generator MLP")
    obs_std: float = option(NOISE_STD, "fixed standard deviation of p(x|z) = N(g(z), obs_std^2 I)")

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.obs_std > 0:
            raise ConfigError(f"obs_std must be > 0, got {self.obs_std}")


class GaussianMLPGenerator(nn.Module):
    """p(x | z) = N(g(z), sigma^2 I) with g an MLP and sigma fixed."""

    def __init__(self, latent_dim: int, data_dim: int, hidden: list[int], activation: str, obs_std: float):
        super().__init__()
        self.net = mlp([latent_dim, *hidden, data_dim], activation)
        self.data_dim, self.obs_std = data_dim, obs_std

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-|x - g(z)|^2 / (2 sigma^2) per row (the constant is dropped)."""
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise DataError(f"x must have shape [batch, {self.data_dim}], got {list(x.shape)}")
        return -(x - self.net(z)).pow(2).sum(1) / (2 * self.obs_std**2)

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z) + self.obs_std * torch.randn(len(z), self.data_dim, device=z.device)


class ToyModel(LatentEBM):
    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        d = config.ebm.prior.latent_dim
        encoder = None
        if config.ebm.posterior_init == "amortised":
            encoder = GaussianEncoder(config.data_dim, d, config.hidden, config.activation)
        generator = GaussianMLPGenerator(d, config.data_dim, config.hidden, config.activation, config.obs_std)
        super().__init__(config, config.ebm, generator, encoder=encoder)


class GaussianEncoder(nn.Module):
    """q(z | x) = N(mu(x), diag exp(logvar(x))) by an MLP."""

    def __init__(self, data_dim: int, latent_dim: int, hidden: list[int], activation: str):
        super().__init__()
        self.net = mlp([data_dim, *hidden, 2 * latent_dim], activation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-12, 6)


def toy_config(prior: Any = "ebm", posterior_init: Any = "reference") -> ToyConfig:
    """The toy config with the prior kind ('ebm' or 'gaussian') and chain start swapped in."""
    cfg = ToyConfig()
    ebm = replace(cfg.ebm, prior=replace(cfg.ebm.prior, kind=prior), posterior_init=posterior_init)
    return replace(cfg, ebm=ebm)


def evaluate(model: ToyModel, x_test: torch.Tensor, mode_test: torch.Tensor, n: int = 1000) -> dict[str, Any]:
    """MMD to held-out data and mode statistics of n samples from the model."""
    samples = model.generate(n).cpu()
    return {"mmd": mmd(x_test[:n], samples), **mode_report(samples, x_test, mode_test)}
