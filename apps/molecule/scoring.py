"""Scorers a chemist brings: a Python callable, an external command, or a PMO benchmark task.

A scorer maps a list of SMILES to one float per molecule, NaN for a failure. Failures never stop a
design run: a callable that raises, a command that times out, exits non-zero or prints the wrong number
of lines, or a line that is not a number all give NaN for the molecules concerned, counted by the
Oracle that wraps the scorer (`calls`, `failures`), like the built-in oracles.

    [[design.scorers]]                        # in a design TOML; objectives refer to it by name
    name = "activity"
    callable = "my_project.models:predict"    # importable module:function(list[str]) -> list[float]
    # command = "python score.py"             # or: SMILES on stdin, one per line; one score per line out
    # pmo = "celecoxib_rediscovery"           # or: a PMO task scored by GuacaMol's definitions
    timeout = 600                             # seconds per batch (command and callable alike)

PMO tasks (Gao et al. 2022) are the 20 of its 23 oracles that need no downloaded model; their scoring
functions come from the `guacamol` package (0.5.5), which PMO's own oracles (TDC) were built from.
"""

from __future__ import annotations

import importlib
import logging
import math
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lebm.core.config import option
from lebm.core.errors import ConfigError

# PMO task name -> the name of its benchmark in GuacaMol (goal-directed suite v2, plus the C7H8N2O2 isomers and
# QED, which PMO adds); the scoring functions are GuacaMol's own objects, never re-implemented here.
PMO_TASKS: dict[str, str] = {
    "albuterol_similarity": "Albuterol similarity",
    "amlodipine_mpo": "Amlodipine MPO",
    "celecoxib_rediscovery": "Celecoxib rediscovery",
    "deco_hop": "Deco Hop",
    "fexofenadine_mpo": "Fexofenadine MPO",
    "isomers_c7h8n2o2": "C7H8N2O2",
    "isomers_c9h10n2o2pf2cl": "C9H10N2O2PF2Cl",
    "median1": "Median molecules 1",
    "median2": "Median molecules 2",
    "mestranol_similarity": "Mestranol similarity",
    "osimertinib_mpo": "Osimertinib MPO",
    "perindopril_mpo": "Perindopril MPO",
    "qed": "QED",
    "ranolazine_mpo": "Ranolazine MPO",
    "scaffold_hop": "Scaffold Hop",
    "sitagliptin_mpo": "Sitagliptin MPO",
    "thiothixene_rediscovery": "Thiothixene rediscovery",
    "troglitazone_rediscovery": "Troglitazone rediscovery",
    "valsartan_smarts": "Valsartan SMARTS",
    "zaleplon_mpo": "Zaleplon MPO",
}

log = logging.getLogger(__name__)


@dataclass
class ScorerConfig:
    name: str = option("", "the name objectives and constraints use for this score")
    callable: str = option("", "module:function taking a list of SMILES, returning one float each (NaN: failure)")
    command: str = option(
        "", "shell-free command line: reads SMILES on stdin (one per line), prints one score per line"
    )
    pmo: str = option("", "a PMO benchmark task (scored with GuacaMol's definitions)")
    python: bool = option(False, "a Python callable handed over in code: lebm.molecule.design(scorers={name: f})")
    timeout: float = option(600.0, "seconds allowed per batch; past it the batch's molecules fail (NaN)")

    def __post_init__(self) -> None:
        kinds = [k for k in ("callable", "command", "pmo", "python") if getattr(self, k)]
        if not self.name:
            raise ConfigError("a scorer needs a name")
        if len(kinds) != 1:
            raise ConfigError(
                f"scorer {self.name!r} must set exactly one of callable, command, pmo, python (got "
                f"{', '.join(kinds) or 'none'})"
            )
        if self.pmo and self.pmo not in PMO_TASKS:
            raise ConfigError(f"scorer {self.name!r}: unknown PMO task {self.pmo!r} (known: {', '.join(PMO_TASKS)})")
        if self.callable and self.callable.count(":") != 1:
            raise ConfigError(f"scorer {self.name!r}: callable must be 'module:function', got {self.callable!r}")
        if not self.timeout > 0:
            raise ConfigError(f"scorer {self.name!r}: timeout must be > 0, got {self.timeout}")


