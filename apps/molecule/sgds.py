"""Property-guided design by gradual distribution shifting (SGDS, Kong et al. 2023).

One iteration: move each member's latent by a few Langevin steps on log p_a(z) + log p(y + delta | z)
(its own current property values shifted by each objective's step), decode, score with the real
oracles, merge with the population, keep the top-k feasible molecules, fine-tune the model on them
through the core's trainer, re-infer their latents. A run directory holds every iteration's
population, every scored molecule (scored_NNN.csv: each component's raw and transformed score, the
oracle-call count), a summary, plots, the final top molecules, and a resumable state.

Objectives may be scorers the user brings (lebm.molecule.scoring: a callable, a command, a PMO task).
An objective the model has no head for (always the case for a scorer) gets a head p(y | z) learned
during the run: fitted on the first population's latents and scores, then on the kept molecules' after
each fine-tuning.
Two diversity filters rank a crowded molecule after every uncrowded one: scaffold_cap = N (its Murcko scaffold
already has N better members among the kept ones; molecules without rings share one scaffold) and
max_similarity = s (its Tanimoto similarity to a better uncrowded one exceeds s; the best `elite` molecules are
never crowded by it, so the search near the best goes on while the rest of the kept set spreads out).
"""

from __future__ import annotations

import math
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from lebm.core.config import check_choices, option, to_dict
from lebm.core.distributed import pick_device, rng_state, set_rng_state
from lebm.core.errors import ConfigError
from lebm.core.io import load_json, save_json, write_atomic, write_dir_atomic
from lebm.core.progress import progress
from lebm.core.trainer import TrainConfig, Trainer

from .data import DATASETS, canonical, clean, dataset_smiles, input_standard, read_smiles_file
from .latent import fingerprint_bags, posterior_means
from .model import MoleculeModel
from .oracles import PROPERTIES, DockingSpec, Oracle, similarity_fingerprint
from .scoring import ScorerConfig, build_scorer
from .tokens import to_representation, tokenize


@dataclass
class Objective:
    property: str = option("qed", "oracle name")
    direction: Literal["max", "min"] = option("max", "maximise or minimise")
    shift: float = option(0.02, "target shift per iteration, in property units")
    weight: float = option(1.0, "weight in the ranking score")
    transform: Literal["none", "linear", "sigmoid"] = option(
        "none", "score used in the ranking: the raw value, or mapped to [0, 1] between low and high (linear: "
                "clipped ramp; sigmoid: smooth step centred between them)")
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
    patience: int = option(0, "stop once the 100 best scores (fitness) of the run are unchanged for this many "
                              "iterations in a row (PMO's convergence rule: 5; 0: off)")
    jobs: int = option(1, "oracle worker processes: with jobs > 1 and no scheduler, a Dask LocalCluster of this many "
                          "single-threaded workers")
    scheduler: str = option("", "a Dask scheduler's address (tcp://HOST:8786): the oracles run on its workers "
                                "(needs the 'cluster' extra)")
    oracle_timeout: float = option(600.0, "seconds without any oracle batch finishing on the cluster, after which "
                                          "the unfinished molecules score NaN")
    seed: int = option(0, "seed")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda")
    train_smiles: str = option("zinc250k", "training set for novelty: 'zinc250k', 'moses', a SMILES file, or 'none'")
    docking: DockingSpec | None = option(None, "receptor and box for a 'docking' objective or constraint")
    scorers: list[ScorerConfig] = option([], "user scores (callable, command or PMO task) that objectives and "
                                              "constraints can name")
    learn_heads: bool = option(False, "a built-in objective the model has no head for gets one learned during the "
                                      "run (scorers always do); off: such a run is refused")
    scaffold_cap: int = option(0, "diversity filter: at most this many kept molecules per Murcko scaffold before "
                                  "the rest rank last (0: off)")
    max_similarity: float = option(1.0, "diversity filter: a molecule whose Tanimoto similarity (Morgan radius 2, "
                                        "2,048 bits) to a better kept one exceeds this ranks last (1: off)")
    elite: int = option(0, "with max_similarity: the best this many molecules are kept whatever their similarity")
    graph_share: float = option(0.0, "share of each iteration's proposals made by graph mutation and crossover of "
                                     "kept molecules (mol-ga's Graph GA operators) instead of latent moves (0: off)")
    adapt_share: bool = option(True, "with graph_share: after each iteration the share moves to the graph "
                                     "proposals' part of the newcomers kept, per proposal made (bounded to 0.1-0.9)")
    screen: int = option(1, "proposals made per molecule scored: with M > 1 each iteration after the first makes M "
                            "times `population` proposals and pays the oracle for only the `population` new valid "
                            "ones a Tanimoto-kernel GP, fitted on the molecules scored so far, ranks highest (upper "
                            "confidence bound; lebm.molecule.surrogate); 1: every proposal is scored")
    screen_beta: float = option(1.0, "with screen > 1: weight of the GP's standard deviation in the ranking")
    explore: bool = option(True, "when over half of an iteration's valid latent proposals were scored before, the "
                                 "next moves go further and decode hotter (step size x1.5 a time, up to x4; the "
                                 "decoding temperature with its fourth root); back down once they are new again")

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
                raise ConfigError(f"unknown property {name!r} (known: {', '.join(sorted(PROPERTIES))}, "
                                  "similarity, docking, or a [[design.scorers]] name)")
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
            raise ConfigError(f"oracle_budget {self.oracle_budget} cannot score even one population of "
                              f"{self.population} (leave it unset for no limit)")
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


