"""Calibrated probabilities for the semi-supervised estimator: a temperature and a mix with the uniform
distribution, fitted on labeled rows held out of a shorter probe fit (cross-fitting): the model itself trains on
every label from the start."""

from __future__ import annotations

import numpy as np
import torch

from .model import SemisupModel

CALIBRATION_AT = 0.5  # the calibration probe's length, a share of the steps (0.5 against 0.3 and 0.75 on the
# validation side of penbased 50 / 100 and magic 20 / 100, when the probe was the first part of the fit: BENCHMARKS.md)
TEMPERATURES = np.geomspace(1.0, 100.0, 41)
MIXES = np.linspace(0.0, 0.975, 40)  # never all the way to the uniform: the ranking stays


def calibrate(p: np.ndarray, temperature: float, mix: float) -> np.ndarray:
    """p^(1/T) renormalised, then mixed with the uniform distribution: (1 - mix) p + mix / K."""
    q = np.exp(np.log(np.maximum(p, 1e-300)) / temperature)
    return (1 - mix) * q / q.sum(1, keepdims=True) + mix / p.shape[1]


def fit_calibration(logp: torch.Tensor, y: np.ndarray, classes: int) -> tuple[float, float]:
    """(T, mix) on grids: the temperature T >= 1 that maximises the held rows' log-likelihood (1 without held
    rows), then the mix that maximises it over the held rows plus two virtual rows at their most confident
    tempered prediction, one labeled with its top class and one with another: a claim of certainty has to
    survive one error (Laplace's rule), so few held rows soften the probabilities much and many leave them to
    the data. With no held rows the virtual pair alone sets the top probability to 1/2."""
    p = logp.double().exp().numpy()

    def loglik(q: np.ndarray, labels: np.ndarray) -> float:
        return float(np.log(np.maximum(q[np.arange(len(labels)), labels], 1e-300)).sum())

    y = y.astype(np.int64)
    t = max(TEMPERATURES, key=lambda t: loglik(calibrate(p, t, 0.0), y)) if len(p) else 1.0
    q = calibrate(p, t, 0.0) if len(p) else np.zeros((0, classes))
    top = q[q.max(1).argmax()] if len(q) else np.eye(classes)[0]
    first, second = np.argsort(-top, kind="stable")[:2]
    q, y = np.vstack([q, top, top]), np.concatenate([y, [first, second]])
    mix = max(MIXES, key=lambda m: loglik((1 - m) * q + m / classes, y))
    return float(t), float(mix)


def calibration_rows(index: np.ndarray, seed: int) -> np.ndarray:
    """A third of each class's labeled rows (at least one), for classes with two or more labels: held out
    of the probe fit (CALIBRATION_AT of the steps), whose predictions on them fit the temperature."""
    rng = np.random.RandomState(seed)
    held = [
        rng.choice(rows, max(1, len(rows) // 3), replace=False)
        for rows in (np.flatnonzero(index == k) for k in np.unique(index[index >= 0]))
        if len(rows) >= 2
    ]
    return np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)


def fitted_calibration(
    model: SemisupModel,
    X: np.ndarray,
    index: np.ndarray,
    held: np.ndarray,
    unlabeled: np.ndarray,
    probed: list[torch.Tensor],
) -> tuple[float, float]:
    """(temperature, mix) of calibration="auto": fitted on the probe's predictions on the held rows (`probed`: the
    probe's log-probabilities of the held rows and of the sampled unlabeled rows); the model trains longer and on
    every label, so it is sharper: its temperature gives the sampled unlabeled rows the mean confidence the
    calibrated probe had on them."""
    classes = model.config.ebm.prior.num_classes
    if not len(held):
        return fit_calibration(torch.zeros(0, classes), index[held], classes)
    t, mix = fit_calibration(probed[0], index[held], classes)
    if not len(unlabeled):
        return t, mix

    def confidence(logp: torch.Tensor, temperature: float) -> float:
        return float(calibrate(logp.exp().numpy(), temperature, mix).max(1).mean())

    target = confidence(probed[1], t)
    with torch.no_grad():
        final = model.averaged_log_probabilities(*model.encoder(torch.from_numpy(X[unlabeled].astype(np.float64))))
    return next(
        (float(u) for u in TEMPERATURES if u >= t and confidence(final, u) <= target + 1e-9),
        float(TEMPERATURES[-1]),
    ), mix