def build_scorer(config: ScorerConfig, python: Callable | None = None) -> Callable[[list[str]], list[float]]:
    """The batch function of a scorer config (imports and checks happen here, once); `python`: the callable of a
    `python = true` scorer."""
    if config.python:
        if python is None:
            raise ConfigError(
                f"scorer {config.name!r} is a Python scorer: hand its callable over, "
                f"lebm.molecule.design(..., scorers={{{config.name!r}: f}})"
            )
        return lambda smiles: run_callable(python, smiles, config.timeout)
    if config.pmo:
        return pmo_scorer(config.pmo)
    if config.command:
        argv = shlex.split(config.command)
        return lambda smiles: run_command(argv, smiles, config.timeout)
    module, function = config.callable.split(":")
    try:
        fn = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"scorer {config.name!r}: cannot load {config.callable!r} ({e})") from None
    return lambda smiles: run_callable(fn, smiles, config.timeout)


def _floats(values, n: int) -> list[float]:
    """n floats from a scorer's answer; anything unreadable is NaN."""
    out = []
    for v in list(values)[:n]:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out + [math.nan] * (n - len(out))


def run_callable(fn: Callable, smiles: list[str], timeout: float) -> list[float]:
    """fn(smiles) in a worker thread: an exception, a wrong-length answer or the timeout -> NaN (and a warning).
    A callable past its timeout cannot be stopped from here: its thread is left to finish in the background."""
    result: dict = {}

    def call() -> None:
        try:
            result["values"] = fn(list(smiles))
        except Exception as e:  # a user's scorer failing is a counted failure, not the end of the run
            result["error"] = f"{type(e).__name__}: {e}"
        except KeyboardInterrupt:  # Ctrl-C reached the scorer: the run stops there (and resumes with --resume)
            result["interrupted"] = True

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout)
    if result.get("interrupted"):
        raise KeyboardInterrupt
    if worker.is_alive() or "error" in result:
        log.warning(
            f"scorer failed on {len(smiles)} molecules: {result.get('error', f'timed out after {timeout:g} s')}"
        )
        return [math.nan] * len(smiles)
    values = list(result["values"])
    if len(values) != len(smiles):
        log.warning(f"scorer returned {len(values)} values for {len(smiles)} molecules: all counted as failures")
        return [math.nan] * len(smiles)
    return _floats(values, len(smiles))


