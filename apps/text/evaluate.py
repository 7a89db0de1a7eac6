r"""Likelihood and latent-space diagnostics for text models.

Posterior fit: for each sentence, M short-run posterior chains (the model's own inference: from the
prior reference, or from the encoder when amortised) give samples whose mean and variance define
q(z | x) = N(m, diag v). A VAE (encoder, 0 chain steps) uses its encoder's Gaussian directly.

NLL (importance sampling, a stochastic lower bound on log p(x) in expectation, so an upper bound on NLL):
    proposal   r(z | x) = (1 - a) N(m, diag(c^2 v)) + a N(0, s^2 I)   (a = 0.1, c = 1.5: defensive mixture)
    log p(x) ~ logsumexp_s [log p(x | z_s) + log p(z_s) - log r(z_s | x)] - log S,  z_s ~ r
    with the prior normalised: Gaussian exactly; EBM prior log Z = log E_{N(0, s^2 I)} exp f(z) by
    importance sampling with 100,000 draws from half the reference, half the mixture of the evaluated
    sentences' widened posterior fits (shared/diagnostics.py: plain reference draws underestimated log Z
    of an NCE-trained prior by 3-5 nats, which made the NLL optimistic).
PPL = exp(sum NLL / sum predicted tokens), <eos> counted, <bos> not; both reported with their standard
error over the sentences (nll_se, ppl_se: how far another draw of test sentences would move them).
PPL per word (ppl_word) divides by words + 1 instead (words: runs of letters or digits and single
punctuation marks, as in r"\w+|[^\w\s]"), so models with different tokenizers compare.
REC = -E_{chains} log p(x | z); KL = E_q[log q(z | x) - log p(z)] (Monte Carlo);
MI = E_x E_q(z|x)[log q(z | x) - log q(z)], q(z) the mixture of the evaluated sentences' q(z | x);
AU = number of latent dimensions whose posterior-mean variance across sentences exceeds 0.01.
A language model (no latent) gets its exact NLL; its latent columns are empty.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from lebm.core.diagnostics import (
    active_units,
    gaussian_log_density,
    log_normaliser,
    mutual_information,
    posterior_fit,
    prior_log_density,
)
from lebm.core.model import LatentEBM
from lebm.core.progress import progress

from .data import decode

MIX, SCALE = 0.1, 1.5
PROPOSAL = f"{1 - MIX:g} N(m, ({SCALE:g} sd)^2) + {MIX:g} N(0, ref_std^2) around each posterior fit"
ROWS = 2000  # sentence x sample rows per decoder pass
WORD = re.compile(r"\w+|[^\w\s]")


def word_count(text: str) -> int:
    return len(WORD.findall(text.replace("<unk>", "x")))


@torch.no_grad()
def log_likelihood(model: LatentEBM, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for latents z [S, B, d] -> [S, B]."""
    s, b = z.shape[:2]
    return model.generator.log_likelihood(x.repeat(s, 1), z.reshape(s * b, -1)).view(s, b)


