"""One Langevin kernel for every chain: prior, posterior and conditional sampling.

A target is any function z [B, d] -> unnormalised log-density [B]; chains are independent rows.
One step with step size u and noise factor t (t = 1 is exact Langevin):

    z <- z + (u^2 / 2) * grad_z log p(z) + u * t * eps,    eps ~ N(0, I)

`ascend` is the noise-free kernel (t = 0) that keeps each chain's best state: a refinement that never
ends lower than it started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from .errors import ConfigError, DataError, LangevinError

LogDensity = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LangevinResult:
    """Final chain states plus cheap diagnostics (means over chains)."""

    z: torch.Tensor
    energy_start: float  # mean of -log p at the initial states (nan when steps = 0)
    grad_start: torch.Tensor | None  # grad_z log p at the initial states, [B, d] (None when steps = 0)
    grad_norm: float  # mean |grad log p| over chains and steps (before clipping)
    resets: int  # chains reset after a non-finite value (on_nonfinite = "reset")
    history: torch.Tensor | None  # [steps + 1, B, d] when keep_history, else None


def log_density_sum(*terms: LogDensity) -> LogDensity:
    """The target whose log-density is the sum of the given terms (prior + likelihoods)."""
    return lambda z: sum(term(z) for term in terms)  # type: ignore[return-value]


def step_sizes(step_size: float | Sequence[float], steps: int) -> list[float]:
    """Per-step sizes: a constant, or a schedule whose last value repeats if it is shorter."""
    sizes = [float(step_size)] * steps if isinstance(step_size, (int, float)) else [float(u) for u in step_size]
    if not sizes and steps:
        raise ConfigError("the step-size schedule is empty")
    if any(not u > 0 for u in sizes):
        raise ConfigError(f"Langevin step sizes must be > 0, got {sizes}")
    return (sizes + sizes[-1:] * steps)[:steps]


def _log_density_and_grad(target: LogDensity, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        logp = target(z)
        if logp.shape != z.shape[:1]:
            raise DataError(
                f"a Langevin target must return one log-density per chain, shape [{z.shape[0]}], got {list(logp.shape)}"
            )
        (grad,) = torch.autograd.grad(logp.sum(), z)
    return logp.detach(), grad


def _check_langevin(z0: torch.Tensor, steps: int, noise: float, clip_grad: float | None, on_nonfinite: str) -> None:
    """One error naming the first bad argument of `langevin`."""
    if z0.dim() != 2:
        raise DataError(f"Langevin initial states must have shape [chains, dim], got {list(z0.shape)}")
    if not torch.isfinite(z0).all():
        raise DataError("Langevin initial states contain NaN or infinite values")
    if steps < 0 or int(steps) != steps:
        raise ConfigError(f"Langevin steps must be a non-negative integer, got {steps}")
    if noise < 0:
        raise ConfigError(f"Langevin noise factor must be >= 0, got {noise}")
    if clip_grad is not None and not clip_grad > 0:
        raise ConfigError(f"Langevin clip_grad must be > 0 or None, got {clip_grad}")
    if on_nonfinite not in ("raise", "reset"):
        raise ConfigError(f"on_nonfinite must be 'raise' or 'reset', got {on_nonfinite!r}")


def _nonfinite_error(z: torch.Tensor, step: int, size: float) -> LangevinError:
    n = int((~torch.isfinite(z).all(dim=1)).sum())
    return LangevinError(
        f"Langevin produced non-finite values in {max(n, 1)} of {len(z)} chains at step {step} (step size "
        f"{size:g}); lower the step size or set clip_grad"
    )


def langevin(
    z0: torch.Tensor,
    target: LogDensity,
    steps: int,
    step_size: float | Sequence[float],
    noise: float = 1.0,
    clip_grad: float | None = None,
    keep_history: bool = False,
    on_nonfinite: Literal["raise", "reset"] = "raise",
    reset: Callable[[int], torch.Tensor] | None = None,
) -> LangevinResult:
    """Run `steps` Langevin steps on `target` from `z0` ([B, d]) and return the final states.

    step_size: a constant u or a per-step schedule. noise: factor t on the injected noise.
    clip_grad: cap on each chain's gradient norm. on_nonfinite: "raise" a LangevinError (after the
    run, naming the first bad step), or "reset" the affected chains to their initial states (or to
    the matching rows of `reset(n_chains)`) and go on. Diagnostics sync with the device once.
    Parameter gradients are never accumulated; only z is differentiated.
    """
    _check_langevin(z0, steps, noise, clip_grad, on_nonfinite)
    sizes = step_sizes(step_size, steps)
    z0 = z0.detach()
    z = z0.clone()
    history = [z.clone()] if keep_history else None
    # diagnostics stay on the device: one synchronisation per chain, not per step
    energy_start = torch.full((), float("nan"), device=z.device)
    grad_norm_sum = resets = torch.zeros((), device=z.device)
    grad_start = None
    first_bad = torch.full((), -1, device=z.device)
    for k, u in enumerate(sizes):
        logp, grad = _log_density_and_grad(target, z)
        if k == 0:
            energy_start, grad_start = -logp.mean(), grad
        norm = grad.norm(dim=1, keepdim=True)
        grad_norm_sum = grad_norm_sum + norm.nan_to_num(0.0).mean()
        if clip_grad is not None:
            grad = grad * (clip_grad / (norm + 1e-12)).clamp(max=1.0)
        z_next = z + 0.5 * u * u * grad + u * noise * torch.randn_like(z)
        bad = ~(torch.isfinite(z_next).all(dim=1) & torch.isfinite(logp))
        first_bad = torch.where((first_bad < 0) & bad.any(), torch.full_like(first_bad, k + 1), first_bad)
        if on_nonfinite == "reset":
            fresh = z0 if reset is None else reset(len(z)).to(z)
            z_next = torch.where(bad[:, None], fresh, z_next)
            resets = resets + bad.sum()
        z = z_next
        if history is not None:
            history.append(z.clone())
    if on_nonfinite == "raise" and first_bad.item() > 0:
        raise _nonfinite_error(z, int(first_bad), sizes[int(first_bad) - 1])
    return LangevinResult(
        z=z.detach(),
        energy_start=float(energy_start),
        grad_start=grad_start,
        grad_norm=float(grad_norm_sum) / max(len(sizes), 1),
        resets=int(resets),
        history=torch.stack(history) if history is not None else None,
    )


def ascend(z0: torch.Tensor, target: LogDensity, steps: int, step_size: float) -> torch.Tensor:
    """`steps` noise-free Langevin steps (gradient ascent on log p) from z0 [B, d]; each row's result is the
    state with the highest log p it visited, z0 included, so log p never drops (non-finite states never win)."""
    z = best = z0.detach()
    best_logp = torch.full((len(z),), -torch.inf, device=z.device)
    for k in range(steps + 1):
        logp, grad = _log_density_and_grad(target, z)
        better = logp > best_logp
        best, best_logp = torch.where(better[:, None], z, best), torch.where(better, logp, best_logp)
        if k < steps:
            z = z + 0.5 * step_size**2 * grad.nan_to_num(0.0)
    return best.detach()
