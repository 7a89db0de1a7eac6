"""A design run's directory: what each iteration writes, the resumable state, and an interrupted iteration's
pending proposals. Every file is replaced atomically (an interruption never leaves half a file).

    scored_NNN.csv      every molecule proposed in iteration NNN with its oracle values, feasibility, fitness
    population_NNN.csv  the molecules kept after iteration NNN
    summary.csv         one row per iteration;  top.csv, top.png  the best feasible molecules so far
    properties.png      each oracle's values in the kept population, per iteration
    state/              model, population, latents, counters, config and RNG after the last completed iteration
    pending/            an interrupted iteration's proposals, RNG state and the rows already scored
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lebm.core.distributed import rng_state, set_rng_state
from lebm.core.io import load_json, save_json, write_atomic, write_dir_atomic

from .design_config import Objective
from .model import MoleculeModel

# what a design run writes into its directory (`--overwrite` removes these, and only these)
OUTPUTS = (
    "population_*.csv",
    "scored_*.csv",
    "summary.csv",
    "state",
    "state.old",
    "pending",
    "top.csv",
    "top.png",
    "properties.png",
)


@dataclass
class DesignState:
    iteration: int = 0
    oracle_calls: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    share: float = 0.0  # graph proposals' share of the next iteration
    boost: float = 1.0  # exploration: step size factor of the next latent moves
    best: list[float] = field(default_factory=list)  # the 100 best fitness values at the last check (patience)
    unchanged: int = 0  # checks in a row they stayed the same


def read_scored(path: Path) -> pd.DataFrame:
    """A scored-molecules CSV as written (empty SMILES stay empty strings, not NaN)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""]).fillna({"smiles": "", "canonical_smiles": ""})


def write_iteration(
    out: Path,
    state: DesignState,
    proposals: pd.DataFrame,
    population: pd.DataFrame,
    objectives: list[Objective],
    oracles: list[str],
) -> None:
    """The iteration's scored molecules and kept population, the summary, top molecules and plots."""
    it = state.iteration
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"scored_{it:03d}.csv", lambda p: proposals.to_csv(p, index=False))
    write_atomic(out / f"population_{it:03d}.csv", lambda p: population.to_csv(p, index=False))
    write_top(out, population, objectives)
    plot(out, oracles)
    summary = pd.DataFrame(state.history)[list(state.history[-1])]  # a resumed run's state has sorted keys
    write_atomic(out / "summary.csv", lambda p: summary.to_csv(p, index=False))


def write_top(out: Path, population: pd.DataFrame, objectives: list[Objective]) -> None:
    """top.csv (the 100 best feasible molecules so far) and top.png (24 of them, labelled with their values)."""
    top = population[population.feasible].head(100) if len(population) else population
    write_atomic(out / "top.csv", lambda p: top.to_csv(p, index=False))
    from .props import write_grid

    shown = top.head(24)
    legends = [", ".join(f"{o.property} {row[o.property]:.3f}" for o in objectives) for _, row in shown.iterrows()]
    if len(shown):
        write_grid(out / "top.png", list(shown.canonical_smiles), legends)


def plot(out: Path, names: list[str]) -> None:
    """properties.png: a box plot per oracle of the kept population's values, per iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = sorted(out.glob("population_*.csv"))
    frames = [pd.read_csv(p) for p in paths]
    iterations = [int(p.stem.split("_")[1]) for p in paths]  # numbered as in summary.csv, from 0
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.boxplot([f[name].dropna().to_numpy() for f in frames], positions=iterations, showfliers=False)
        ax.set_xlabel("iteration")
        ax.set_title(name)
    fig.tight_layout()
    write_atomic(out / "properties.png", lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


def save_state(
    out: Path,
    model: MoleculeModel,
    population: pd.DataFrame,
    z: torch.Tensor,
    state: DesignState,
    config: dict[str, Any],
) -> None:
    """state/ after a completed iteration; the iteration's pending proposals are dropped (it is in the state)."""

    def fill(tmp: Path) -> None:
        (tmp / "model").mkdir()
        model.write_files(tmp / "model")
        population.to_csv(tmp / "population.csv", index=False)
        np.save(tmp / "latents.npy", z.cpu().numpy())
        save_json(tmp / "state.json", asdict(state) | {"config": config})
        torch.save(rng_state(), tmp / "rng.pt")

    write_dir_atomic(out / "state", fill)
    shutil.rmtree(out / "pending", ignore_errors=True)


def saved_config(out: Path) -> dict[str, Any] | None:
    """The config a run in `out` was started with (None: no completed iteration yet)."""
    path = out / "state" / "state.json"
    return load_json(path)["config"] if path.exists() else None


def load_state(out: Path, device: torch.device) -> tuple[MoleculeModel, pd.DataFrame, torch.Tensor, DesignState]:
    """The model, population, latents and counters of state/, and the RNG state it saved."""
    folder = out / "state"
    saved = load_json(folder / "state.json")
    saved.pop("config")
    model = MoleculeModel.from_pretrained(folder / "model", device=device).eval()
    z = torch.from_numpy(np.load(folder / "latents.npy", allow_pickle=False)).to(device)
    set_rng_state(torch.load(folder / "rng.pt", weights_only=True))
    return model, read_scored(folder / "population.csv"), z, DesignState(**saved)


def save_pending(out: Path, it: int, z: torch.Tensor, smiles: list[str], sources: list[str]) -> None:
    """The iteration's proposals and the RNG state after them: a resumed run scores only what is left and
    continues as the uninterrupted run would."""

    def fill(tmp: Path) -> None:
        np.save(tmp / "latents.npy", z.detach().cpu().numpy())
        save_json(tmp / "proposals.json", {"iteration": it, "smiles": smiles, "sources": sources})
        torch.save(rng_state(), tmp / "rng.pt")

    write_dir_atomic(out / "pending", fill)


def save_pending_rows(out: Path, rows: pd.DataFrame) -> None:
    """The rows of the pending proposals scored so far."""
    write_atomic(out / "pending" / "scored.csv", lambda p: rows.to_csv(p, index=False))


def load_pending(
    out: Path, it: int, device: torch.device
) -> tuple[torch.Tensor, list[str], list[str], pd.DataFrame | None] | None:
    """Iteration `it`'s pending proposals (latents, SMILES, sources, the rows already scored) with the RNG state
    saved after them restored; None when it has none."""
    folder = out / "pending"
    if not (folder / "proposals.json").exists():
        return None
    saved = load_json(folder / "proposals.json")
    if saved["iteration"] != it:
        return None
    z = torch.from_numpy(np.load(folder / "latents.npy", allow_pickle=False)).to(device)
    set_rng_state(torch.load(folder / "rng.pt", weights_only=True))
    done = read_scored(folder / "scored.csv") if (folder / "scored.csv").exists() else None
    return z, saved["smiles"], saved["sources"], done
