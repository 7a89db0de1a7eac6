"""The semi-supervised model: coupled latent prior + vector generator + inference network.

p(y, z) ~ exp(f_y(z)) N(z; 0, s^2 I)        (the core's coupled prior; classifier softmax f(z))
p(x | z): Gaussian (continuous features), Bernoulli (values in [0, 1]) or multinomial (counts)
q(z | x) = N(mu(x), diag sigma^2(x))         (trained by the ELBO; chains may refine its draws)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lebm.core.config import check_choices, option
from lebm.core.errors import ConfigError, DataError
from lebm.core.model import LatentEBM, LatentEBMConfig
from lebm.core.prior import Activation, mlp

Likelihood = Literal["gaussian", "bernoulli", "multinomial"]
ROWS_PER_PASS = 512  # class_probabilities: rows per forward pass (x 64 draws)


@dataclass
class SemisupConfig:
    ebm: LatentEBMConfig = option(LatentEBMConfig(), "coupled prior, chains, amortised start")
    data_dim: int = option(0, "number of input features")
    likelihood: Likelihood = option("gaussian", "p(x|z): gaussian, bernoulli or multinomial")
    hidden: list[int] = option([256, 256], "hidden widths of the generator and the inference network")
    activation: Activation = option("leaky_relu", "activation of the generator and the inference network")
    obs_std: float = option(0.5, "standard deviation of the Gaussian p(x|z) (features are standardised)")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.ebm.prior.kind != "coupled":
            raise ConfigError("the semisup model needs a coupled prior (ebm.prior.kind = 'coupled')")


class VectorGenerator(nn.Module):
    """p(x | z) for feature vectors: an MLP gives the mean, the probabilities or the word distribution."""

    def __init__(self, latent_dim: int, cfg: SemisupConfig):
        super().__init__()
        self.net = mlp([latent_dim, *cfg.hidden, cfg.data_dim], cfg.activation)
        self.likelihood, self.obs_std, self.data_dim = cfg.likelihood, cfg.obs_std, cfg.data_dim

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise DataError(f"x must have shape [rows, {self.data_dim}], got {list(x.shape)}")
        out = self.net(z)
        if self.likelihood == "gaussian":
            return -(x - out).pow(2).sum(1) / (2 * self.obs_std**2)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        return (x * torch.log_softmax(out, dim=1)).sum(1)  # multinomial, up to the count coefficient

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Means (gaussian), probabilities (bernoulli) or word distributions (multinomial)."""
        out = self.net(z)
        return {"gaussian": out, "bernoulli": torch.sigmoid(out)}.get(self.likelihood, torch.softmax(out, dim=1))


class VectorEncoder(nn.Module):
    def __init__(self, latent_dim: int, cfg: SemisupConfig):
        super().__init__()
        self.net = mlp([cfg.data_dim, *cfg.hidden, 2 * latent_dim], cfg.activation)
        self.multinomial = cfg.likelihood == "multinomial"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.multinomial:  # counts: the encoder reads log frequencies
            x = torch.log1p(x)
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-10, 4)


class SemisupModel(LatentEBM):
    config_class = SemisupConfig

    def __init__(self, config: SemisupConfig):
        d = config.ebm.prior.latent_dim
        super().__init__(config, config.ebm, VectorGenerator(d, config), encoder=VectorEncoder(d, config))

    @torch.no_grad()
    def latent_means(self, x: torch.Tensor, refine_steps: int = 0) -> torch.Tensor:
        """mean of q(z | x), optionally refined towards the mode of p(z | x) (LatentEBM.refine_posterior)."""
        mean, logvar = self.encoder(x)
        return self.refine_posterior(x, mean, logvar, refine_steps) if refine_steps else mean

    @torch.no_grad()
    def class_probabilities(self, x: torch.Tensor, refine_steps: int = 0, draws: int = 64) -> torch.Tensor:
        """p(y | x) = E_q(z|x) softmax(f(z)), averaged over `draws` latents m + s * eps (the same fixed eps for
        every row, so a row's probabilities do not depend on the batch or on a random state); with
        refine_steps, softmax(f) at the refined posterior mean. Rows go through in chunks (memory flat in rows)."""

        def chunk(rows: torch.Tensor) -> torch.Tensor:
            if refine_steps:
                return torch.softmax(self.prior.logits(self.latent_means(rows, refine_steps)), dim=1)
            mean, logvar = self.encoder(rows)
            return self.averaged_log_probabilities(mean, logvar, draws).exp()

        return torch.cat([chunk(x[i : i + ROWS_PER_PASS]) for i in range(0, len(x), ROWS_PER_PASS)])

    def averaged_log_probabilities(self, mean: torch.Tensor, logvar: torch.Tensor, draws: int = 64) -> torch.Tensor:
        """log of the mean over the fixed draws z = mean + exp(logvar / 2) eps of softmax(f(z)), computed in log
        space (differentiable in f, also where f is saturated)."""
        eps = torch.randn(draws, mean.shape[1], generator=torch.Generator().manual_seed(0), dtype=mean.dtype)
        z = mean[None] + (0.5 * logvar).exp()[None] * eps[:, None].to(mean.device)  # [draws, rows, d]
        logp = torch.log_softmax(self.prior.logits(z.reshape(-1, mean.shape[1])), dim=1).view(draws, len(mean), -1)
        return torch.logsumexp(logp, 0) - math.log(draws)

    def separate_classes(self, x: torch.Tensor, index: np.ndarray, steps: int = 1000) -> bool:
        """The guard against one class for every row: if the model predicts a single class on all
        training rows although two or more are labeled, f alone is trained (Adam 1e-2) on the labeled rows'
        predictive log-likelihood until its predictions on them use every labeled class. True if it acted."""
        if len(np.unique(self.class_probabilities(x).argmax(1).numpy())) > 1:
            return False
        labeled = np.flatnonzero(index >= 0)
        with torch.no_grad():
            mean, logvar = self.encoder(x[labeled])
        y = torch.from_numpy(index[labeled])
        opt = torch.optim.Adam(self.prior.parameters(), lr=1e-2)
        with torch.enable_grad():
            for _ in range(steps):
                logp = self.averaged_log_probabilities(mean, logvar)
                if len(np.unique(logp.argmax(1).numpy())) == len(np.unique(y.numpy())):
                    break
                opt.zero_grad()
                torch.nn.functional.nll_loss(logp, y).backward()
                opt.step()
        return True