def run_command(argv: list[str], smiles: list[str], timeout: float) -> list[float]:
    """The command with SMILES on stdin; one score per output line (blank or unreadable lines: NaN)."""
    try:
        done = subprocess.run(argv, input="\n".join(smiles) + "\n", capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning(f"scorer command timed out after {timeout:g} s on {len(smiles)} molecules")
        return [math.nan] * len(smiles)
    except OSError as e:
        log.warning(f"scorer command {argv[0]!r} could not run: {e}")
        return [math.nan] * len(smiles)
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != len(smiles):
        log.warning(
            f"scorer command exited {done.returncode} with {len(lines)} lines for {len(smiles)} molecules: all "
            f"counted as failures ({done.stderr.strip()[-200:]})"
        )
        return [math.nan] * len(smiles)
    return _floats(lines, len(smiles))


def _guacamol_benchmarks() -> dict:
    """GuacaMol's goal-directed benchmarks by name. GuacaMol 0.5.5 imports `scipy.histogram`, an alias of numpy's
    that SciPy has since dropped; it is restored before the import (its `fcd` import is met by the FCD package)."""
    import scipy

    if not hasattr(scipy, "histogram"):
        scipy.histogram = np.histogram
    try:
        from guacamol import benchmark_suites, standard_benchmarks
    except ImportError as e:
        raise ConfigError(f"PMO tasks need guacamol: pip install --no-deps guacamol==0.5.5 fcd==1.2.2 ({e})") from None
    found = [
        *benchmark_suites.goal_directed_suite_v2(),
        standard_benchmarks.isomers_c7h8n2o2(),
        standard_benchmarks.qed_benchmark(),
    ]
    return {b.name: b for b in found}


def pmo_scorer(task: str) -> Callable[[list[str]], list[float]]:
    """The PMO task's score in [0, 1] for each SMILES (NaN where the SMILES does not parse)."""
    from .data import parse

    objective = _guacamol_benchmarks()[PMO_TASKS[task]].objective

    def score(smiles: list[str]) -> list[float]:
        return [math.nan if parse(s) is None else float(objective.score(s)) for s in smiles]

    return score


class Ledger:
    """Pay once: every distinct valid molecule (canonical SMILES) a run paid an oracle call for, with its values
    and the number of that call (1, 2, ... in payment order). A repeat is answered from here, never paid again."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, float]] = {}
        self.calls = 0

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> dict[str, float]:
        return self.entries[key]

    def unpaid(self, keys: list[str | None]) -> list[str]:
        """The distinct keys not paid for yet, in first-seen order (empty and None keys: invalid, never paid)."""
        return [k for k in dict.fromkeys(keys) if k and k not in self.entries]

    def pay(self, keys: list[str], values: Mapping[str, Sequence[float] | np.ndarray]) -> None:
        """Record one call per key, numbered on from the calls so far; values[name][i] is key i's value."""
        for i, key in enumerate(keys):
            self.calls += 1
            self.entries[key] = {name: v[i] for name, v in values.items()} | {"oracle_calls": self.calls}

    def remember(self, key: str, values: dict[str, float]) -> None:
        """A molecule paid for earlier (read back from a run's files), with its values and its call number."""
        if key and key not in self.entries:
            self.entries[key] = values
            self.calls = max(self.calls, int(values["oracle_calls"]))


class BudgetedScorer:
    """PMO's oracle accounting around a batch scorer, on a Ledger: a call is a distinct valid molecule (canonical
    SMILES) scored for the first time; repeats are answered from the ledger and SMILES that do not parse score 0,
    neither counted; a failed score (NaN) counts and scores 0. Once `budget` calls are spent, new molecules score
    0 and `exhausted` is set; a later call with new molecules raises BudgetSpent (so a foreign optimiser stops).
    `free` holds molecules answered without a call (a subclass's pre-check, e.g. docking's cheap filters)."""

    class BudgetSpent(RuntimeError):
        pass

    def __init__(self, fn: Callable[[list[str]], list[float]], budget: int):
        self.fn, self.budget = fn, budget
        self.ledger = Ledger()
        self.free: dict[str, float] = {}
        self.exhausted = False

    @property
    def history(self) -> list[float]:
        """The scores in call order."""
        return [entry["score"] for entry in self.ledger.entries.values()]

    def scores(self) -> dict[str, float]:
        """Every molecule answered so far (canonical SMILES) and its score."""
        return {k: entry["score"] for k, entry in self.ledger.entries.items()} | self.free

    def __call__(self, smiles: list[str]) -> list[float]:
        from .data import canonical

        keys = [canonical(s) if s else None for s in smiles]
        new = [k for k in self.ledger.unpaid(keys) if k not in self.free]
        if new and self.exhausted:
            raise BudgetedScorer.BudgetSpent(f"the budget of {self.budget} oracle calls is spent")
        room = self.budget - self.ledger.calls
        if len(new) >= room:
            self.exhausted = True
        paid = new[: max(room, 0)]
        scores = self.fn(paid) if paid else []
        self.ledger.pay(paid, {"score": [0.0 if v is None or math.isnan(v) else float(v) for v in scores]})
        return [(self.ledger[k]["score"] if k in self.ledger else self.free.get(k, 0.0)) if k else 0.0 for k in keys]


def auc_top_k(history: list[float], budget: int, k: int = 10, every: int = 100) -> float:
    """PMO's sample-efficiency score: the mean of the k best scores so far, taken after every `every` calls
    (from 0 at call 0) and at the last call, integrated by the trapezoid rule over the calls, held at its last
    value up to the budget when the run stopped early, divided by the budget. In [0, 1] for scores in [0, 1]."""
    calls = min(len(history), budget)
    if calls == 0:
        return 0.0
    scores = np.asarray(history[:calls], dtype=np.float64)
    marks = [*range(every, calls, every), calls]
    tops = [float(np.mean(np.sort(scores[:m])[::-1][:k])) for m in marks]
    area, previous, at = 0.0, 0.0, 0
    for mark, top in zip(marks, tops):
        area += (mark - at) * (top + previous) / 2
        previous, at = top, mark
    area += (budget - calls) * tops[-1]
    return area / budget
