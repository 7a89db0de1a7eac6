"""What a design run does with its model besides latent moves: graph proposals from the kept molecules (mol-ga's
operators), fine-tuning on the kept molecules (through the core's trainer), and the heads p(y | z) it learns for
objectives the model had none for."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import torch

from lebm.core.heads import GaussianHead
from lebm.core.trainer import TrainConfig, Trainer

from .data import clean
from .latent import fingerprint_bags
from .model import MoleculeModel
from .tokens import to_representation, tokenize


def graph_proposals(model: MoleculeModel, population: pd.DataFrame, n: int, rng: random.Random) -> list[str]:
    """n molecules by Graph GA crossover and mutation (mol-ga's operators) of the population's members, parents
    drawn by mol-ga's quantile sampling on fitness; those the model cannot encode are left out."""
    from mol_ga.graph_ga.gen_candidates import graph_ga_blended_generation
    from mol_ga.sample_population import uniform_quantile_sampling

    if n == 0 or len(population) < 2:
        return []
    kept = population[np.isfinite(population.fitness)]
    if kept.empty:
        return []
    parents = uniform_quantile_sampling(list(zip(kept.fitness, kept.canonical_smiles)), 2 * n, rng)
    made = sorted(s for s in graph_ga_blended_generation(parents, 2 * n, rng) if s)
    report = clean(made, model.config.representation, model.vocab, model.config.max_len)
    rng.shuffle(report.kept)
    return report.kept[:n]


def finetuned(
    model: MoleculeModel, kept: pd.DataFrame, z: torch.Tensor, epochs: int, batch_size: int, seed: int
) -> torch.Tensor:
    """Train `model` for `epochs` passes over the kept molecules it can encode (with their property values and
    fingerprint bags where it has those heads); `z` with those molecules' rows replaced by the new model's
    posterior samples."""
    vocab, max_len, device = model.vocab, model.config.max_len, z.device
    texts = [to_representation(s, model.config.representation) for s in kept.canonical_smiles]
    usable = [
        i for i, t in enumerate(texts) if not vocab.unknown(t) and len(tokenize(t, vocab.representation)) <= max_len
    ]
    if not usable:
        return z
    data = {"x": vocab.encode([texts[i] for i in usable], max_len).to(device)}
    for name in model.config.properties:
        values = kept[name].to_numpy()[usable] if name in kept else np.full(len(usable), math.nan)
        data[name] = model.normalise(name, torch.tensor(values, dtype=torch.float32, device=device))
    if "bag" in model.heads:
        smiles = kept.canonical_smiles.to_numpy()[usable].tolist()
        data["bag"] = fingerprint_bags(smiles, model.ebm.bag.size).to(device)
    steps = epochs * math.ceil(len(usable) / batch_size)
    Trainer(
        model,
        data,
        TrainConfig(steps=steps, batch_size=batch_size, quiet=True, diagnose=0, device=str(device), seed=seed),
    ).fit()
    model.eval()
    z = z.clone()
    z[torch.tensor(usable, device=device)] = model.infer_posterior(data["x"]).z  # the new model's view
    return z


def fit_learned_heads(
    model: MoleculeModel, shifts: dict[str, float], latents: torch.Tensor, frame: pd.DataFrame, steps: int = 100
) -> None:
    """Heads for the properties in `shifts` (name: the objective's shift per iteration): created from the first
    scores (their mean and spread normalise the head's targets), then refitted by least squares on the latents
    and scores of `frame` (the first population, then the kept molecules after each fine-tuning)."""
    cfg = model.config
    for name, shift in shifts.items():
        values = frame[name].to_numpy(dtype=np.float64)
        known = np.isfinite(values)
        if name not in cfg.properties:
            # the head's unit is at least one target shift: a shift never asks for more than one unit at a time
            # (scores that start nearly constant would otherwise turn it into a leap off the latent)
            spread = float(values[known].std()) if known.sum() > 1 else 0.0
            cfg.property_stats[name] = [
                float(values[known].mean()) if known.any() else 0.0,
                max(spread if spread > 1e-6 else 1.0, shift),
            ]
            cfg.properties.append(name)
            model.heads[name] = GaussianHead(model.prior.latent_dim, cfg.head).to(latents.device)
        if not known.any():
            continue
        head = model.heads[name]
        z = latents[torch.from_numpy(np.flatnonzero(known)).to(latents.device)].detach()
        y = model.normalise(name, torch.tensor(values[known], dtype=torch.float32, device=z.device))
        opt = torch.optim.Adam(head.parameters(), lr=1e-3)
        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad()
                (head.predict(z) - y).pow(2).mean().backward()
                opt.step()