@dataclass
class DesignState:
    iteration: int = 0
    oracle_calls: int = 0
    history: list[dict] = field(default_factory=list)
    share: float = 0.0  # graph proposals' share of the next iteration
    boost: float = 1.0  # exploration: step size factor of the next latent moves
    best: list[float] = field(default_factory=list)  # the 100 best fitness values at the last check (patience)
    unchanged: int = 0  # checks in a row they stayed the same


# what a design run writes into its directory (`--overwrite` removes these, and only these)
OUTPUTS = ("population_*.csv", "scored_*.csv", "summary.csv", "state", "state.old", "pending", "top.csv", "top.png",
           "properties.png")


class DesignRun:
    def __init__(self, config: DesignConfig, out_dir: Path, quiet: bool = False,
                 callables: dict[str, Callable[[list[str]], list[float]]] | None = None):
        """`callables`: the functions of the config's Python scorers (`python = true`), by name."""
        self.cfg, self.out, self.quiet = config, Path(out_dir), quiet
        callables = callables or {}
        self.device = pick_device(config.device)
        self.model = MoleculeModel.from_pretrained(config.model, device=self.device)
        if config.start_smiles:  # standardised like every input (largest fragment, neutral), and encodable
            report = clean([config.start_smiles], self.model.config.representation, self.model.vocab,
                           self.model.config.max_len, standard=input_standard(self.model.vocab))
            if not report.kept:
                raise ConfigError(f"start_smiles {config.start_smiles!r}: {report.rejects[0][2]}")
            if report.changed and not quiet:
                print(f"start_smiles standardised ({', '.join(report.changed)}): {report.kept[0]}", file=sys.stderr)
            config.start_smiles = report.kept[0]
        scorers = {sc.name: sc for sc in config.scorers}
        # objectives without a head: scorers always learn one; built-in properties only with learn_heads
        self.learned = [o.property for o in config.objectives if o.property not in self.model.config.properties]
        refused = [n for n in self.learned if n not in scorers and not config.learn_heads]
        if refused:
            raise ConfigError(f"the model {config.model} has no head for objective {refused[0]!r} "
                              f"(heads: {', '.join(self.model.config.properties) or 'none'}); train it with "
                              "--properties, or set learn_heads = true to learn one during the run")
        names = dict.fromkeys([o.property for o in config.objectives] + [c.property for c in config.constraints])
        self.oracles = {n: Oracle(n, config.start_smiles or None, config.docking,
                                  build_scorer(scorers[n], callables.get(n)) if n in scorers else None)
                        for n in names}
        self.scaffolds: dict[str, str] = {}
        self.fingerprints: dict[str, object] = {}  # the similarity filter's, by canonical SMILES
        self.surrogate_fingerprints: dict[str, np.ndarray] = {}  # the surrogate's rows, by canonical SMILES
        self.state = DesignState()
        self.train: set[str] | None = None
        if config.train_smiles in DATASETS:
            self.train = set(dataset_smiles(config.train_smiles, "train"))
        elif config.train_smiles != "none":
            self.train = {c for c in map(canonical, read_smiles_file(config.train_smiles)) if c}
        self.population = pd.DataFrame()
        self.z = torch.zeros(0, self.model.prior.latent_dim, device=self.device)
        self.known: dict[str, dict] = {}  # canonical SMILES -> its oracle values and the call that scored it
        self._cluster = None

    # --- scoring ------------------------------------------------------------------------------
    def score(self, smiles: list[str], iteration: int, bar=None, done: pd.DataFrame | None = None,
              on_chunk=None) -> pd.DataFrame:
        """Oracle values, feasibility and fitness of proposals. A molecule is paid once: its first scoring in the
        run is an oracle call (numbered in `oracle_calls`), a repeat reuses the values, an invalid SMILES is not
        scored. Scored in chunks (a progress bar's unit); `done` holds rows already scored (a resumed iteration);
        `on_chunk(rows so far)` is called after each chunk."""
        parts = [] if done is None else [done]
        cluster = self.cluster()
        chunk = max(64, 8 * (cluster.workers() if cluster else self.cfg.jobs))
        for a in range(0 if done is None else len(done), len(smiles), chunk):
            part = smiles[a:a + chunk]
            counted = [0]  # on a cluster the bar counts the first oracle's molecules as its batches finish

            def finished(n: int) -> None:
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
        frame["feasible"] = frame.valid & self._feasible(frame)
        frame["fitness"] = self.fitness(frame)
        frame["iteration"] = iteration
        return frame

    def fitness(self, frame: pd.DataFrame) -> pd.Series:
        """The ranking score: the objectives' weighted, signed (transformed) values; -inf where one is missing. Adds
        each objective's `<name>_transformed` column."""
        for o in self.cfg.objectives:
            frame[f"{o.property}_transformed"] = o.transformed(frame[o.property])
        signed = [o.weight * (1 if o.direction == "max" else -1) * frame[f"{o.property}_transformed"]
                  for o in self.cfg.objectives]
        return sum(signed).fillna(-math.inf)

    def screened(self, smiles: list[str], k: int) -> list[int]:
        """Indices of the k proposals to pay for (screen > 1): distinct new valid molecules ranked by the surrogate
        (lebm.molecule.surrogate) fitted on every molecule scored so far."""
        from .surrogate import screen

        first: dict[str, int] = {}
        for i, c in enumerate(map(canonical, smiles)):
            if c and c not in self.known and c not in first:
                first[c] = i
        scored = pd.DataFrame([{"canonical_smiles": c, **v} for c, v in self.known.items()],
                              columns=["canonical_smiles", *self.oracles])
        fit = self.fitness(scored).to_numpy(dtype=np.float64)
        ok = np.isfinite(fit)
        pick = screen(scored.canonical_smiles[ok].tolist(), fit[ok], list(first), k, self.cfg.screen_beta,
                      self.cfg.seed * 1000 + self.state.iteration, self.surrogate_fingerprints)
        return sorted(list(first.values())[i] for i in pick)

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
        new = [c for c in dict.fromkeys(frame.canonical_smiles[frame.valid]) if c not in self.known]
        values = {name: np.asarray(oracle(new, cluster=self.cluster(), done=done if i == 0 else None), dtype=np.float64)
                  if new else np.zeros(0) for i, (name, oracle) in enumerate(self.oracles.items())}
        for i, c in enumerate(new):
            self.state.oracle_calls += 1
            self.known[c] = {name: values[name][i] for name in self.oracles} | {"oracle_calls": self.state.oracle_calls}
        for name in self.oracles:
            frame[name] = [self.known[c][name] if c else math.nan for c in frame.canonical_smiles]
        frame["oracle_calls"] = pd.array([self.known[c]["oracle_calls"] if c else None for c in frame.canonical_smiles],
                                         dtype="Int64")  # empty for an invalid SMILES: never scored
        return frame

    def remember(self, scored: pd.DataFrame) -> None:
        """Add the valid molecules of written scored rows to the molecules paid for (their values and call)."""
        for row in scored.itertuples(index=False):
            if row.canonical_smiles and row.canonical_smiles not in self.known:
                self.known[row.canonical_smiles] = {n: getattr(row, n) for n in [*self.oracles, "oracle_calls"]}

    def _postfix(self, bar) -> None:
        main = self.cfg.objectives[0]
        best = [v[main.property] for v in self.known.values() if np.isfinite(v[main.property])]
        bar.set_postfix({"oracle calls": self.state.oracle_calls,
                         f"best {main.property}": f"{(max if main.direction == 'max' else min)(best):.3f}"
                         if best else "-"}, refresh=False)

    def _feasible(self, frame: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=frame.index)
        for c in self.cfg.constraints:
            if c.min is not None:
                ok &= frame[c.property] >= c.min
            if c.max is not None:
                ok &= frame[c.property] <= c.max
        if self.cfg.ring_sizes:
            allowed = set(self.cfg.ring_sizes)
            ok &= pd.Series([_rings_allowed(s, allowed) for s in frame.canonical_smiles], index=frame.index, dtype=bool)
        return ok

    # --- the loop -------------------------------------------------------------------------------
    def initial_latents(self) -> torch.Tensor:
        n = self.cfg.population
        if self.cfg.start_smiles:
            text = to_representation(canonical(self.cfg.start_smiles), self.model.config.representation)
            x = self.model.vocab.encode([text], self.model.config.max_len).to(self.device)
            z = self.model.infer_posterior(x).z.repeat(n, 1)
            return z + 0.1 * torch.randn_like(z)
        return self.model.sample_prior(n).z

    def shift(self, z: torch.Tensor, frame: pd.DataFrame) -> torch.Tensor:
        """Langevin moves on log p_a(z) + sum_k log p_k(y_k + delta_k | z), per-member targets."""
        targets = {}
        predicted = self.model.predict_properties(z)
        for o in self.cfg.objectives:
            current = torch.tensor(frame[o.property].to_numpy(), dtype=torch.float32, device=z.device)
            current = torch.where(torch.isfinite(current), current, predicted[o.property].detach())
            targets[o.property] = self.model.normalise(o.property, current + (o.shift if o.direction == "max"
                                                                                else -o.shift))
        if self.cfg.start == "cold":
            z, steps = self.model.prior.sample_reference(len(z)), self.cfg.cold_steps
        else:
            steps = self.cfg.langevin_steps
        return self.model.ebm.prior_chain.run(z, self.model.conditional_log_density(targets), steps=steps,
                                              step_size=self.cfg.step_size * self.state.boost).z

    def graph_proposals(self, n: int, rng: random.Random) -> list[str]:
        """n molecules by Graph GA crossover and mutation (mol-ga's operators) of kept members, parents drawn by
        mol-ga's quantile sampling on fitness; those the model cannot encode are left out."""
        from mol_ga.graph_ga.gen_candidates import graph_ga_blended_generation
        from mol_ga.sample_population import uniform_quantile_sampling

        if n == 0 or len(self.population) < 2:
            return []
        kept = self.population[np.isfinite(self.population.fitness)]
        if kept.empty:
            return []
        parents = uniform_quantile_sampling(list(zip(kept.fitness, kept.canonical_smiles)), 2 * n, rng)
        made = sorted(s for s in graph_ga_blended_generation(parents, 2 * n, rng) if s)
        report = clean(made, self.model.config.representation, self.model.vocab, self.model.config.max_len)
        rng.shuffle(report.kept)
        return report.kept[:n]

    def finetune(self, kept: pd.DataFrame) -> None:
        if self.cfg.finetune_epochs == 0 or kept.empty:
            return
        vocab, max_len = self.model.vocab, self.model.config.max_len
        texts = [to_representation(s, self.model.config.representation) for s in kept.canonical_smiles]
        usable = [i for i, t in enumerate(texts)
                  if not vocab.unknown(t) and len(tokenize(t, vocab.representation)) <= max_len]
        if not usable:
            return
        data = {"x": vocab.encode([texts[i] for i in usable], max_len).to(self.device)}
        for name in self.model.config.properties:
            values = kept[name].to_numpy()[usable] if name in kept else np.full(len(usable), math.nan)
            data[name] = self.model.normalise(name, torch.tensor(values, dtype=torch.float32, device=self.device))
        if "bag" in self.model.heads:
            smiles = kept.canonical_smiles.to_numpy()[usable].tolist()
            data["bag"] = fingerprint_bags(smiles, self.model.ebm.bag.size).to(self.device)
        steps = self.cfg.finetune_epochs * math.ceil(len(usable) / self.cfg.finetune_batch)
        Trainer(self.model, data, TrainConfig(steps=steps, batch_size=self.cfg.finetune_batch, quiet=True, diagnose=0,
                                              device=str(self.device), seed=self.cfg.seed + self.state.iteration)).fit()
        self.model.eval()
        self.z[torch.tensor(usable, device=self.device)] = self.model.infer_posterior(data["x"]).z  # new model's view

    def run(self, resume: bool = False) -> pd.DataFrame:
        """Iteration 0 scores the starting population; iterations 1.. shift, score, select, fine-tune. After each:
        every output brought up to date. An interrupted iteration resumes with the molecules it had scored."""
        torch.manual_seed(self.cfg.seed)
        if resume and ((self.out / "state" / "state.json").exists() or (self.out / "pending").exists()):
            self.load()
            done = len(self.state.history) - 1
            spent = self.cfg.oracle_budget is not None and self.state.oracle_calls >= self.cfg.oracle_budget
            if done >= self.cfg.iterations or spent:
                print(f"{self.out} has finished: {done} iterations, {self.state.oracle_calls} oracle calls; to "
                      f"extend it, resume with more iterations (--iterations {done + 10}) or a larger oracle_budget",
                      file=sys.stderr)
            else:
                print(f"resuming {self.out} after iteration {done}", file=sys.stderr)
        bar = progress(total=self.cfg.iterations + 1, initial=len(self.state.history), desc="design", unit="iteration",
                       quiet=self.quiet)
        try:
            while len(self.state.history) <= self.cfg.iterations and not (self.state.history and self.over_budget()):
                self.iterate(len(self.state.history))
                bar.update(1)
        finally:
            bar.close()
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
        if not self.quiet:
            print(pd.DataFrame(self.state.history).to_string(index=False))
        return self.population

    def iterate(self, it: int) -> None:
        """One iteration (0: the starting population), from its pending proposals when it was interrupted."""
        start = time.perf_counter()
        self.calls_before = self.state.oracle_calls  # a latent proposal scored before this iteration repeats
        pending = self.load_pending(it)
        if pending is None:
            self.model.eval()
            made = self.cfg.population * (self.cfg.screen if it else 1)  # proposals made; `population` are paid for
            graph = self.graph_proposals(round(self.state.share * made) if it else 0,
                                         random.Random(self.cfg.seed * 1000 + it))
            n = made - len(graph)
            if it == 0:
                z_new = self.initial_latents()
            elif len(self.z):  # cycle through the kept members
                pick = torch.arange(n) % len(self.z)
                z_new = self.shift(self.z[pick], self.population.iloc[pick.numpy()].reset_index(drop=True))
            else:  # nothing valid kept yet: shift fresh prior samples (heads supply the current values)
                z0 = self.model.sample_prior(n).z
                z_new = self.shift(z0, pd.DataFrame({o.property: [math.nan] * len(z0) for o in self.cfg.objectives}))
            smiles = self.decode(z_new, it)
            if made > self.cfg.population:  # the surrogate picks which proposals are paid for
                keep = self.screened(smiles + graph, self.cfg.population)
                z_new = z_new[torch.tensor([i for i in keep if i < len(smiles)], dtype=torch.long, device=z_new.device)]
                smiles, graph = [smiles[i] for i in keep if i < len(smiles)], \
                    [graph[i - len(smiles)] for i in keep if i >= len(smiles)]
            sources = ["latent"] * len(smiles) + ["graph"] * len(graph)
            if graph:  # graph proposals enter the population with their posterior means as latents
                z_new = torch.cat([z_new, posterior_means(self.model, graph)])
                smiles += graph
            self.save_pending(it, z_new, smiles, sources)
            done = None
        else:
            z_new, smiles, sources, done = pending
        bar = progress(total=len(smiles), initial=0 if done is None else len(done), desc=f"iteration {it}: scoring",
                       unit="mol", quiet=self.quiet)
        pending_rows = self.out / "pending" / "scored.csv"
        proposals = self.score(smiles, it, bar, done,
                               on_chunk=lambda rows: write_atomic(pending_rows, lambda p: rows.to_csv(p, index=False)))
        proposals["source"] = sources
        bar.close()
        if it == 0:
            self.fit_heads(z_new, proposals)
            self.population, self.z = self.select(proposals, z_new)
        else:
            merged = pd.concat([self.population, proposals], ignore_index=True)
            self.population, self.z = self.select(merged, torch.cat([self.z, z_new]))
            self.finetune(self.population)
            self.fit_heads(self.z, self.population)  # on the fine-tuned model's latents
        self.adapt(proposals, it)
        self.state.iteration = it
        self.record(proposals, seconds=time.perf_counter() - start)

    def decode(self, z: torch.Tensor, it: int, chunk: int = 64) -> list[str]:
        """SMILES decoded from the proposals' latents, in chunks that move the progress bar."""
        smiles: list[str] = []
        with progress(total=len(z), desc=f"iteration {it}: decoding", unit="mol", quiet=self.quiet) as bar:
            for a in range(0, len(z), chunk):
                smiles += self.model.decode_smiles(z[a:a + chunk], temperature=self.state.boost ** 0.25)
                bar.update(len(smiles) - bar.n)
        return smiles

    def adapt(self, proposals: pd.DataFrame, it: int) -> None:
        """The next iteration's graph share (from which proposals were kept) and exploration boost (from how many
        latent proposals repeated molecules scored before this iteration)."""
        latent = proposals[proposals.source == "latent"]
        if self.cfg.graph_share and it == 0:
            self.state.share = self.cfg.graph_share
        elif self.cfg.graph_share and self.cfg.adapt_share:
            newcomers = self.population[self.population.iteration == it]
            rates = [(newcomers.source == k).sum() / max((proposals.source == k).sum(), 1) for k in ("graph", "latent")]
            if sum(rates) > 0:
                self.state.share = float(np.clip(rates[0] / sum(rates), 0.1, 0.9))
        if self.cfg.explore and it > 0 and latent.valid.any():
            repeated = float((latent.oracle_calls[latent.valid] <= self.calls_before).mean())
            self.state.boost = min(self.state.boost * 1.5, 4.0) if repeated > 0.5 else max(self.state.boost / 1.5, 1.0)

    def save_pending(self, it: int, z: torch.Tensor, smiles: list[str], sources: list[str]) -> None:
        """The iteration's proposals and the RNG state after them: a resumed run scores only what is left and
        continues as the uninterrupted run would."""
        def fill(tmp: Path) -> None:
            np.save(tmp / "latents.npy", z.detach().cpu().numpy())
            save_json(tmp / "proposals.json", {"iteration": it, "smiles": smiles, "sources": sources})
            torch.save(rng_state(), tmp / "rng.pt")

        write_dir_atomic(self.out / "pending", fill)

    def load_pending(self, it: int) -> tuple[torch.Tensor, list[str], list[str], pd.DataFrame | None] | None:
        folder = self.out / "pending"
        if not (folder / "proposals.json").exists():
            return None
        saved = load_json(folder / "proposals.json")
        if saved["iteration"] != it:
            return None
        z = torch.from_numpy(np.load(folder / "latents.npy", allow_pickle=False)).to(self.device)
        set_rng_state(torch.load(folder / "rng.pt", weights_only=True))
        done = _read_scored(folder / "scored.csv") if (folder / "scored.csv").exists() else None
        if done is not None:
            self.remember(done)  # a molecule scored before the interruption is not paid again in what is left
            self.state.oracle_calls = int(np.nanmax([self.state.oracle_calls, done.oracle_calls.max()]))
            print(f"iteration {it}: {len(done)} of {len(saved['smiles'])} proposals were scored before the "
                  "interruption; scoring the rest", file=sys.stderr)
        return z, saved["smiles"], saved["sources"], done

    def select(self, frame: pd.DataFrame, latents: torch.Tensor) -> tuple[pd.DataFrame, torch.Tensor]:
        """The top-k distinct valid molecules, feasible ones first, by fitness (with the diversity filter:
        uncrowded ones first); their latents."""
        order = frame[frame.valid].sort_values(["feasible", "fitness"], ascending=False, kind="stable")
        order = order.drop_duplicates("canonical_smiles")
        crowded = np.zeros(len(order), bool)
        if self.cfg.scaffold_cap:
            scaffold = order.canonical_smiles.map(self.scaffold)
            crowded |= (scaffold.groupby(scaffold).cumcount() >= self.cfg.scaffold_cap).to_numpy()
        if self.cfg.max_similarity < 1:
            crowded |= self.similar_to_better(order.canonical_smiles.tolist(), crowded)
        if crowded.any():
            order = order.assign(crowded=crowded)
            order = order.sort_values(["feasible", "crowded", "fitness"], ascending=[False, True, False], kind="stable")
        order = order.head(self.cfg.top_k)
        return order.reset_index(drop=True), latents[torch.tensor(order.index.to_numpy(), device=latents.device)]

    def similar_to_better(self, smiles: list[str], crowded: np.ndarray) -> np.ndarray:
        """Per molecule (best first): True if its Tanimoto similarity to an earlier uncrowded one exceeds
        max_similarity (never for the first `elite` uncrowded ones); stops once top_k uncrowded ones are found
        (the rest cannot enter before them)."""
        from rdkit import DataStructs

        similar, kept = np.zeros(len(smiles), bool), []
        for i, smi in enumerate(smiles):
            if len(kept) == self.cfg.top_k:
                break
            if crowded[i]:
                continue
            if smi not in self.fingerprints:  # kept molecules come back every iteration
                self.fingerprints[smi] = similarity_fingerprint(smi)
            fp = self.fingerprints[smi]
            similar[i] = (len(kept) >= max(1, self.cfg.elite)
                          and max(DataStructs.BulkTanimotoSimilarity(fp, kept)) > self.cfg.max_similarity)
            if not similar[i]:
                kept.append(fp)
        return similar

    def scaffold(self, smiles: str) -> str:
        """Murcko scaffold SMILES ('' for a molecule without rings), remembered across iterations."""
        if smiles not in self.scaffolds:
            from rdkit.Chem.Scaffolds import MurckoScaffold

            self.scaffolds[smiles] = MurckoScaffold.MurckoScaffoldSmiles(smiles)
        return self.scaffolds[smiles]

    def fit_heads(self, latents: torch.Tensor, frame: pd.DataFrame, steps: int = 100) -> None:
        """Learned heads (objectives the model had no head for): created from the first scores (their mean and
        spread normalise the head's targets), then refitted on the latents and scores of `frame` (the first
        population, then the kept molecules after each fine-tuning)."""
        from lebm.core.heads import GaussianHead

        cfg = self.model.config
        shifts = {o.property: o.shift for o in self.cfg.objectives}
        for name in self.learned:
            values = frame[name].to_numpy(dtype=np.float64)
            known = np.isfinite(values)
            if name not in cfg.properties:
                # the head's unit is at least one target shift: a shift never asks for more than one unit at a
                # time (scores that start nearly constant would otherwise turn it into a leap off the latent)
                spread = float(values[known].std()) if known.sum() > 1 else 0.0
                cfg.property_stats[name] = [float(values[known].mean()) if known.any() else 0.0,
                                            max(spread if spread > 1e-6 else 1.0, shifts[name])]
                cfg.properties.append(name)
                self.model.heads[name] = GaussianHead(self.model.prior.latent_dim, cfg.head).to(self.device)
            if not known.any():
                continue
            head = self.model.heads[name]
            z = latents[torch.from_numpy(np.flatnonzero(known)).to(latents.device)].detach()
            y = self.model.normalise(name, torch.tensor(values[known], dtype=torch.float32, device=z.device))
            opt = torch.optim.Adam(head.parameters(), lr=1e-3)
            with torch.enable_grad():
                for _ in range(steps):
                    opt.zero_grad()
                    (head.predict(z) - y).pow(2).mean().backward()
                    opt.step()

    def over_budget(self) -> bool:
        """The oracle budget is spent, or (patience) the 100 best scores have stopped changing."""
        if self.cfg.oracle_budget is not None and self.state.oracle_calls >= self.cfg.oracle_budget:
            return True
        if not self.cfg.patience:
            return False
        scored = pd.DataFrame(list(self.known.values()), columns=list(self.oracles))
        best = sorted((v for v in self.fitness(scored) if np.isfinite(v)), reverse=True)[:100]
        self.state.unchanged = self.state.unchanged + 1 if best == self.state.best else 0
        self.state.best = best
        return len(best) == 100 and self.state.unchanged >= self.cfg.patience

    # --- outputs and state ----------------------------------------------------------------------
    def record(self, proposals: pd.DataFrame, seconds: float = 0.0) -> None:
        it = self.state.iteration
        row = {"iteration": it, "oracle_calls": self.state.oracle_calls, "seconds": round(seconds, 2),
               "graph_proposals": int((proposals.source == "graph").sum()), "next_graph_share": self.state.share,
               "next_step_factor": self.state.boost,
               "validity": float(proposals.valid.mean()),
               "uniqueness": float(proposals[proposals.valid].canonical_smiles.nunique() / max(proposals.valid.sum(), 1))}
        if self.train is not None:
            distinct = set(proposals[proposals.valid].canonical_smiles)
            row["novelty"] = len(distinct - self.train) / max(len(distinct), 1)
        for o in self.cfg.objectives:
            best = self.population[o.property].sort_values(ascending=o.direction == "min")  # empty: NaN
            row |= {f"{o.property}_mean": float(best.mean()), f"{o.property}_top1": float(best.iloc[:1].mean()),
                    f"{o.property}_top3": float(best.iloc[:3].mean())}
        self.state.history.append(row)
        self.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out / f"scored_{it:03d}.csv", lambda p: proposals.to_csv(p, index=False))
        write_atomic(self.out / f"population_{it:03d}.csv", lambda p: self.population.to_csv(p, index=False))
        self.write_top()
        summary = pd.DataFrame(self.state.history)[list(row)]  # this row's order: a resumed run's state has sorted keys
        write_atomic(self.out / "summary.csv", lambda p: summary.to_csv(p, index=False))
        self.save()
        shutil.rmtree(self.out / "pending", ignore_errors=True)  # the iteration is in the state now

    def save(self) -> None:
        def fill(tmp: Path) -> None:
            (tmp / "model").mkdir()
            self.model.write_files(tmp / "model")
            self.population.to_csv(tmp / "population.csv", index=False)
            np.save(tmp / "latents.npy", self.z.cpu().numpy())
            save_json(tmp / "state.json", {"iteration": self.state.iteration, "oracle_calls": self.state.oracle_calls,
                                           "history": self.state.history, "share": self.state.share,
                                           "boost": self.state.boost, "best": self.state.best,
                                           "unchanged": self.state.unchanged, "config": to_dict(self.cfg)})
            torch.save(rng_state(), tmp / "rng.pt")

        write_dir_atomic(self.out / "state", fill)

    def load(self) -> None:
        """The state after the last completed iteration (none: the run was interrupted in iteration 0), and every
        molecule scored so far (a molecule is paid once)."""
        for path in sorted(self.out.glob("scored_*.csv")):
            self.remember(_read_scored(path))
        state_dir = self.out / "state"
        if not (state_dir / "state.json").exists():
            return
        saved = load_json(state_dir / "state.json")
        unchanged = ("iterations", "oracle_budget")  # a finished run may be extended
        if {k: v for k, v in saved["config"].items() if k not in unchanged} != \
                {k: v for k, v in to_dict(self.cfg).items() if k not in unchanged}:
            raise ConfigError(f"{self.out} was started with a different design config; use a new --out")
        self.model = MoleculeModel.from_pretrained(state_dir / "model", device=self.device).eval()
        self.population = _read_scored(state_dir / "population.csv")
        self.z = torch.from_numpy(np.load(state_dir / "latents.npy", allow_pickle=False)).to(self.device)
        self.state = DesignState(saved["iteration"], saved["oracle_calls"], saved["history"], saved["share"],
                                 saved["boost"], saved.get("best", []), saved.get("unchanged", 0))
        set_rng_state(torch.load(state_dir / "rng.pt", weights_only=True))

    def write_top(self) -> None:
        """top.csv (the 100 best feasible molecules so far), top.png (24 of them), properties.png."""
        top = self.population[self.population.feasible].head(100) if len(self.population) else self.population
        write_atomic(self.out / "top.csv", lambda p: top.to_csv(p, index=False))
        self.plot()
        from .props import write_grid

        shown = top.head(24)
        legends = [", ".join(f"{o.property} {row[o.property]:.3f}" for o in self.cfg.objectives)
                   for _, row in shown.iterrows()]
        if len(shown):
            write_grid(self.out / "top.png", list(shown.canonical_smiles), legends)

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        paths = sorted(self.out.glob("population_*.csv"))
        frames = [pd.read_csv(p) for p in paths]
        iterations = [int(p.stem.split("_")[1]) for p in paths]  # numbered as in summary.csv, from 0
        names = list(self.oracles)
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        for ax, name in zip(axes[0], names):
            ax.boxplot([f[name].dropna().to_numpy() for f in frames], positions=iterations, showfliers=False)
            ax.set_xlabel("iteration")
            ax.set_title(name)
        fig.tight_layout()
        write_atomic(self.out / "properties.png", lambda p: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)


def _read_scored(path: Path) -> pd.DataFrame:
    """A scored-molecules CSV as written (empty SMILES stay empty strings, not NaN)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""]).fillna({"smiles": "", "canonical_smiles": ""})


def _rings_allowed(smiles: str, allowed: set[int]) -> bool:
    """Every ring of the molecule has an allowed size (False for an empty or unparseable SMILES)."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles) if smiles else None  # kept in a variable: the ring info lives in the Mol
    return mol is not None and all(len(ring) in allowed for ring in mol.GetRingInfo().AtomRings())
