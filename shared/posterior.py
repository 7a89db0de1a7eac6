"""Where posterior chains start: the main lever on training cost.

reference:  z0 ~ N(0, s^2 I), a fresh short run every time (the papers' default);
persistent: z0 = the chain state this example ended with last time (one row per example);
amortised:  z0 ~ q(z | x) from an encoder that learns to match the chains' outputs, so that a
            few steps suffice (q is fit by maximising log q(z_K | x) on the chain outputs).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .distributed import Dist, all_gather_cat
from .errors import DataError
from .model import LatentEBM


class PosteriorInit:
    """Reference initialisation; the base of the other strategies."""

    def __init__(self, model: LatentEBM, n_data: int, dist: Dist):
        self.model, self.n_data, self.dist = model, n_data, dist

    def initial(self, x: Any, index: torch.Tensor) -> torch.Tensor:
        return self.model.prior.sample_reference(len(index), self.model.device())

    def update(self, index: torch.Tensor, z: torch.Tensor) -> None:
        """Record where the chains ended (a no-op unless the chains persist)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass


class PersistentInit(PosteriorInit):
    """One stored chain per training example, shared by all ranks (updates are all-gathered)."""

    def __init__(self, model: LatentEBM, n_data: int, dist: Dist):
        super().__init__(model, n_data, dist)
        self.chains = model.prior.sample_reference(n_data, model.device())

    def initial(self, x: Any, index: torch.Tensor) -> torch.Tensor:
        return self.chains[index].clone()

    def update(self, index: torch.Tensor, z: torch.Tensor) -> None:
        self.chains[all_gather_cat(self.dist, index)] = all_gather_cat(self.dist, z.detach())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"chains": self.chains.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        chains = state.get("chains")
        if chains is None or chains.shape != self.chains.shape:
            raise DataError(f"the checkpoint's persistent chains do not fit {self.n_data} examples")
        self.chains = chains.to(self.chains)


class AmortisedInit(PosteriorInit):
    """Start from the model's encoder q(z | x); `encoder_loss` teaches q the chain outputs."""

    def initial(self, x: Any, index: torch.Tensor) -> torch.Tensor:
        return self.model.initial_posterior(x, len(index))


def encoder_nll(mean: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """-log q(z | x) per row for q = N(mean, diag exp(logvar))."""
    return 0.5 * (((z - mean) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(1)


STRATEGIES = {"reference": PosteriorInit, "persistent": PersistentInit, "amortised": AmortisedInit}


def make_posterior_init(model: LatentEBM, n_data: int, dist: Dist) -> PosteriorInit:
    return STRATEGIES[model.ebm.posterior_init](model, n_data, dist)
