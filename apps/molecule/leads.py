"""Lead optimisation and property heads fitted to a trained model.

optimize_leads: for each lead molecule, z0 = its posterior mean; `chains` copies of z0 move by Langevin
steps on
    log p_a(z) + log N(y* | g(z), v),   y* = the lead's oracle value + shift (- shift to minimise),
with g the model's property head for the objective. Every step's latents are decoded and every decoded
molecule is scored by the real oracle; a candidate is kept when it is valid, differs from the lead and
has Tanimoto similarity (Morgan radius 2, 2,048 bits, as in the JT-VAE / GCPN benchmark) at least
`min_similarity` to the lead. Improvement = oracle value - the lead's (the other way round to minimise).
Beside the latent moves, `mutations` graph mutations per lead and step (mol-ga's Graph GA mutation operators,
Jensen 2019) of the lead and of its best candidates so far: local edits that keep a lead's scaffold where the
latent, which reconstructs a molecule only in part, cannot. Each candidate records which move made it.

fit_heads: a Gaussian head per property regressed on the encoder means of molecules (MOSES train by
default) with their oracle values: a trained model becomes usable by `sample --condition`, `design` and
`optimize` in minutes, without retraining its generator. (On the noise-contrastive 120-minute model,
20,000 molecules, held-out R^2: 0.67 / 0.77 / 0.52 / 0.79 for qed / logp / mw / plogp on the means
after 2,000 steps, against 0.61 / 0.64 / 0.28 / 0.69 on posterior samples; 8,000 steps overfit.)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lebm.core.errors import ConfigError
from lebm.core.heads import GaussianHead
from lebm.core.progress import progress

from .data import canonical, clean
from .latent import encode_ids, posterior_means
from .metrics import cache_dir
from .model import MoleculeModel
from .oracles import PROPERTIES, Oracle, property_table


@dataclass
class LeadSettings:
    objective: str = "plogp"
    min_similarity: float = 0.4
    steps: int = 20
    chains: int = 32
    step_size: float = 0.05
    shift: float = 2.0
    temperature: float = 0.7
    minimize: bool = False
    mutations: int = 16

    def check(self, model: MoleculeModel) -> None:
        if self.objective not in PROPERTIES:
            raise ConfigError(f"unknown objective {self.objective!r} (known: {', '.join(sorted(PROPERTIES))})")
        if self.objective not in model.config.properties:
            raise ConfigError(
                f"the model has no head for {self.objective!r} (heads: "
                f"{', '.join(model.config.properties) or 'none'}); add one with "
                f"`lebm molecule fit-heads --properties {self.objective}`"
            )
        if not 0 <= self.min_similarity <= 1:
            raise ConfigError(f"--min-similarity must be in [0, 1], got {self.min_similarity}")
        if self.steps < 1 or self.chains < 1 or not self.step_size > 0 or self.temperature < 0 or self.mutations < 0:
            raise ConfigError("--steps and --chains must be >= 1, --step-size > 0, --temperature and --mutations >= 0")


def optimize_leads(
    model: MoleculeModel,
    leads: list[str],
    settings: LeadSettings,
    batch_size: int = 1000,
    quiet: bool = True,
    cluster=None,
) -> tuple[list[float], list[pd.DataFrame]]:
    """The leads' oracle values, and per lead its candidates (candidate, similarity, objective,
    improvement, step), best first, every row within the similarity bound. `cluster`: where the objective's
    oracle runs (a lebm.molecule.cluster.Cluster; None: here)."""
    settings.check(model)
    oracle, sign = Oracle(settings.objective), -1.0 if settings.minimize else 1.0
    base = oracle(leads, cluster=cluster)
    z = posterior_means(model, leads).repeat(settings.chains, 1)  # row r belongs to lead r % len(leads)
    target = model.normalise(settings.objective, torch.tensor(base).repeat(settings.chains) + sign * settings.shift)
    log_density = model.conditional_log_density({settings.objective: target.to(z)})
    similarity = [Oracle("similarity", reference=lead) for lead in leads]
    seen: list[dict[str, dict]] = [{} for _ in leads]
    rng = random.Random(0)
    for step in progress(range(1, settings.steps + 1), desc="optimize", unit="step", quiet=quiet):
        z = model.ebm.prior_chain.run(z, log_density, steps=1, step_size=settings.step_size).z.detach()
        decoded = []
        for start in range(0, len(z), batch_size):
            decoded += model.decode_smiles(z[start : start + batch_size], settings.temperature)
        proposals = [(row % len(leads), smiles, "latent") for row, smiles in enumerate(decoded)]
        proposals += [
            (lead, smiles, "graph")
            for lead in range(len(leads))
            for smiles in mutants(leads[lead], seen[lead], settings.mutations, rng)
        ]
        # (lead, canonical SMILES) -> the move that made it, new this step, in order
        fresh: dict[tuple[int, str], str] = {}
        for lead, smiles, move in proposals:
            can = canonical(smiles)
            if can is not None and can != leads[lead] and can not in seen[lead]:
                fresh.setdefault((lead, can), move)
        sims = {key: similarity[key[0]]([key[1]])[0] for key in fresh}
        kept = [key for key, sim in sims.items() if sim >= settings.min_similarity]
        for key, value in zip(kept, oracle([can for _, can in kept], cluster=cluster)):
            if not math.isnan(value):
                seen[key[0]][key[1]] = {
                    "candidate": key[1],
                    "similarity": sims[key],
                    settings.objective: value,
                    "improvement": sign * (value - base[key[0]]),
                    "step": step,
                    "move": fresh[key],
                }
    columns = ["candidate", "similarity", settings.objective, "improvement", "step", "move"]
    frames = [
        pd.DataFrame(list(rows.values()), columns=columns).sort_values(
            "improvement", ascending=False, ignore_index=True
        )
        for rows in seen
    ]
    return base, frames


def mutants(lead: str, candidates: dict[str, dict], n: int, rng: random.Random, parents: int = 4) -> list[str]:
    """n Graph GA mutations (mol-ga's operator) of the lead and its `parents - 1` best candidates so far."""
    if n == 0:
        return []
    from mol_ga.graph_ga.gen_candidates import mutate

    best = sorted(candidates.values(), key=lambda row: -row["improvement"])[: parents - 1]
    pool = [lead] + [row["candidate"] for row in best]
    return [m for m in (mutate(rng.choice(pool), rng) for _ in range(n)) if m]


def fit_heads(
    model: MoleculeModel,
    smiles: list[str],
    names: list[str],
    steps: int = 2000,
    batch_size: int = 256,
    seed: int = 0,
    jobs: int = 1,
    quiet: bool = True,
) -> dict[str, float]:
    """Add (or refit) a head per property on the encoder means of `smiles` (those the model can encode;
    90% for training, 10% held out); returns each head's R^2 on the held-out molecules."""
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown:
        raise ConfigError(f"unknown property {unknown[0]!r} (known: {', '.join(sorted(PROPERTIES))})")
    if model.encoder is None:
        raise ConfigError("fit-heads needs a model with an encoder (posterior_init = 'amortised')")
    smiles = clean(smiles, model.config.representation, model.vocab, model.config.max_len).kept
    values = property_table(smiles, names, jobs=jobs, cache=cache_dir())
    keep = np.all([np.isfinite(values[n]) for n in names], axis=0)
    smiles = [s for s, k in zip(smiles, keep) if k]
    y = torch.tensor(np.stack([values[n][keep] for n in names], 1), dtype=torch.float32)
    if len(smiles) < 20:
        raise ConfigError(f"fit-heads needs at least 20 molecules with every property, got {len(smiles)}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(smiles), generator=generator)
    held, train = order[: max(len(smiles) // 10, 2)], order[max(len(smiles) // 10, 2) :]
    mean, std = y[train].mean(0), y[train].std(0).clamp(min=1e-6)
    y = (y - mean) / std
    with torch.no_grad():
        stats = [model.encoder(encode_ids(model, smiles[i : i + 500])) for i in range(0, len(smiles), 500)]
    mu = torch.cat([s[0] for s in stats]).cpu()
    d = model.prior.latent_dim
    heads = {n: GaussianHead(d, model.config.head) for n in names}
    params = [p for h in heads.values() for p in h.parameters()]
    optimiser = torch.optim.Adam(params, lr=1e-3)
    for _ in progress(range(steps), desc="fit heads", unit="step", quiet=quiet):
        idx = train[torch.randint(len(train), (batch_size,), generator=generator)]
        loss = sum(-h.log_likelihood(y[idx, k], mu[idx]).mean() for k, h in enumerate(heads.values()))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    r2 = {}
    with torch.no_grad():
        for k, (name, head) in enumerate(heads.items()):
            residual = (head.predict(mu[held]) - y[held, k]).pow(2).mean()
            r2[name] = float(1 - residual / y[held, k].var())
            model.heads[name] = head.to(model.device())
            model.config.property_stats[name] = [float(mean[k]), float(std[k])]
            if name not in model.config.properties:
                model.config.properties.append(name)
    return r2
