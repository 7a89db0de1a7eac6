"""Scoring plug-ins (callable, command, PMO task), PMO's oracle accounting and its AUC top-10."""

import math
import sys
import textwrap

import pytest

from lebm.core.config import from_dict
from lebm.core.errors import ConfigError
from lebm.molecule.oracles import Oracle
from lebm.molecule.scoring import BudgetedScorer, ScorerConfig, auc_top_k, build_scorer, pmo_scorer

SMILES = ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "not a molecule"]


def test_auc_top10_on_hand_made_histories():
    # all 1.0 after 50 calls of 0.1: the top-10 is 1.0 at calls 100 and 200, then held to the budget of 400
    assert auc_top_k([0.1] * 50 + [1.0] * 150, 400) == pytest.approx((100 * 0.5 + 100 * 1.0 + 200 * 1.0) / 400)
    # rising scores i / 1000: top-10 means 0.0945, 0.1945, 0.2945 at calls 100, 200, 300 (trapezoids from 0)
    rising = [i / 1000 for i in range(300)]
    expected = (100 * 0.0945 / 2 + 100 * (0.0945 + 0.1945) / 2 + 100 * (0.1945 + 0.2945) / 2) / 300
    assert auc_top_k(rising, 300) == pytest.approx(expected)
    # fewer than ten molecules: the mean of those there are
    assert auc_top_k([0.5, 1.0], 100) == pytest.approx((2 * 0.75 / 2 + 98 * 0.75) / 100)
    assert auc_top_k([], 100) == 0.0
    # calls past the budget do not count
    assert auc_top_k([1.0] * 500, 200) == auc_top_k([1.0] * 200, 200)


def test_budgeted_scorer_counts_distinct_valid_molecules_only():
    seen = []

    def score(smiles):
        seen.extend(smiles)
        return [math.nan if s == "CCO" else float(len(s)) for s in smiles]

    scorer = BudgetedScorer(score, budget=3)
    out = scorer(["OCC", "CCO", "xyz", "c1ccccc1", ""])  # OCC and CCO are one molecule
    assert out == [0.0, 0.0, 0.0, 8.0, 0.0]  # the failed score (NaN) counts as a call and scores 0
    assert seen == ["CCO", "c1ccccc1"] and scorer.history == [0.0, 8.0] and not scorer.exhausted
    assert scorer(["c1ccccc1", "CCN", "CCCl"]) == [8.0, 3.0, 0.0]  # CCCl is past the budget: 0, not scored
    assert scorer.exhausted and len(scorer.history) == 3
    assert scorer(["CCN"]) == [3.0]  # remembered molecules still answer
    with pytest.raises(BudgetedScorer.BudgetSpent):
        scorer(["CCCC"])