@torch.no_grad()
def importance_nll(
    model: LatentEBM, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, samples: int, log_z: float
) -> torch.Tensor:
    """-log p(x) per sentence by importance sampling from the defensive mixture around q(z | x)."""
    d = mean.shape[1]
    s2 = 2 * math.log(model.prior.config.ref_std)
    wide = logvar + 2 * math.log(SCALE)
    pick = torch.rand(samples, len(x), 1, device=x.device) < MIX
    eps = torch.randn(samples, len(x), d, device=x.device)
    z = torch.where(pick, eps * model.prior.config.ref_std, mean + (0.5 * wide).exp() * eps)
    log_r = torch.logaddexp(
        math.log(1 - MIX) + gaussian_log_density(z, mean, wide),
        math.log(MIX) + gaussian_log_density(z, torch.zeros_like(mean), torch.full_like(mean, s2)),
    )
    chunk = max(1, ROWS // len(x))  # samples decoded at once: memory stays flat in the sample count
    log_px = torch.cat([log_likelihood(model, x, z[i : i + chunk]) for i in range(0, samples, chunk)])
    log_w = log_px + prior_log_density(model, z, log_z) - log_r
    return -(torch.logsumexp(log_w.double(), 0) - math.log(samples)).float()


@torch.no_grad()
def evaluate(
    model: LatentEBM,
    ids: torch.Tensor,
    *,
    samples: int = 100,
    chains: int = 8,
    batch_size: int = 50,
    log_z_draws: int = 100_000,
    quiet: bool = True,
    refine_steps: int = 0,
) -> dict[str, Any]:
    """The table of section "evaluate" for token id rows [N, T] (see the module docstring); refine_steps: posterior
    Langevin steps from the encoder's draws for the fits (lebm.core.diagnostics.posterior_fit)."""
    model.eval()
    device = model.device()
    lengths = (ids != 0).sum(1) - 1  # predicted tokens: everything after <bos>, <eos> included
    ids, lengths = ids[lengths.argsort()], lengths.sort().values  # batches of like lengths: little padding
    nll, rec, kl, fits = [], [], [], []
    batches = [ids[start : start + batch_size].to(device).long() for start in range(0, len(ids), batch_size)]
    if model.latent:  # posterior fits first: log Z is estimated around them
        fits = [
            posterior_fit(model, x, chains, refine_steps=refine_steps)
            for x in progress(batches, desc="posterior fits", quiet=quiet)
        ]
        means, logvars = torch.cat([f[0] for f in fits]), torch.cat([f[1] for f in fits])
        log_z = log_normaliser(model, log_z_draws, around=(means, logvars))
    for i, x in enumerate(progress(batches, desc="likelihood", quiet=quiet)):
        if not model.latent:
            nll.append(-model.generator.log_likelihood(x, torch.zeros(len(x), model.prior.latent_dim, device=device)))
            continue
        mean, logvar, z = fits[i]
        rec.append(-log_likelihood(model, x, z).mean(0))
        q = mean + (0.5 * logvar).exp() * torch.randn(32, *mean.shape, device=device)
        kl.append((gaussian_log_density(q, mean, logvar) - prior_log_density(model, q, log_z)).mean(0))
        nll.append(importance_nll(model, x, mean, logvar, samples, log_z))
    nll_all = torch.cat(nll).double().cpu()
    out: dict[str, Any] = {"sentences": len(ids), "tokens": int(lengths.sum())} | spread(nll_all, lengths.double())
    if getattr(model, "tokenizer", None) is not None:
        words = torch.tensor([word_count(t) + 1 for t in decode(model.tokenizer, ids)], dtype=torch.float64)
        out |= {"words": int(words.sum()), "ppl_word": math.exp(float(nll_all.sum() / words.sum()))}
    if model.latent:
        out |= {
            "rec": float(torch.cat(rec).mean()),
            "kl": float(torch.cat(kl).mean()),
            "mi": mutual_information(means.cpu(), logvars.cpu()),
            "au": active_units(means.cpu()),
            "is_samples": samples,
            "chains": chains,
            "refine_steps": refine_steps,
            "log_z": log_z,
            "proposal": PROPOSAL,
        }
    return out


def spread(nll: torch.Tensor, tokens: torch.Tensor) -> dict[str, float]:
    """Mean NLL per sentence and PPL = exp(sum NLL / sum tokens), each with its standard error over the
    sentences (PPL's by the delta method on the ratio estimator of the per-token NLL)."""
    n, per_token = len(nll), float(nll.sum() / tokens.sum())
    nll_se = float(nll.std() / math.sqrt(n)) if n > 1 else float("nan")
    ratio_se = (
        float(((nll - per_token * tokens).pow(2).sum() / (n * (n - 1))).sqrt() * n / tokens.sum())
        if n > 1
        else float("nan")
    )
    ppl = math.exp(per_token)
    return {"nll": float(nll.mean()), "nll_se": nll_se, "ppl": ppl, "ppl_se": ppl * ratio_se}


@torch.no_grad()
def latent_features(
    model: LatentEBM,
    ids: torch.Tensor,
    chains: int = 4,
    quiet: bool = True,
    batch_size: int = 200,
    refine_steps: int = 0,
) -> torch.Tensor:
    """Posterior means (the mean of q(z | x) above) for every row: features for probes and files."""
    model.eval()
    starts = progress(range(0, len(ids), batch_size), desc="posterior means", unit="batch", quiet=quiet)
    batches = (ids[i : i + batch_size].to(model.device()).long() for i in starts)
    return torch.cat([posterior_fit(model, x, chains, refine_steps=refine_steps)[0].cpu() for x in batches])
