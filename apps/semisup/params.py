"""The semi-supervised estimator's settings: NAME=VALUE strings parsed (command line, benchmarks) and every
setting checked before a fit, one error naming the first bad one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from lebm.core.errors import ConfigError

if TYPE_CHECKING:
    from .estimator import SymbolVectorClassifier


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _widths(value) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_int(w) and w >= 1 for w in value)


def parse_params(items: list[str]) -> dict:
    """NAME=VALUE strings -> SymbolVectorClassifier settings; a value is read as JSON (3e-4, [64, 64], true)
    or else kept as a word (likelihood=gaussian). Unknown names raise ValueError."""
    from .estimator import SymbolVectorClassifier

    known, params = SymbolVectorClassifier().get_params(), {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
        if isinstance(params[name], list):  # hidden=[64, 64]
            params[name] = tuple(params[name])
    return params


def check_params(self: SymbolVectorClassifier) -> None:
    """One ValueError (ConfigError) naming the estimator's first invalid setting; the core checks the rest."""
    count, number = _is_int, _is_number
    rules = {
        "latent_dim": (count(self.latent_dim) and self.latent_dim >= 1, "an integer >= 1"),
        "steps": (count(self.steps) and self.steps >= 1, "an integer >= 1"),
        "batch_size": (count(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
        "prior_steps": (count(self.prior_steps) and self.prior_steps >= 1, "an integer >= 1"),
        "refine_steps": (count(self.refine_steps) and self.refine_steps >= 0, "an integer >= 0"),
        "hidden": (_widths(self.hidden) and len(self.hidden) >= 1, "one or more layer widths >= 1"),
        "prior_hidden": (_widths(self.prior_hidden), "layer widths >= 1 (none: a linear f)"),
        "learning_rate": (number(self.learning_rate) and self.learning_rate > 0, "a number > 0"),
        "prior_learning_rate": (number(self.prior_learning_rate) and self.prior_learning_rate > 0, "a number > 0"),
        "prior_step_size": (number(self.prior_step_size) and self.prior_step_size > 0, "a number > 0"),
        "mi_weight": (number(self.mi_weight) and self.mi_weight >= 0, "a number >= 0"),
        "label_weight": (
            self.label_weight == "auto" or (number(self.label_weight) and self.label_weight > 0),
            "'auto' or a number > 0",
        ),
        "prior_energy_reg": (
            self.prior_energy_reg == "auto" or (number(self.prior_energy_reg) and self.prior_energy_reg >= 0),
            "'auto' or a number >= 0",
        ),
        "balance": (isinstance(self.balance, (bool, np.bool_)), "True or False"),
        "prior_objective": (self.prior_objective in ("contrastive", "nce"), "'contrastive' or 'nce'"),
        "free_bits": (number(self.free_bits) and self.free_bits >= 0, "a number >= 0"),
        "class_learning_rate": (
            number(self.class_learning_rate) and self.class_learning_rate >= 0,
            "a number >= 0",
        ),
        "calibration": (
            self.calibration == "auto" or (number(self.calibration) and self.calibration >= 1),
            "'auto' or a temperature >= 1",
        ),
    }
    for name, (ok, expected) in rules.items():
        if not ok:
            raise ConfigError(f"{name} must be {expected}, got {getattr(self, name)!r}")
