"""The scoring side of a design run: its oracles (built-in properties, docking, the user's scorers), where they
run (in this process, in worker processes, on a Dask cluster), and the pay-once ledger (lebm.molecule.scoring).
A molecule is paid once: its first scoring in the run is an oracle call (numbered in `oracle_calls`), a repeat
reuses the values, an invalid SMILES is not scored."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .data import canonical
from .design_config import DesignConfig
from .oracles import Oracle
from .scoring import Ledger, build_scorer
from .selection import feasible, with_fitness


def oracles_for(cfg: DesignConfig, start: str | None, callables: dict[str, Callable]) -> dict[str, Oracle]:
    """One oracle per property the objectives and constraints name (a scorer's: its own; `callables`: the
    functions of Python scorers, by name)."""
    scorers = {sc.name: sc for sc in cfg.scorers}
    names = dict.fromkeys([o.property for o in cfg.objectives] + [c.property for c in cfg.constraints])
    return {
        n: Oracle(n, start, cfg.docking, build_scorer(scorers[n], callables.get(n)) if n in scorers else None)
        for n in names
    }


class Scoring:
    """Scores proposals with the run's oracles on its ledger; `close()` stops a cluster it started."""

    def __init__(self, cfg: DesignConfig, oracles: dict[str, Oracle]):
        self.cfg, self.oracles = cfg, oracles
        self.ledger = Ledger()
        self._cluster = None

    def score(
        self, smiles: list[str], iteration: int, bar=None, done: pd.DataFrame | None = None, on_chunk=None
    ) -> pd.DataFrame:
        """Oracle values, feasibility and fitness of proposals, paid once each. Scored in chunks (a progress bar's
        unit); `done` holds rows already scored (a resumed iteration); `on_chunk(rows so far)` is called after each
        chunk."""
        parts = [] if done is None else [done]
        cluster = self.cluster()
        chunk = max(64, 8 * (cluster.workers() if cluster else self.cfg.jobs))
        for a in range(0 if done is None else len(done), len(smiles), chunk):
            part = smiles[a : a + chunk]
            counted = [0]  # on a cluster the bar counts the first oracle's molecules as its batches finish

            def finished(n: int, counted: list[int] = counted) -> None:
                counted[0] += n
                if bar is not None:
                    bar.update(n)

            parts.append(self._score_chunk(part, finished if cluster else None))
            if bar is not None:
                bar.update(len(part) - counted[0])  # the molecules no oracle call was needed for (repeats, invalid)
                self._postfix(bar)
            if on_chunk is not None:
                on_chunk(pd.concat(parts, ignore_index=True))
        frame = pd.concat(parts, ignore_index=True) if parts else self._score_chunk([])
        frame["feasible"] = feasible(frame, self.cfg.constraints, self.cfg.ring_sizes)
        frame = with_fitness(frame, self.cfg.objectives)
        frame["iteration"] = iteration
        return frame

    def paid_fitness(self) -> pd.Series:
        """The fitness of every molecule paid for so far."""
        scored = pd.DataFrame(list(self.ledger.entries.values()), columns=list(self.oracles))
        return with_fitness(scored, self.cfg.objectives).fitness

    def cluster(self):
        """The Dask cluster the oracles run on (a scheduler's, or a LocalCluster for jobs > 1), started at the first
        scoring; None: in this process."""
        if self._cluster is None and (self.cfg.scheduler or self.cfg.jobs > 1):
            from .cluster import Cluster

            self._cluster = Cluster(self.cfg.scheduler, self.cfg.jobs, self.cfg.oracle_timeout)
        return self._cluster

    def _score_chunk(self, smiles: list[str], done=None) -> pd.DataFrame:
        frame = pd.DataFrame({"smiles": smiles, "canonical_smiles": [canonical(s) or "" for s in smiles]})
        frame["valid"] = frame.canonical_smiles != ""
        new = self.ledger.unpaid(list(frame.canonical_smiles[frame.valid]))
        self.ledger.pay(
            new,
            {
                name: np.asarray(oracle(new, cluster=self.cluster(), done=done if i == 0 else None), dtype=np.float64)
                if new
                else np.zeros(0)
                for i, (name, oracle) in enumerate(self.oracles.items())
            },
        )
        for name in self.oracles:
            frame[name] = [self.ledger[c][name] if c else math.nan for c in frame.canonical_smiles]
        frame["oracle_calls"] = pd.array(
            [self.ledger[c]["oracle_calls"] if c else None for c in frame.canonical_smiles], dtype="Int64"
        )  # invalid: never scored
        return frame

    def remember(self, scored: pd.DataFrame) -> None:
        """Add the valid molecules of written scored rows to the ledger (their values and call)."""
        for row in scored.itertuples(index=False):
            self.ledger.remember(row.canonical_smiles, {n: getattr(row, n) for n in [*self.oracles, "oracle_calls"]})

    def _postfix(self, bar) -> None:
        main = self.cfg.objectives[0]
        best = [v[main.property] for v in self.ledger.entries.values() if np.isfinite(v[main.property])]
        bar.set_postfix(
            {
                "oracle calls": self.ledger.calls,
                f"best {main.property}": f"{(max if main.direction == 'max' else min)(best):.3f}" if best else "-",
            },
            refresh=False,
        )

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
