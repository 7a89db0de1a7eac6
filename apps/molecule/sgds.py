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
The parts: settings in lebm.molecule.design_config, ranking and selection (fitness, feasibility, the diversity
filters) in lebm.molecule.selection, the run directory in lebm.molecule.design_files, the pay-once ledger in
lebm.molecule.scoring; this module is the loop.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lebm.core.config import to_dict
from lebm.core.distributed import pick_device
from lebm.core.errors import ConfigError
from lebm.core.progress import progress

from .data import DATASETS, canonical, clean, dataset_smiles, input_standard, read_smiles_file
from .design_config import Constraint, DesignConfig, Objective
from .design_files import (
    OUTPUTS,
    DesignState,
    load_pending,
    load_state,
    read_scored,
    save_pending,
    save_pending_rows,
    save_state,
    saved_config,
    write_iteration,
)
from .design_scoring import Scoring, oracles_for
from .latent import posterior_means
from .model import MoleculeModel
from .moves import finetuned, fit_learned_heads, graph_proposals
from .selection import Memo, selected
from .tokens import to_representation

__all__ = ["OUTPUTS", "Constraint", "DesignConfig", "DesignRun", "Objective"]

log = logging.getLogger(__name__)


class DesignRun:
    """One design run in `out_dir`: `run()` iterates until the iterations, the oracle budget or the patience are
    spent, bringing every output up to date after each iteration (lebm.molecule.design_files); an interrupted
    run resumes where it stopped. The config is read, never changed; the model is the run's own copy."""

    def __init__(
        self,
        config: DesignConfig,
        out_dir: Path,
        quiet: bool = False,
        callables: dict[str, Callable[[list[str]], list[float]]] | None = None,
    ):
        """`callables`: the functions of the config's Python scorers (`python = true`), by name."""
        self.out, self.quiet = Path(out_dir), quiet
        self.device = pick_device(config.device)
        self.model = MoleculeModel.from_pretrained(config.model, device=self.device)
        self.cfg = (
            replace(config, start_smiles=self.standard_start(config.start_smiles)) if config.start_smiles else config
        )
        scorers = {sc.name for sc in config.scorers}
        # objectives without a head: scorers always learn one; built-in properties only with learn_heads
        self.learned = [o.property for o in config.objectives if o.property not in self.model.config.properties]
        refused = [n for n in self.learned if n not in scorers and not config.learn_heads]
        if refused:
            raise ConfigError(
                f"the model {config.model} has no head for objective {refused[0]!r} "
                f"(heads: {', '.join(self.model.config.properties) or 'none'}); train it with "
                "--properties, or set learn_heads = true to learn one during the run"
            )
        oracles = oracles_for(self.cfg, self.cfg.start_smiles or None, callables or {})
        self.scoring = Scoring(self.cfg, oracles)
        self.ledger = self.scoring.ledger  # every molecule paid for: its oracle values and the call that scored it
        self.memo = Memo()  # the diversity filter's scaffolds and fingerprints
        self.surrogate_fingerprints: dict[str, np.ndarray] = {}  # the surrogate's rows, by canonical SMILES
        self.state = DesignState()
        self.train = training_set(config.train_smiles)
        self.population = pd.DataFrame()
        self.z = torch.zeros(0, self.model.prior.latent_dim, device=self.device)

    def standard_start(self, smiles: str) -> str:
        """The start molecule standardised like every input (largest fragment, neutral); refused if not encodable."""
        report = clean(
            [smiles],
            self.model.config.representation,
            self.model.vocab,
            self.model.config.max_len,
            standard=input_standard(self.model.vocab),
        )
        if not report.kept:
            raise ConfigError(f"start_smiles {smiles!r}: {report.rejects[0][2]}")
        if report.changed and not self.quiet:
            log.info(f"start_smiles standardised ({', '.join(report.changed)}): {report.kept[0]}")
        return report.kept[0]

    def screened(self, smiles: list[str], k: int) -> list[int]:
        """Indices of the k proposals to pay for (screen > 1): distinct new valid molecules ranked by the surrogate
        (lebm.molecule.surrogate) fitted on every molecule scored so far."""
        from .surrogate import screen

        first: dict[str, int] = {}
        for i, c in enumerate(map(canonical, smiles)):
            if c and c not in self.ledger and c not in first:
                first[c] = i
        fit = self.scoring.paid_fitness().to_numpy(dtype=np.float64)
        ok = np.isfinite(fit)
        paid = np.asarray(list(self.ledger.entries), dtype=object)[ok].tolist()
        seed = self.cfg.seed * 1000 + self.state.iteration
        pick = screen(paid, fit[ok], list(first), k, self.cfg.screen_beta, seed, self.surrogate_fingerprints)
        return sorted(list(first.values())[i] for i in pick)

    # --- the loop -------------------------------------------------------------------------------
    def initial_latents(self) -> torch.Tensor:
        n = self.cfg.population
        if self.cfg.start_smiles:
            text = to_representation(canonical(self.cfg.start_smiles) or "", self.model.config.representation)
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
            targets[o.property] = self.model.normalise(
                o.property, current + (o.shift if o.direction == "max" else -o.shift)
            )
        if self.cfg.start == "cold":
            z, steps = self.model.prior.sample_reference(len(z)), self.cfg.cold_steps
        else:
            steps = self.cfg.langevin_steps
        return self.model.ebm.prior_chain.run(
            z, self.model.conditional_log_density(targets), steps=steps, step_size=self.cfg.step_size * self.state.boost
        ).z

    def finetune(self, kept: pd.DataFrame) -> None:
        """Fine-tune the model on the kept molecules; their latents become the new model's posterior samples."""
        if self.cfg.finetune_epochs and not kept.empty:
            self.z = finetuned(
                self.model,
                kept,
                self.z,
                self.cfg.finetune_epochs,
                self.cfg.finetune_batch,
                self.cfg.seed + self.state.iteration,
            )

    def run(self, resume: bool = False) -> pd.DataFrame:
        """Iteration 0 scores the starting population; iterations 1.. shift, score, select, fine-tune. After each:
        every output brought up to date. An interrupted iteration resumes with the molecules it had scored."""
        torch.manual_seed(self.cfg.seed)
        if resume and ((self.out / "state" / "state.json").exists() or (self.out / "pending").exists()):
            self.load()
            done = len(self.state.history) - 1
            spent = self.cfg.oracle_budget is not None and self.ledger.calls >= self.cfg.oracle_budget
            if done >= self.cfg.iterations or spent:
                log.warning(
                    f"{self.out} has finished: {done} iterations, {self.ledger.calls} oracle calls; to "
                    f"extend it, resume with more iterations (--iterations {done + 10}) or a larger oracle_budget"
                )
            else:
                log.info(f"resuming {self.out} after iteration {done}")
        bar = progress(
            total=self.cfg.iterations + 1,
            initial=len(self.state.history),
            desc="design",
            unit="iteration",
            quiet=self.quiet,
        )
        try:
            while len(self.state.history) <= self.cfg.iterations and not (self.state.history and self.over_budget()):
                self.iterate(len(self.state.history))
                bar.update(1)
        finally:
            bar.close()
            self.scoring.close()
        if not self.quiet:
            print(pd.DataFrame(self.state.history).to_string(index=False))
        return self.population

    def iterate(self, it: int) -> None:
        """One iteration (0: the starting population), from its pending proposals when it was interrupted."""
        start = time.perf_counter()
        calls_before = self.ledger.calls  # a latent proposal scored before this iteration repeats
        pending = self.resume_pending(it)
        if pending is None:
            z_new, smiles, sources = self.propose(it)
            save_pending(self.out, it, z_new, smiles, sources)
            done = None
        else:
            z_new, smiles, sources, done = pending
        with progress(
            total=len(smiles),
            initial=0 if done is None else len(done),
            desc=f"iteration {it}: scoring",
            unit="mol",
            quiet=self.quiet,
        ) as bar:
            on_chunk = partial(save_pending_rows, self.out)  # what was scored survives an interruption
            proposals = self.scoring.score(smiles, it, bar, done, on_chunk=on_chunk)
        proposals["source"] = sources
        if it == 0:
            self.fit_heads(z_new, proposals)
            self.keep(proposals, z_new)
        else:
            self.keep(pd.concat([self.population, proposals], ignore_index=True), torch.cat([self.z, z_new]))
            self.finetune(self.population)
            self.fit_heads(self.z, self.population)  # on the fine-tuned model's latents
        self.adapt(proposals, it, calls_before)
        self.state.iteration = it
        self.record(proposals, seconds=time.perf_counter() - start)

    def propose(self, it: int) -> tuple[torch.Tensor, list[str], list[str]]:
        """The iteration's proposals: latents, SMILES and source ('latent' moves, 'graph' operators); with a screen,
        only those the surrogate picks to pay for."""
        self.model.eval()
        made = self.cfg.population * (self.cfg.screen if it else 1)  # proposals made; `population` are paid for
        graph = graph_proposals(
            self.model,
            self.population,
            round(self.state.share * made) if it else 0,
            random.Random(self.cfg.seed * 1000 + it),
        )
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
            smiles, graph = (
                [smiles[i] for i in keep if i < len(smiles)],
                [graph[i - len(smiles)] for i in keep if i >= len(smiles)],
            )
        sources = ["latent"] * len(smiles) + ["graph"] * len(graph)
        if graph:  # graph proposals enter the population with their posterior means as latents
            z_new = torch.cat([z_new, posterior_means(self.model, graph)])
            smiles += graph
        return z_new, smiles, sources

    def keep(self, frame: pd.DataFrame, latents: torch.Tensor) -> None:
        """The population becomes the selected rows of `frame` (lebm.molecule.selection), with their latents."""
        kept = selected(frame, self.cfg, self.memo)
        self.z = latents[torch.tensor(kept.index.to_numpy(), device=latents.device)]
        self.population = kept.reset_index(drop=True)

    def decode(self, z: torch.Tensor, it: int, chunk: int = 64) -> list[str]:
        """SMILES decoded from the proposals' latents, in chunks that move the progress bar."""
        smiles: list[str] = []
        with progress(total=len(z), desc=f"iteration {it}: decoding", unit="mol", quiet=self.quiet) as bar:
            for a in range(0, len(z), chunk):
                smiles += self.model.decode_smiles(z[a : a + chunk], temperature=self.state.boost**0.25)
                bar.update(len(smiles) - bar.n)
        return smiles

    def adapt(self, proposals: pd.DataFrame, it: int, calls_before: int) -> None:
        """The next iteration's graph share (from which proposals were kept) and exploration boost (from how many
        latent proposals repeated molecules scored before this iteration, when `calls_before` calls were made)."""
        latent = proposals[proposals.source == "latent"]
        if self.cfg.graph_share and it == 0:
            self.state.share = self.cfg.graph_share
        elif self.cfg.graph_share and self.cfg.adapt_share:
            newcomers = self.population[self.population.iteration == it]
            rates = [(newcomers.source == k).sum() / max((proposals.source == k).sum(), 1) for k in ("graph", "latent")]
            if sum(rates) > 0:
                self.state.share = float(np.clip(rates[0] / sum(rates), 0.1, 0.9))
        if self.cfg.explore and it > 0 and latent.valid.any():
            repeated = float((latent.oracle_calls[latent.valid] <= calls_before).mean())
            self.state.boost = min(self.state.boost * 1.5, 4.0) if repeated > 0.5 else max(self.state.boost / 1.5, 1.0)

    def resume_pending(self, it: int) -> tuple[torch.Tensor, list[str], list[str], pd.DataFrame | None] | None:
        """An interrupted iteration's proposals; the molecules it had scored enter the ledger (never paid again)."""
        pending = load_pending(self.out, it, self.device)
        if pending is not None and pending[3] is not None:
            self.scoring.remember(pending[3])
            log.info(
                f"iteration {it}: {len(pending[3])} of {len(pending[1])} proposals were scored before the "
                "interruption; scoring the rest"
            )
        return pending

    def fit_heads(self, latents: torch.Tensor, frame: pd.DataFrame) -> None:
        """The heads learned in the run (objectives the model had no head for), on `frame`'s latents and scores."""
        fit_learned_heads(
            self.model, {o.property: o.shift for o in self.cfg.objectives if o.property in self.learned}, latents, frame
        )

    def over_budget(self) -> bool:
        """The oracle budget is spent, or (patience) the 100 best scores have stopped changing."""
        if self.cfg.oracle_budget is not None and self.ledger.calls >= self.cfg.oracle_budget:
            return True
        if not self.cfg.patience:
            return False
        best = sorted((v for v in self.scoring.paid_fitness() if np.isfinite(v)), reverse=True)[:100]
        self.state.unchanged = self.state.unchanged + 1 if best == self.state.best else 0
        self.state.best = best
        return len(best) == 100 and self.state.unchanged >= self.cfg.patience

    # --- outputs and state ----------------------------------------------------------------------
    def record(self, proposals: pd.DataFrame, seconds: float = 0.0) -> None:
        """The iteration's summary row; every output and the state brought up to date."""
        self.state.oracle_calls = self.ledger.calls
        row = {
            "iteration": self.state.iteration,
            "oracle_calls": self.ledger.calls,
            "seconds": round(seconds, 2),
            "graph_proposals": int((proposals.source == "graph").sum()),
            "next_graph_share": self.state.share,
            "next_step_factor": self.state.boost,
            "validity": float(proposals.valid.mean()),
            "uniqueness": float(proposals[proposals.valid].canonical_smiles.nunique() / max(proposals.valid.sum(), 1)),
        }
        if self.train is not None:
            distinct = set(proposals[proposals.valid].canonical_smiles)
            row["novelty"] = len(distinct - self.train) / max(len(distinct), 1)
        for o in self.cfg.objectives:
            best = self.population[o.property].sort_values(ascending=o.direction == "min")  # empty: NaN
            row |= {
                f"{o.property}_mean": float(best.mean()),
                f"{o.property}_top1": float(best.iloc[:1].mean()),
                f"{o.property}_top3": float(best.iloc[:3].mean()),
            }
        self.state.history.append(row)
        oracles = list(self.scoring.oracles)
        write_iteration(self.out, self.state, proposals, self.population, self.cfg.objectives, oracles)
        save_state(self.out, self.model, self.population, self.z, self.state, to_dict(self.cfg))

    def load(self) -> None:
        """The state after the last completed iteration (none: the run was interrupted in iteration 0), and every
        molecule scored so far (a molecule is paid once)."""
        for path in sorted(self.out.glob("scored_*.csv")):
            self.scoring.remember(read_scored(path))
        saved = saved_config(self.out)
        if saved is None:
            return
        unchanged = ("iterations", "oracle_budget")  # a finished run may be extended
        if {k: v for k, v in saved.items() if k not in unchanged} != {
            k: v for k, v in to_dict(self.cfg).items() if k not in unchanged
        }:
            raise ConfigError(f"{self.out} was started with a different design config; use a new --out")
        self.model, self.population, self.z, self.state = load_state(self.out, self.device)
        self.ledger.calls = max(self.ledger.calls, self.state.oracle_calls)


def training_set(name: str) -> set[str] | None:
    """The canonical SMILES novelty is measured against: a named data set's train split or a file; None: 'none'."""
    if name in DATASETS:
        return set(dataset_smiles(name, "train"))
    return None if name == "none" else {c for c in map(canonical, read_smiles_file(name)) if c}
