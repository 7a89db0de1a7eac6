"""The surrogate that picks which proposals to pay for: a Tanimoto-kernel GP on Morgan fingerprints."""

import numpy as np
import pandas as pd
from rdkit import Chem

from lebm.molecule.cli import BUNDLED
from lebm.molecule.oracles import PROPERTIES
from lebm.molecule.sgds import DesignRun
from lebm.molecule.surrogate import fingerprint_matrix, gp_posterior, screen, tanimoto

from .test_design import pmo_design

SCORED = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "c1ccncc1", "CC(=O)O", "CCN", "CCCCCC"]


def test_tanimoto_of_identical_and_disjoint_rows():
    a = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], np.float32)
    assert np.allclose(tanimoto(a, a), np.eye(2))
    assert np.isclose(tanimoto(a[:1], np.array([[1, 0, 0, 0]], np.float32))[0, 0], 0.5)


def test_the_gp_reproduces_scored_values_and_is_unsure_far_from_them():
    y = np.array([PROPERTIES["qed"](Chem.MolFromSmiles(s)) for s in SCORED])
    x = fingerprint_matrix(SCORED)
    mean, sd = gp_posterior(x, y, x, noise=1e-4)
    assert np.allclose(mean, y, atol=0.02)
    far = fingerprint_matrix(["FC(F)(F)C(F)(F)C(F)(F)S(=O)(=O)N"])
    assert gp_posterior(x, y, far, noise=1e-4)[1][0] > 5 * sd.max()


def test_screen_ranks_the_neighbours_of_the_best_first():
    values = np.array([1.0 if "c1ccccc1" in s else 0.0 for s in SCORED])  # benzene rings score
    candidates = ["CCCCCO", "CCCc1ccccc1", "CCCCCCC", "Oc1ccccc1", "CCCN"]
    pick = screen(SCORED, values, candidates, 2, beta=0.0)
    assert {candidates[i] for i in pick} == {"CCCc1ccccc1", "Oc1ccccc1"}
    assert len(screen(SCORED, values, candidates, 9)) == len(candidates)  # k covers them: every one


def test_a_screened_run_pays_only_population_per_iteration(tmp_path):
    run = DesignRun(pmo_design(BUNDLED, iterations=2, screen=3, graph_share=0.25), tmp_path, quiet=True)
    run.run()
    scored = [pd.read_csv(tmp_path / f"scored_{i:03d}.csv") for i in range(3)]
    assert scored[0].valid.sum() >= 2  # the GP had molecules to learn from
    assert all(len(frame) <= 40 for frame in scored)
    later = pd.concat(scored[1:])
    assert later.valid.all() and later.canonical_smiles.is_unique  # screened: new, distinct, valid molecules only
    assert not set(later.canonical_smiles) & set(scored[0].canonical_smiles)


def test_pmo_accounting_through_the_api_with_a_surrogate(tmp_path):
    """The harness's path: a budgeted scorer handed to lebm.molecule.design. Every paid call goes through the
    scorer once (the surrogate's predictions are free and never enter the history), the run stops at the budget,
    and a repeat or an invalid SMILES is never paid."""
    import sys
    from pathlib import Path

    from lebm.molecule import design
    from lebm.molecule.scoring import BudgetedScorer, pmo_scorer

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from pmo import spent_is_nan

    seen: list[str] = []
    oracle = pmo_scorer("qed")
    scorer = BudgetedScorer(lambda smiles: (seen.extend(smiles), oracle(smiles))[1], 150)
    result = design(
        objectives=[{"property": "task", "shift": 0.05}],
        scorers={"task": spent_is_nan(scorer)},
        population=60,
        top_k=20,
        iterations=20,
        train_smiles="none",
        screen=3,
        oracle_budget=150,
        seed=3,
    )
    assert len(scorer.history) == 150 and len(seen) == len(set(seen)) == 150
    assert result.summary.oracle_calls.iloc[-1] >= 150 and len(result.summary) <= 4


def test_patience_stops_a_run_whose_best_scores_stopped_changing():
    from lebm.molecule import design

    result = design(
        objectives=[{"property": "flat", "shift": 0.05}],
        scorers={"flat": lambda s: [1.0] * len(s)},
        population=120,
        top_k=20,
        iterations=12,
        train_smiles="none",
        patience=2,
        seed=0,
    )
    assert len(result.summary) < 12  # stopped before its iterations ran out
