"""The settings of a design run (lebm.molecule.sgds): what to improve (objectives), what a kept molecule must
satisfy (constraints), and how the loop proposes, scores, selects and fine-tunes. Each is checked when it is made:
a bad setting is one ConfigError naming it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from lebm.core.config import check_choices, load_toml, option, resolve, to_dict
from lebm.core.errors import ConfigError

from .data import DATASETS, canonical
from .oracles import PROPERTIES, DockingSpec
from .scoring import ScorerConfig


@dataclass
class Objective:
    property: str = option("qed", "oracle name")
    direction: Literal["max", "min"] = option("max", "maximise or minimise")
    shift: float = option(0.02, "target shift per iteration, in property units")
    weight: float = option(1.0, "weight in the ranking score")
    transform: Literal["none", "linear", "sigmoid"] = option(
        "none",
        "score used in the ranking: the raw value, or mapped to [0, 1] between low and high (linear: "
        "clipped ramp; sigmoid: smooth step centred between them)",
    )
    low: float = option(0.0, "transform: the value that maps to 0")
    high: float = option(1.0, "transform: the value that maps to 1")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.transform != "none" and not self.high > self.low:
            raise ConfigError(f"objective {self.property!r}: transform needs high > low, got {self.low}, {self.high}")

    def transformed(self, values: pd.Series) -> pd.Series:
        if self.transform == "none":
            return values
        unit = (values - self.low) / (self.high - self.low)
        return unit.clip(0, 1) if self.transform == "linear" else 1 / (1 + np.exp(-10 * (unit - 0.5)))


@dataclass
class Constraint:
    property: str = option("sa", "oracle name (or 'similarity' to the start molecule)")
    min: float | None = option(None, "lowest allowed value")
    max: float | None = option(None, "highest allowed value")

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ConfigError(f"constraint on {self.property!r} sets neither min nor max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ConfigError(f"constraint on {self.property!r} is contradictory: min {self.min} > max {self.max}")


@dataclass
class DesignConfig:
    model: str = option("", "model directory trained with a head for every objective (empty: the bundled model)")
    objectives: list[Objective] = option([Objective()], "what to improve")
    constraints: list[Constraint] = option([], "bounds a kept molecule must satisfy")
    ring_sizes: list[int] = option([], "allowed ring sizes (empty: any)")
    start_smiles: str = option("", "start molecule: the population starts around it; 'similarity' refers to it")
    population: int = option(1000, "molecules proposed per iteration")
    top_k: int = option(500, "molecules kept per iteration")
    start: Literal["warm", "cold"] = option("warm", "warm: move the previous latents; cold: chains from noise")
    langevin_steps: int = option(2, "Langevin steps per iteration (warm start)")
    cold_steps: int = option(20, "Langevin steps per iteration (cold start)")
    step_size: float = option(0.1, "Langevin step size of the shift moves")
    finetune_epochs: int = option(1, "epochs of fine-tuning on the kept set per iteration (0: none)")
    finetune_batch: int = option(128, "batch size of the fine-tuning")
    iterations: int = option(10, "number of shift iterations")
    oracle_budget: int | None = option(None, "stop once this many oracle calls were made (unset: no limit)")
    patience: int = option(
        0,
        "stop once the 100 best scores (fitness) of the run are unchanged for this many "
        "iterations in a row (PMO's convergence rule: 5; 0: off)",
    )
    jobs: int = option(
        1,
        "oracle worker processes: with jobs > 1 and no scheduler, a Dask LocalCluster of this many "
        "single-threaded workers",
    )
    scheduler: str = option(
        "", "a Dask scheduler's address (tcp://HOST:8786): the oracles run on its workers (needs the 'cluster' extra)"
    )
    oracle_timeout: float = option(
        600.0,
        "seconds without any oracle batch finishing on the cluster, after which the unfinished molecules score NaN",
    )
    seed: int = option(0, "seed")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda")
    train_smiles: str = option("zinc250k", "training set for novelty: 'zinc250k', 'moses', a SMILES file, or 'none'")
    docking: DockingSpec | None = option(None, "receptor and box for a 'docking' objective or constraint")
    scorers: list[ScorerConfig] = option(
        [], "user scores (callable, command or PMO task) that objectives and constraints can name"
    )
    learn_heads: bool = option(
        False,
        "a built-in objective the model has no head for gets one learned during the "
        "run (scorers always do); off: such a run is refused",
    )
    scaffold_cap: int = option(
        0, "diversity filter: at most this many kept molecules per Murcko scaffold before the rest rank last (0: off)"
    )
    max_similarity: float = option(
        1.0, "diversity filter: one more similar than this to a better kept one ranks last (1: off)"
    )
    elite: int = option(0, "with max_similarity: the best this many molecules are kept whatever their similarity")
    graph_share: float = option(
        0.0,
        "share of each iteration's proposals made by graph mutation and crossover of "
        "kept molecules (mol-ga's Graph GA operators) instead of latent moves (0: off)",
    )
    adapt_share: bool = option(
        True,
        "with graph_share: after each iteration the share moves to the graph "
        "proposals' part of the newcomers kept, per proposal made (bounded to 0.1-0.9)",
    )
    screen: int = option(
        1,
        "proposals made per molecule scored: with M > 1 each iteration after the first makes M "
        "times `population` proposals and pays the oracle for only the `population` new valid "
        "ones a Tanimoto-kernel GP, fitted on the molecules scored so far, ranks highest (upper "
        "confidence bound; lebm.molecule.surrogate); 1: every proposal is scored",
    )
    screen_beta: float = option(1.0, "with screen > 1: weight of the GP's standard deviation in the ranking")
    explore: bool = option(
        True,
        "when over half of an iteration's valid latent proposals were scored before, the "
        "next moves go further and decode hotter (step size x1.5 a time, up to x4; the "
        "decoding temperature with its fourth root); back down once they are new again",
    )

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.objectives:
            raise ConfigError("a design run needs at least one objective")
        scorer_names = [sc.name for sc in self.scorers]
        for name in scorer_names:
            if name in PROPERTIES or name in ("similarity", "docking") or scorer_names.count(name) > 1:
                raise ConfigError(f"scorer name {name!r} is taken (a built-in property or another scorer)")
        names = [o.property for o in self.objectives] + [c.property for c in self.constraints]
        for name in names:
            if name not in PROPERTIES and name not in ("similarity", "docking", *scorer_names):
                raise ConfigError(
                    f"unknown property {name!r} (known: {', '.join(sorted(PROPERTIES))}, "
                    "similarity, docking, or a [[design.scorers]] name)"
                )
        if "docking" in names and self.docking is None:
            raise ConfigError("a docking objective or constraint needs a [design.docking] table")
        if any(c.property == "similarity" for c in self.constraints) and not self.start_smiles:
            raise ConfigError("a similarity constraint needs start_smiles")
        if self.start_smiles and canonical(self.start_smiles) is None:
            raise ConfigError(f"start_smiles {self.start_smiles!r} does not parse")
        if not 0 <= self.graph_share < 1:
            raise ConfigError(f"graph_share must be in [0, 1), got {self.graph_share}")
        for name in ("population", "top_k", "iterations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.oracle_budget is not None and self.oracle_budget < self.population:
            raise ConfigError(
                f"oracle_budget {self.oracle_budget} cannot score even one population of "
                f"{self.population} (leave it unset for no limit)"
            )
        if self.scaffold_cap < 0:
            raise ConfigError(f"scaffold_cap must be >= 0 (0: off), got {self.scaffold_cap}")
        if self.elite < 0:
            raise ConfigError(f"elite must be >= 0, got {self.elite}")
        if not 0 < self.max_similarity <= 1:
            raise ConfigError(f"max_similarity must be in (0, 1] (1: off), got {self.max_similarity}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0 (0: off), got {self.patience}")
        if self.screen < 1:
            raise ConfigError(f"screen must be >= 1 (1: off), got {self.screen}")
        if self.top_k > self.population:
            raise ConfigError(f"top_k ({self.top_k}) cannot exceed population ({self.population})")


def design_table(path: str | Path) -> dict[str, Any]:
    """A design TOML's [design] table, its relative paths (model, train_smiles, docking receptor) made relative to
    the file rather than to the working directory."""
    path = Path(path)
    table = load_toml(path)
    design = table.get("design", table)
    for key, keep in (("model", ("",)), ("train_smiles", ("", *DATASETS, "none"))):
        if isinstance(design.get(key), str) and design[key] not in keep:
            design[key] = str(path.parent / Path(design[key]).expanduser())
    receptor = design.get("docking", {}).get("receptor")
    if isinstance(receptor, str) and not receptor.startswith("dockstring:"):
        design["docking"]["receptor"] = str(path.parent / Path(receptor).expanduser())
    return design


def design_config(config: Any, python_scorers: list[str], settings: dict[str, Any]) -> DesignConfig:
    """The DesignConfig of `design`'s arguments: `config` (a DesignConfig, a [design] dict or a TOML path) with
    `settings` over it, a scorer entry for each Python scorer it does not name yet, the bundled model by default."""
    from .api import bundled_model_dir

    if isinstance(config, str | Path):
        config = design_table(config)
    table = to_dict(config) if isinstance(config, DesignConfig) else dict(config or {})
    table |= settings
    named = {sc["name"] if isinstance(sc, dict) else sc.name for sc in table.get("scorers", [])}
    table["scorers"] = [to_dict(sc) if isinstance(sc, ScorerConfig) else sc for sc in table.get("scorers", [])] + [
        {"name": name, "python": True} for name in python_scorers if name not in named
    ]
    cfg = resolve(DesignConfig, None, table, where="design.")
    return replace(cfg, model=cfg.model or str(bundled_model_dir()))
