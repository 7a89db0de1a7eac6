"""Ranking and selection of scored molecules: functions of DataFrames, no model.

fitness: the objectives' weighted, signed (transformed) values. feasible: within every constraint and ring size.
selected: the top-k distinct valid molecules, feasible ones first, by fitness; with a diversity filter a crowded
molecule ranks after every uncrowded one: scaffold_cap = N (its Murcko scaffold already has N better members
among the kept ones; molecules without rings share one scaffold) and max_similarity = s (its Tanimoto similarity
to a better uncrowded one exceeds s; the best `elite` molecules are never crowded by it, so the search near the
best goes on while the rest of the kept set spreads out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data import parse
from .design_config import Constraint, DesignConfig, Objective
from .oracles import similarity_fingerprint


def with_fitness(frame: pd.DataFrame, objectives: list[Objective]) -> pd.DataFrame:
    """The frame with each objective's `<name>_transformed` column and `fitness`, the ranking score: the weighted,
    signed transformed values, -inf where one is missing."""
    out = frame.assign(**{f"{o.property}_transformed": o.transformed(frame[o.property]) for o in objectives})
    signed = [o.weight * (1 if o.direction == "max" else -1) * out[f"{o.property}_transformed"] for o in objectives]
    out["fitness"] = sum(signed).fillna(-math.inf)
    return out


def feasible(frame: pd.DataFrame, constraints: list[Constraint], ring_sizes: list[int]) -> pd.Series:
    """Valid rows within every constraint's bounds whose rings all have an allowed size (any, when none given)."""
    ok = frame.valid.astype(bool).copy()
    for c in constraints:
        if c.min is not None:
            ok &= frame[c.property] >= c.min
        if c.max is not None:
            ok &= frame[c.property] <= c.max
    if ring_sizes:
        allowed = set(ring_sizes)
        ok &= pd.Series([rings_allowed(s, allowed) for s in frame.canonical_smiles], index=frame.index, dtype=bool)
    return ok


def rings_allowed(smiles: str, allowed: set[int]) -> bool:
    """Every ring of the molecule has an allowed size (False for an empty or unparseable SMILES)."""

    mol = parse(smiles)  # kept in a variable: the ring info lives in the Mol
    return mol is not None and all(len(ring) in allowed for ring in mol.GetRingInfo().AtomRings())


@dataclass
class Memo:
    """What the diversity filter computes once per molecule (kept molecules come back every iteration)."""

    scaffolds: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, Any] = field(default_factory=dict)

    def scaffold(self, smiles: str) -> str:
        """Murcko scaffold SMILES ('' for a molecule without rings)."""
        if smiles not in self.scaffolds:
            from rdkit.Chem.Scaffolds import MurckoScaffold

            self.scaffolds[smiles] = MurckoScaffold.MurckoScaffoldSmiles(smiles)
        return self.scaffolds[smiles]

    def fingerprint(self, smiles: str) -> Any:
        if smiles not in self.fingerprints:
            self.fingerprints[smiles] = similarity_fingerprint(smiles)
        return self.fingerprints[smiles]


def selected(frame: pd.DataFrame, cfg: DesignConfig, memo: Memo | None = None) -> pd.DataFrame:
    """The top_k distinct valid rows, feasible ones first, by fitness (with the diversity filter: uncrowded ones
    first), in that order; the index is the frame's (it picks the rows' latents)."""
    memo = memo or Memo()
    order = frame[frame.valid].sort_values(["feasible", "fitness"], ascending=False, kind="stable")
    order = order.drop_duplicates("canonical_smiles")
    crowded = np.zeros(len(order), bool)
    if cfg.scaffold_cap:
        scaffold = order.canonical_smiles.map(memo.scaffold)
        crowded |= (scaffold.groupby(scaffold).cumcount() >= cfg.scaffold_cap).to_numpy()
    if cfg.max_similarity < 1:
        crowded |= similar_to_better(order.canonical_smiles.tolist(), crowded, cfg, memo)
    if crowded.any():
        order = order.assign(crowded=crowded)
        order = order.sort_values(["feasible", "crowded", "fitness"], ascending=[False, True, False], kind="stable")
    return order.head(cfg.top_k)


def similar_to_better(smiles: list[str], crowded: np.ndarray, cfg: DesignConfig, memo: Memo) -> np.ndarray:
    """Per molecule (best first): True if its Tanimoto similarity to an earlier uncrowded one exceeds
    max_similarity (never for the first `elite` uncrowded ones); stops once top_k uncrowded ones are found (the
    rest cannot enter before them)."""
    from rdkit import DataStructs

    similar, kept = np.zeros(len(smiles), bool), list[Any]()
    for i, smi in enumerate(smiles):
        if len(kept) == cfg.top_k:
            break
        if crowded[i]:
            continue
        fp = memo.fingerprint(smi)
        similar[i] = (
            len(kept) >= max(1, cfg.elite) and max(DataStructs.BulkTanimotoSimilarity(fp, kept)) > cfg.max_similarity
        )
        if not similar[i]:
            kept.append(fp)
    return similar