def test_pmo_scores_match_guacamol_references():
    assert pmo_scorer("celecoxib_rediscovery")(["CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"]) == [1.0]
    assert pmo_scorer("albuterol_similarity")(["CC(C)(C)NCC(O)c1ccc(O)c(CO)c1"]) == [1.0]
    assert pmo_scorer("isomers_c7h8n2o2")(["Cc1ccc(N)c([N+](=O)[O-])c1"]) == [pytest.approx(1.0)]  # C7H8N2O2
    from rdkit import Chem
    from rdkit.Chem import QED

    assert pmo_scorer("qed")(["CC(=O)Nc1ccc(O)cc1"]) == [
        pytest.approx(QED.qed(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")))
    ]
    values = pmo_scorer("osimertinib_mpo")(SMILES)
    assert all(0 <= v <= 1 for v in values[:3]) and math.isnan(values[3])


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "chem_plugins.py").write_text(
        textwrap.dedent("""
        from rdkit import Chem

        def heavy_atoms(smiles):
            return [float(Chem.MolFromSmiles(s).GetNumHeavyAtoms()) if Chem.MolFromSmiles(s) else float("nan")
                    for s in smiles]

        def server_down(smiles):
            raise ConnectionError("model server down")

        def one_short(smiles):
            return [1.0] * (len(smiles) - 1)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_callable_plugin_scores_and_its_failures_are_counted(plugin_module, caplog):
    oracle = Oracle("atoms", scorer=build_scorer(ScorerConfig(name="atoms", callable="chem_plugins:heavy_atoms")))
    values = oracle(SMILES)
    assert values[:3] == [3.0, 6.0, 11.0] and math.isnan(values[3])
    assert (oracle.calls, oracle.failures) == (4, 1)
    for function in ("server_down", "one_short"):
        failing = Oracle("f", scorer=build_scorer(ScorerConfig(name="f", callable=f"chem_plugins:{function}")))
        assert all(math.isnan(v) for v in failing(SMILES)) and failing.failures == 4  # counted, not fatal
    assert "model server down" in caplog.text  # the failure is logged as a warning
    with pytest.raises(ConfigError, match="cannot load 'chem_plugins:missing'"):
        build_scorer(ScorerConfig(name="m", callable="chem_plugins:missing"))


def test_a_command_plugin_scores_and_its_failures_are_counted(tmp_path):
    script = tmp_path / "score.py"
    script.write_text(
        "import sys\nfor line in sys.stdin:\n    s = line.strip()\n    print(len(s) if 'not' not in s else 'error')\n"
    )
    oracle = Oracle("length", scorer=build_scorer(ScorerConfig(name="length", command=f"{sys.executable} {script}")))
    values = oracle(SMILES)
    assert values[:3] == [3.0, 8.0, 18.0] and math.isnan(values[3]) and oracle.failures == 1
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nsys.exit('no licence')\n")
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(30)\n")
    for command, timeout in (
        (f"{sys.executable} {crash}", 60),
        (f"{sys.executable} {slow}", 0.5),
        ("/no/such/program", 60),
    ):
        failing = Oracle("f", scorer=build_scorer(ScorerConfig(name="f", command=command, timeout=timeout)))
        assert all(math.isnan(v) for v in failing(SMILES)) and failing.failures == 4


@pytest.mark.parametrize(
    "table, message",
    [
        ({"name": "x"}, "exactly one of callable, command, pmo, python (got none)"),
        (
            {"name": "x", "callable": "a:b", "pmo": "qed"},
            "exactly one of callable, command, pmo, python (got callable, pmo)",
        ),
        ({"name": "x", "pmo": "drd2"}, "unknown PMO task 'drd2'"),
        ({"name": "x", "callable": "no_colon"}, "must be 'module:function'"),
        ({"name": "x", "command": "true", "timeout": 0}, "timeout must be > 0"),
        ({"pmo": "qed"}, "a scorer needs a name"),
    ],
)
def test_bad_scorer_configs(table, message):
    with pytest.raises(ConfigError) as err:
        from_dict(ScorerConfig, table)
    assert message in str(err.value)


def test_the_ledger_pays_each_molecule_once_and_numbers_the_calls():
    from lebm.molecule.scoring import Ledger

    ledger = Ledger()
    assert ledger.unpaid(["CCO", "", None, "CCO", "CCN"]) == ["CCO", "CCN"]
    ledger.pay(["CCO", "CCN"], {"qed": [0.1, 0.2]})
    assert ledger.unpaid(["CCN", "CCC"]) == ["CCC"] and ledger.calls == 2
    assert ledger["CCN"] == {"qed": 0.2, "oracle_calls": 2}
    ledger.remember("CCCl", {"qed": 0.5, "oracle_calls": 7})  # read back from a run's files
    ledger.remember("CCO", {"qed": 9.0, "oracle_calls": 9})  # already paid: kept as it was
    assert ledger.calls == 7 and ledger["CCO"]["qed"] == 0.1
    ledger.pay(["CCC"], {"qed": [0.3]})
    assert ledger["CCC"]["oracle_calls"] == 8
