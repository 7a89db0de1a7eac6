"""A surrogate that chooses which proposals to pay for: a Gaussian process with the Tanimoto kernel on Morgan
fingerprints (the kernel of GP BO, Tripp and Hernandez-Lobato 2024), fitted on molecules already scored, ranks
cheap proposals by an upper confidence bound; only the best of them go to the oracle.

    k(a, b) = s^2 <a, b> / (|a| + |b| - <a, b>)     (a, b: 0/1 fingerprint vectors)

Pure functions on arrays: no model, no oracle.
"""

from __future__ import annotations

import numpy as np
from rdkit import DataStructs

from .oracles import similarity_fingerprint

TRAIN_TOP, TRAIN_RANDOM = 400, 400  # the GP sees the best scored molecules and a random share of the rest


def fingerprint_matrix(smiles: list[str], cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """[N, 2048] float32 0/1 Morgan radius-2 fingerprints of valid SMILES (the similarity oracle's); `cache` keeps
    each molecule's row across calls."""
    out = np.zeros((len(smiles), 2048), np.float32)
    for i, s in enumerate(smiles):
        if cache is not None and s in cache:
            out[i] = cache[s]
            continue
        DataStructs.ConvertToNumpyArray(similarity_fingerprint(s), out[i])
        if cache is not None:
            cache[s] = out[i].astype(np.uint8)
    return out


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] Tanimoto similarities of 0/1 rows."""
    inner = a @ b.T
    return inner / np.maximum(a.sum(1)[:, None] + b.sum(1)[None, :] - inner, 1e-9)


def gp_posterior(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation at x_new of a GP with a constant mean (y's), the Tanimoto kernel scaled to y's
    variance, and Gaussian noise of `noise` times that variance."""
    mean, amp = float(y.mean()), float(y.var()) or 1.0
    kernel = amp * tanimoto(x, x) + noise * amp * np.eye(len(x))
    chol = np.linalg.cholesky(kernel)
    cross = amp * tanimoto(x, x_new)  # [n, m]
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y - mean))
    v = np.linalg.solve(chol, cross)
    var = np.maximum(amp - (v * v).sum(0), 1e-12)
    return mean + cross.T @ alpha, np.sqrt(var)


def training_rows(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of the scored molecules the GP is fitted on: the TRAIN_TOP best and TRAIN_RANDOM of the rest."""
    order = np.argsort(-y, kind="stable")
    rest = order[TRAIN_TOP:]
    pick = rng.choice(rest, min(len(rest), TRAIN_RANDOM), replace=False) if len(rest) else rest
    return np.concatenate([order[:TRAIN_TOP], pick])


def screen(
    scored: list[str],
    values: np.ndarray,
    candidates: list[str],
    k: int,
    beta: float = 1.0,
    seed: int = 0,
    cache: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Indices of the k candidates (distinct, valid, not yet scored) with the highest mean + beta * sd under a
    Tanimoto GP fitted on `scored` molecules and their (higher is better) `values`; all of them when k covers them."""
    if len(candidates) <= k or len(scored) < 2:
        return np.arange(min(k, len(candidates)))
    rng = np.random.default_rng(seed)
    rows = training_rows(np.asarray(values, np.float64), rng)
    x = fingerprint_matrix([scored[i] for i in rows], cache)
    mean, sd = gp_posterior(x, np.asarray(values, np.float64)[rows], fingerprint_matrix(candidates))
    return np.argsort(-(mean + beta * sd), kind="stable")[:k]
