"""Latent diagnostics: is z used, and does the prior fit the posteriors it is meant to fit?

Posterior fit: for each row, M posterior chains (the model's own inference: from the reference, or
from the encoder when amortised) give samples whose mean and variance define q(z | x) = N(m, diag v);
a VAE (encoder, 0 chain steps) uses its encoder's Gaussian directly.

KL   = E_x E_q[log q(z | x) - log p(z)], p(z) the normalised prior (log Z by importance sampling around
       the posteriors, see log_normaliser)
MI   = E_x E_q(z|x)[log q(z | x) - log q(z)], q(z) the mixture of the rows' q(z | x)
AU   = latent dimensions whose posterior-mean variance across rows exceeds 0.01 (Burda et al.)
f_spread = std of f_a over posterior samples (0: the energy prior is flat, i.e. N(0, s^2 I))
mmd_prior / mmd_ref = squared MMD (RBF kernel, median bandwidth) of prior samples / reference draws
           against posterior samples: a prior that fits the aggregate posterior has mmd_prior < mmd_ref.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from .model import LatentEBM

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag exp(logvar)) summed over the last dimension (broadcasting)."""
    return -0.5 * (((z - mean) ** 2) / logvar.exp() + logvar).sum(-1) - z.shape[-1] * HALF_LOG_2PI


@torch.no_grad()
def log_normaliser(
    model: LatentEBM, n: int = 100_000, batch: int = 10_000, around: tuple[torch.Tensor, torch.Tensor] | None = None
) -> float:
    """log Z of p(z) = exp(f(z)) N(z; 0, s^2 I) / Z: 0 for a Gaussian prior, else log of an unbiased Monte
    Carlo estimate of Z = E_p0[exp f]. With `around` = (means, logvars) of posterior fits, the draws come from
    r = 1/2 N(0, s^2 I) + 1/2 mixture_i N(m_i, 1.5^2 v_i) with weights p0 exp(f) / r: a learned prior puts
    its mass where the posteriors are, which plain reference draws rarely visit (they then underestimate
    log Z by nats, and an NLL built on it is no longer an upper bound)."""
    prior = model.prior
    if prior.config.kind == "gaussian":
        return 0.0
    device = model.device()
    log_w = []
    for i in range(0, n, batch):
        z = prior.sample_reference(min(batch, n - i), device)
        log_r = prior.reference_log_density(z)
        if around is not None:
            means, wide = around[0].to(device), around[1].to(device) + 2 * math.log(1.5)
            pick = torch.randint(len(means), (len(z),), device=device)
            near = means[pick] + (0.5 * wide[pick]).exp() * torch.randn_like(z)
            z = torch.where((torch.rand(len(z), device=device) < 0.5)[:, None], z, near)
            mixture = torch.cat(
                [
                    torch.logsumexp(gaussian_log_density(z[j : j + 500, None], means[None], wide[None]), 1)
                    for j in range(0, len(z), 500)
                ]
            ) - math.log(len(means))
            log_r = torch.logaddexp(prior.reference_log_density(z), mixture) - math.log(2)
        log_w.append(prior.reference_log_density(z) + prior(z) - log_r)
    return float(torch.logsumexp(torch.cat(log_w).double(), 0) - math.log(n))


def prior_log_density(model: LatentEBM, z: torch.Tensor, log_z: float) -> torch.Tensor:
    """Normalised log p(z) (z may have leading sample dimensions)."""
    flat = z.reshape(-1, z.shape[-1])
    return (model.prior.reference_log_density(flat) + model.prior(flat) - log_z).view(z.shape[:-1])


def posterior_fit(
    model: LatentEBM, x: Any, chains: int = 8, ys: Mapping[str, torch.Tensor] | None = None, refine_steps: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, logvar, samples [M, B, d]) of q(z | x) from the model's own posterior inference. refine_steps K: for a
    model whose posterior is its encoder (0 chain steps), the encoder's mean refined by K steps towards the mode of
    p(z | x) (LatentEBM.refine_posterior), its variance kept; for a chain model, K chain steps instead of its own."""
    if model.encoder_posterior:
        with torch.no_grad():
            mean, logvar = model.encoder(x)
        if refine_steps:
            mean = model.refine_posterior(x, mean, logvar, refine_steps, ys)
        samples = mean + (0.5 * logvar).exp() * torch.randn(chains, *mean.shape, device=mean.device)
        return mean, logvar, samples
    ys = {k: v.repeat(chains, *[1] * (v.dim() - 1)) for k, v in (ys or {}).items()}
    chain = {"steps": refine_steps} if refine_steps else {}
    z = model.infer_posterior(x.repeat(chains, *[1] * (x.dim() - 1)), ys, **chain).z.view(chains, len(x), -1)
    var = z.var(0) if chains > 1 else torch.full_like(z[0], 0.01)
    return z.mean(0), (var + 1e-6).log(), z


def mutual_information(mean: torch.Tensor, logvar: torch.Tensor, draws: int = 1) -> float:
    """E_x E_q(z|x)[log q(z|x) - log q(z)] with q(z) = mean_j q(z | x_j) over the given rows."""
    n = len(mean)
    z = mean + (0.5 * logvar).exp() * torch.randn(draws, *mean.shape, device=mean.device)  # [draws, n, d]
    own = gaussian_log_density(z, mean, logvar)  # [draws, n]
    cross = gaussian_log_density(z[:, :, None, :], mean[None, None], logvar[None, None])  # [draws, n, n]
    aggregate = torch.logsumexp(cross, dim=2) - math.log(n)
    return float((own - aggregate).mean())


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across examples by more than `threshold` (0 for one example)."""
    return int((means.var(0) > threshold).sum()) if len(means) > 1 else 0


def mmd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased squared MMD between sample sets a and b, RBF kernel with the median pairwise distance."""
    both = torch.cat([a, b])
    d2 = torch.cdist(both, both).pow(2)
    k = torch.exp(-d2 / d2[d2 > 0].median().clamp_min(1e-12))
    n, m = len(a), len(b)
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    return float(
        (kaa.sum() - kaa.diag().sum()) / (n * (n - 1)) + (kbb.sum() - kbb.diag().sum()) / (m * (m - 1)) - 2 * kab.mean()
    )


@torch.no_grad()
def latent_diagnostics(
    model: LatentEBM, x: Any, ys: Mapping[str, torch.Tensor] | None = None, chains: int = 4, log_z_draws: int = 20_000
) -> dict[str, float]:
    """KL, MI, AU, f_spread, mmd_prior and mmd_ref (module docstring) on the rows x."""
    mean, logvar, z = posterior_fit(model, x, chains, ys)
    log_z = log_normaliser(model, log_z_draws, around=(mean, logvar))
    q = mean + (0.5 * logvar).exp() * torch.randn(8, *mean.shape, device=mean.device)
    kl = (gaussian_log_density(q, mean, logvar) - prior_log_density(model, q, log_z)).mean()
    posterior = z[0]
    n = len(posterior)
    prior = model.sample_prior(n).z
    return {
        "kl": float(kl),
        "mi": mutual_information(mean, logvar),
        "au": active_units(mean),
        "f_spread": float(model.prior(posterior).std()),
        "mmd_prior": mmd(prior, posterior),
        "mmd_ref": mmd(model.prior.sample_reference(n, posterior.device), posterior),
    }
