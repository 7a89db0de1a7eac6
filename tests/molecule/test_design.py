"""The SGDS design loop on a tiny model trained here with a QED head."""

import json
import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from lebm.core.cli import main
from lebm.core.config import from_dict
from lebm.core.errors import ConfigError
from lebm.molecule.scoring import ScorerConfig
from lebm.molecule.selection import feasible, rings_allowed, selected, with_fitness
from lebm.molecule.sgds import Constraint, DesignConfig, DesignRun, Objective

from .conftest import train_tiny


@pytest.fixture(scope="module")
def qed_model(tmp_path_factory):
    return train_tiny(
        tmp_path_factory.mktemp("design"), "qed", steps=150, molecules=1000, prior_steps=10, posterior_steps=3
    )


def design_toml(tmp_path, model, iterations):
    path = tmp_path / f"run{iterations}.toml"
    path.write_text(
        f"[design]\nmodel = '{model}'\npopulation = 60\ntop_k = 30\niterations = {iterations}\n"
        "train_smiles = 'none'\nring_sizes = [5, 6]\n"
        "finetune_epochs = 1\nfinetune_batch = 32\nseed = 3\n"
        "[[design.objectives]]\nproperty = 'qed'\nshift = 0.05\n"
        "[[design.constraints]]\nproperty = 'sa'\nmax = 7.0\n"
    )
    return path


def test_two_iterations_write_every_output_and_resume_matches(qed_model, tmp_path, capsys):
    assert (
        main(
            [
                "molecule",
                "design",
                "--config",
                str(design_toml(tmp_path, qed_model, 2)),
                "--out",
                str(tmp_path / "whole"),
                "--quiet",
            ]
        )
        == 0
    )
    whole = tmp_path / "whole"
    for name in (
        "population_000.csv",
        "population_001.csv",
        "population_002.csv",
        "summary.csv",
        "top.csv",
        "properties.png",
        "state/state.json",
        "state/model/model.safetensors",
    ):
        assert (whole / name).exists(), name
    summary = pd.read_csv(whole / "summary.csv")
    assert list(summary.iteration) == [0, 1, 2]
    # a molecule is paid once: the calls are the distinct valid molecules scored so far
    seen: set[str] = set()
    for it, calls in zip(summary.iteration, summary.oracle_calls):
        scored = pd.read_csv(whole / f"scored_{it:03d}.csv", keep_default_na=False)
        seen |= set(scored.canonical_smiles[scored.valid])
        assert calls == len(seen)
        firsts = scored[scored.valid].drop_duplicates("canonical_smiles")
        assert firsts.oracle_calls.astype(int).between(1, calls).all()
    assert {"qed_mean", "qed_top1", "qed_top3", "validity", "uniqueness"} <= set(summary.columns)
    assert (summary.qed_top1.diff().dropna() >= 0).all()  # the kept population never loses its best
    top = pd.read_csv(whole / "top.csv")
    assert top.feasible.all() and (top.sa <= 7.0).all()
    assert all(rings_allowed(s, {5, 6}) for s in top.canonical_smiles)

    # interrupted after one iteration, then resumed to two: the same population as the run above
    assert (
        main(
            [
                "molecule",
                "design",
                "--config",
                str(design_toml(tmp_path, qed_model, 1)),
                "--out",
                str(tmp_path / "cut"),
                "--quiet",
            ]
        )
        == 0
    )
    (tmp_path / "cut" / "state" / "state.json").write_text(
        (tmp_path / "cut" / "state" / "state.json").read_text().replace('"iterations": 1', '"iterations": 2')
    )
    assert (
        main(
            [
                "molecule",
                "design",
                "--config",
                str(design_toml(tmp_path, qed_model, 2)),
                "--out",
                str(tmp_path / "cut"),
                "--quiet",
                "--resume",
            ]
        )
        == 0
    )
    resumed = pd.read_csv(tmp_path / "cut" / "population_002.csv")
    pd.testing.assert_frame_equal(resumed, pd.read_csv(whole / "population_002.csv"))


@pytest.mark.parametrize(
    "table, message",
    [
        ({"objectives": [{"property": "potency"}]}, "unknown property 'potency'"),
        ({"constraints": [{"property": "sa", "min": 5.0, "max": 2.0}]}, "contradictory: min 5.0 > max 2.0"),
        ({"oracle_budget": 0}, "oracle_budget 0 cannot score"),
        ({"objectives": []}, "at least one objective"),
        ({"constraints": [{"property": "similarity", "min": 0.4}]}, "needs start_smiles"),
        ({"top_k": 2000}, "top_k (2000) cannot exceed population"),
        ({"start": "lukewarm"}, "'lukewarm' is not one of"),
        ({"graph_share": 1.0}, "graph_share must be in [0, 1)"),
        ({"objectives": [{"property": "docking", "direction": "min"}]}, "needs a [design.docking] table"),
    ],
)
def test_bad_design_configs(table, message):
    with pytest.raises(ConfigError) as err:
        from_dict(DesignConfig, table)
    assert message in str(err.value)


def test_novelty_against_a_training_file(qed_model, tmp_path):
    cfg = DesignConfig(
        model=str(qed_model),
        population=30,
        top_k=10,
        iterations=1,
        finetune_epochs=0,
        train_smiles=str(Path(__file__).parent / "data" / "tiny.csv"),
    )
    DesignRun(cfg, tmp_path / "a", quiet=True).run()
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    from lebm.molecule.data import canonical, read_smiles_file

    train = {c for c in map(canonical, read_smiles_file(cfg.train_smiles)) if c}
    for it, novelty in zip(summary.iteration, summary.novelty):
        scored = pd.read_csv(tmp_path / "a" / f"scored_{it:03d}.csv", keep_default_na=False)
        distinct = set(scored.canonical_smiles[scored.valid])
        assert novelty == pytest.approx(len(distinct - train) / len(distinct))
    # the same run against a file of iteration 1's own molecules: none of them is novel
    (tmp_path / "seen.smi").write_text("\n".join(sorted(distinct)) + "\n")
    DesignRun(replace(cfg, train_smiles=str(tmp_path / "seen.smi")), tmp_path / "b", quiet=True).run()
    assert pd.read_csv(tmp_path / "b" / "summary.csv").novelty.iloc[1] == 0.0


def test_a_model_that_decodes_nothing_valid_does_not_crash_a_run(qed_model, tmp_path):
    import torch

    from lebm.molecule.model import MoleculeModel

    model = MoleculeModel.from_pretrained(qed_model)
    with torch.no_grad():
        model.generator.out.bias.fill_(-1e4)
        model.generator.out.bias[3] = 1e4  # always the same single token, never <eos>: nothing parses
    model.save_pretrained(tmp_path / "broken")
    cfg = DesignConfig(model=str(tmp_path / "broken"), population=20, top_k=10, iterations=2, train_smiles="none")
    population = DesignRun(cfg, tmp_path / "run", quiet=True).run()
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert population.empty and list(summary.validity) == [0.0, 0.0, 0.0]
    assert (tmp_path / "run" / "top.csv").exists() and (tmp_path / "run" / "properties.png").exists()


def test_objective_without_a_head_is_refused(qed_model, tmp_path):
    cfg = DesignConfig(
        model=str(qed_model),
        objectives=[Objective(property="logp")],
        train_smiles="none",
        constraints=[Constraint(property="qed", min=0.3)],
    )
    with pytest.raises(ConfigError, match="no head for objective 'logp'"):
        DesignRun(cfg, tmp_path)


def test_ring_size_constraint_reads_every_ring():
    from lebm.molecule.data import moses_smiles

    assert rings_allowed("c1ccccc1C1CCCC1", {5, 6}) and rings_allowed("CCO", {6})
    assert not rings_allowed("C1CC1c1ccccc1", {5, 6}) and not rings_allowed("C1CCCCCCC1", {5, 6})
    assert not rings_allowed("", {6}) and not rings_allowed("C1CC", {6})
    # many calls in a row: the ring info must be read while its molecule is alive (it crashed once)
    smiles = moses_smiles("test")[:3000]
    assert sum(rings_allowed(s, {5, 6}) for s in smiles) > 2500


def test_paths_in_a_design_config_are_relative_to_the_config_file(qed_model, tmp_path, monkeypatch, capsys):
    configs = tmp_path / "configs"
    configs.mkdir()
    relative = os.path.relpath(qed_model, configs)
    text = design_toml(tmp_path, qed_model, 1).read_text().replace(f"model = '{qed_model}'", f"model = '{relative}'")
    (configs / "design.toml").write_text(text)
    (tmp_path / "shell").mkdir()  # the shell is somewhere else
    monkeypatch.chdir(tmp_path / "shell")
    assert main(["molecule", "design", "--config", "../configs/design.toml", "--out", "run", "--quiet"]) == 0
    assert (tmp_path / "shell" / "run" / "top.csv").is_file()


def test_a_design_preset_without_a_model_uses_the_bundled_one():
    """Presets name no model: they use models/zinc-lebm, which has a head for every preset's objective."""
    import tomllib

    from lebm.molecule.cli import BUNDLED, preset_path

    heads = set(json.loads((BUNDLED / "config.json").read_text())["config"]["properties"])
    for name in [
        f"{base}{scale}"
        for base in ("design_qed", "design_plogp", "design_multi", "design_docking_esr1")
        for scale in ("", "_gpu")
    ]:
        design = tomllib.loads(preset_path(name).read_text()).get("design", {})
        assert "model" not in design, name
        wanted = {o["property"] for o in design.get("objectives", []) if "property" in o}
        assert wanted <= heads | {"docking"}, (name, wanted - heads)


def pmo_design(model, **kw):
    return DesignConfig(
        model=str(model),
        objectives=[Objective(property="celecoxib", shift=0.05)],
        scorers=[ScorerConfig(name="celecoxib", pmo="celecoxib_rediscovery")],
        population=40,
        top_k=20,
        train_smiles="none",
        finetune_batch=32,
        seed=1,
        **kw,
    )


def test_a_scorer_objective_learns_its_head_and_every_scored_molecule_is_written(qed_model, tmp_path):
    run = DesignRun(pmo_design(qed_model, iterations=2), tmp_path, quiet=True)
    assert run.learned == ["celecoxib"] and "celecoxib" not in run.model.heads
    run.run()
    assert "celecoxib" in run.model.heads and "celecoxib" in run.model.config.property_stats
    scored = [pd.read_csv(tmp_path / f"scored_{i:03d}.csv") for i in range(3)]
    for i, frame in enumerate(scored):
        assert len(frame) == 40 and (frame.iteration == i).all()
        assert {"smiles", "celecoxib", "celecoxib_transformed", "fitness", "oracle_calls"} <= set(frame.columns)
        assert frame.oracle_calls[~frame.valid].isna().all()  # an invalid SMILES is never scored
    calls = pd.concat(scored).query("valid").groupby("canonical_smiles").oracle_calls
    assert (calls.nunique() == 1).all()  # a repeat carries the call that first scored it
    assert sorted(calls.first().astype(int)) == list(range(1, calls.ngroups + 1))  # numbered 1.. without a gap
    valid = scored[1][scored[1].valid]
    assert valid.celecoxib.between(0, 1).all() and (valid.celecoxib == valid.celecoxib_transformed).all()
    # the learned head follows the oracle: predictions on the kept molecules correlate with their scores
    import numpy as np

    predicted = run.model.predict_properties(run.z)["celecoxib"].detach().numpy()
    assert np.corrcoef(predicted, run.population.celecoxib)[0, 1] > 0.3


def test_transformed_scores_rank_the_molecules(qed_model, tmp_path):
    objective = Objective(property="qed", transform="linear", low=0.2, high=0.6, weight=2.0)
    run = DesignRun(
        DesignConfig(
            model=str(qed_model), objectives=[objective], population=30, top_k=10, iterations=1, train_smiles="none"
        ),
        tmp_path,
        quiet=True,
    )
    frame = run.scoring.score(["CCO", "CC(=O)Nc1ccc(O)cc1", "c1ccccc1CCN"], 0)
    assert frame.qed_transformed.tolist() == pytest.approx(((frame.qed - 0.2) / 0.4).clip(0, 1).tolist())
    assert frame.fitness.tolist() == pytest.approx((2 * frame.qed_transformed).tolist())
    with pytest.raises(ConfigError, match="transform needs high > low"):
        Objective(property="qed", transform="sigmoid", low=1.0, high=1.0)


def test_fitness_signs_weights_and_transforms_each_objective_without_changing_the_frame():
    frame = pd.DataFrame({"qed": [0.2, 0.9, float("nan")], "sa": [2.0, 4.0, 3.0]})
    objectives = [
        Objective(property="qed", transform="linear", low=0.0, high=0.5, weight=2.0),
        Objective(property="sa", direction="min"),
    ]
    out = with_fitness(frame, objectives)
    assert list(frame.columns) == ["qed", "sa"]  # the caller's frame is left as it was
    assert out.qed_transformed.tolist()[:2] == [0.4, 1.0] and out.sa_transformed.tolist() == [2.0, 4.0, 3.0]
    assert out.fitness.tolist() == [2 * 0.4 - 2.0, 2 * 1.0 - 4.0, float("-inf")]  # a missing value ranks last


def test_feasibility_needs_validity_every_bound_and_allowed_rings():
    frame = pd.DataFrame(
        {
            "canonical_smiles": ["CCO", "C1CC1", "c1ccccc1", ""],
            "valid": [True, True, True, False],
            "sa": [2.0, 2.0, 6.0, 1.0],
        }
    )
    assert feasible(frame, [], []).tolist() == [True, True, True, False]
    assert feasible(frame, [Constraint(property="sa", max=5.0)], []).tolist() == [True, True, False, False]
    assert feasible(frame, [Constraint(property="sa", min=3.0)], [6]).tolist() == [False, False, True, False]
    assert feasible(frame, [], [5, 6]).tolist() == [True, False, True, False]


def test_the_diversity_filter_caps_a_scaffolds_members():
    benzenes = ["c1ccccc1C", "c1ccccc1CC", "c1ccccc1CCC", "c1ccccc1CCCC", "c1ccccc1CCCCC"]
    others = ["C1CCNCC1C", "c1ccncc1C", "C1CCOC1C"]
    smiles = benzenes + others
    frame = pd.DataFrame(
        {
            "smiles": smiles,
            "canonical_smiles": smiles,
            "valid": True,
            "feasible": True,
            "fitness": [10, 9, 8, 7, 6, 3, 2, 1],
        }
    )
    for cap, expected in ((0, benzenes[:4]), (2, benzenes[:2] + others[:2])):
        kept = selected(frame, DesignConfig(population=8, top_k=4, scaffold_cap=cap))
        assert kept.canonical_smiles.tolist() == expected
        assert kept.index.tolist() == [smiles.index(s) for s in expected]  # the rows that pick the latents
    # too few uncrowded molecules: the crowded ones fill the rest, best first
    kept = selected(frame, DesignConfig(population=8, top_k=7, scaffold_cap=1))
    assert kept.canonical_smiles.tolist() == benzenes[:1] + others + benzenes[1:4]


def test_the_similarity_filter_keeps_one_of_each_near_duplicate_group():
    # Morgan r2 Tanimoto: the pentyl/hexyl/heptyl benzenes 0.95-1.0 to each other, the alcohols 1.0, across <= 0.32
    smiles = ["c1ccccc1CCCCC", "c1ccccc1CCCCCC", "CCCCCCCCO", "c1ccccc1CCCCCCC", "CCCCCCCCCO", "C1CCNCC1C"]
    frame = pd.DataFrame(
        {"smiles": smiles, "canonical_smiles": smiles, "valid": True, "feasible": True, "fitness": [6, 5, 4, 3, 2, 1]}
    )
    # 0.25: only the piperidine is far enough from the best one; the crowded fill the rest, best first
    for bound, expected in (
        (1.0, smiles[:3]),
        (0.9, [smiles[0], smiles[2], smiles[5]]),
        (0.25, [smiles[0], smiles[5], smiles[1]]),
    ):
        kept = selected(frame, DesignConfig(population=8, top_k=3, max_similarity=bound))
        assert kept.canonical_smiles.tolist() == expected
        assert kept.index.tolist() == [smiles.index(s) for s in expected]
    # the best two are elite: the hexylbenzene stays although it is 0.95 like the best one
    kept = selected(frame, DesignConfig(population=8, top_k=3, max_similarity=0.9, elite=2))
    assert kept.canonical_smiles.tolist() == smiles[:3]


@pytest.mark.parametrize(
    "table, message",
    [
        ({"elite": -1}, "elite must be >= 0"),
        ({"max_similarity": 0}, "max_similarity must be in (0, 1]"),
        ({"scorers": [{"name": "qed", "pmo": "qed"}]}, "scorer name 'qed' is taken"),
        ({"scorers": [{"name": "a", "pmo": "qed"}, {"name": "a", "pmo": "median1"}]}, "scorer name 'a' is taken"),
        ({"objectives": [{"property": "b"}], "scorers": [{"name": "a", "pmo": "qed"}]}, "unknown property 'b'"),
        ({"scaffold_cap": -1}, "scaffold_cap must be >= 0"),
    ],
)
def test_bad_scorer_use_in_design_configs(table, message):
    with pytest.raises(ConfigError) as err:
        from_dict(DesignConfig, table)
    assert message in str(err.value)


def test_a_builtin_objective_without_a_head_learns_one_when_asked(qed_model, tmp_path):
    cfg = DesignConfig(
        model=str(qed_model),
        objectives=[Objective(property="logp")],
        train_smiles="none",
        population=30,
        top_k=10,
        iterations=1,
        learn_heads=True,
    )
    run = DesignRun(cfg, tmp_path, quiet=True)
    run.run()
    assert "logp" in run.model.heads and (tmp_path / "scored_001.csv").exists()


def test_the_readme_plugin_example_runs(tmp_path, monkeypatch):
    """The molecule docs' worked example (a command scorer, a transform, a constraint, the diversity filter) on the
    bundled model, shortened to one small iteration."""
    import re
    import sys
    import textwrap

    readme = (Path(__file__).resolve().parents[2] / "docs" / "molecule.md").read_text()
    toml = textwrap.dedent(re.search(r"  ```toml\n(  # design_activity\.toml.*?)\n  ```", readme, re.S).group(1))
    script = textwrap.dedent(re.search(r"  ```python\n(  # score_activity\.py.*?)\n  ```", readme, re.S).group(1))
    for old, new in (
        ("population = 500", "population = 40"),
        ("top_k = 100", "top_k = 10"),
        ("iterations = 20", "iterations = 1"),
        ('command = "python ', f'command = "{sys.executable} '),
    ):
        assert old in toml, f"the docs example no longer contains {old!r}"
        toml = toml.replace(old, new)
    (tmp_path / "design_activity.toml").write_text(toml.replace("[design]\n", "[design]\ntrain_smiles = 'none'\n"))
    (tmp_path / "score_activity.py").write_text(script)
    monkeypatch.chdir(tmp_path)
    assert main(["molecule", "design", "--config", "design_activity.toml", "--out", "runs/activity", "--quiet"]) == 0
    scored = pd.read_csv(tmp_path / "runs/activity/scored_001.csv")
    valid = scored[scored.valid]
    assert valid.activity.notna().all() and (valid.activity >= 5).all()
    assert valid.activity_transformed.tolist() == pytest.approx(((valid.activity - 5) / 4).clip(0, 1).tolist())


def test_a_learned_heads_unit_is_at_least_one_shift(qed_model, tmp_path):
    """Scores that start nearly constant (an isomer task's first population scores ~1e-4) must not make a
    shift of 0.05 a leap of hundreds of head units off the latent."""
    import numpy as np
    import torch

    from lebm.molecule.model import MoleculeModel
    from lebm.molecule.moves import fit_learned_heads

    model = MoleculeModel.from_pretrained(qed_model)
    z = torch.randn(6, model.prior.latent_dim)
    fit_learned_heads(
        model, {"celecoxib": 0.05}, z, pd.DataFrame({"celecoxib": [1e-4, 2e-4, 0.0, 3e-4, np.nan, 1e-4]}), steps=2
    )
    assert model.config.property_stats["celecoxib"][1] == pytest.approx(0.05)
    model = MoleculeModel.from_pretrained(qed_model)
    fit_learned_heads(
        model, {"celecoxib": 0.05}, z, pd.DataFrame({"celecoxib": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]}), steps=2
    )
    assert model.config.property_stats["celecoxib"][1] == pytest.approx(np.std([0, 0.2, 0.4, 0.6, 0.8, 1.0]))


def interrupting_scorer(tmp_path: Path, stop_at_call: int) -> str:
    """A callable scorer (heavy atom count) that logs every molecule it scores and, on its first use, stops the
    run as Ctrl-C would at its `stop_at_call`-th call; returns its module:function name."""
    (tmp_path / "counting_scorer.py").write_text(
        "from pathlib import Path\nfrom rdkit import Chem\n"
        f"LOG = Path({str(tmp_path / 'scored.log')!r})\nSTOP = Path({str(tmp_path / 'stop')!r})\n"
        "def score(smiles):\n"
        "    if STOP.exists():\n"
        "        calls = int(STOP.read_text() or 0) + 1\n"
        "        STOP.write_text(str(calls))\n"
        f"        if calls == {stop_at_call}:\n"
        "            STOP.unlink()\n"
        "            raise KeyboardInterrupt\n"
        "    with LOG.open('a') as fh:\n"
        "        fh.write(''.join(s + '\\n' for s in smiles))\n"
        "    return [float(Chem.MolFromSmiles(s).GetNumHeavyAtoms()) for s in smiles]\n"
    )
    (tmp_path / "stop").write_text("")
    return "counting_scorer:score"


def test_an_interrupted_iteration_resumes_without_paying_a_molecule_twice(qed_model, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = interrupting_scorer(tmp_path, stop_at_call=6)
    toml = tmp_path / "count.toml"
    toml.write_text(
        f"[design]\nmodel = '{qed_model}'\npopulation = 200\ntop_k = 50\niterations = 2\n"
        "train_smiles = 'none'\nfinetune_batch = 32\nseed = 2\n"
        f"[[design.scorers]]\nname = 'atoms'\ncallable = '{name}'\n"
        "[[design.objectives]]\nproperty = 'atoms'\nshift = 1.0\n"
    )
    out = tmp_path / "run"
    assert main(["molecule", "design", "--config", str(toml), "--out", str(out), "--quiet"]) == 130  # Ctrl-C
    assert (out / "pending" / "scored.csv").exists()  # the interrupted iteration kept what it had scored
    before = pd.read_csv(out / "pending" / "scored.csv", keep_default_na=False)
    resumed = DesignRun(from_dict(DesignConfig, tomllib.loads(toml.read_text())["design"]), out, quiet=True)
    resumed.load()
    assert resumed.resume_pending(json.loads((out / "pending" / "proposals.json").read_text())["iteration"]) is not None
    assert set(before.canonical_smiles[before.valid]) <= set(resumed.ledger.entries)  # paid for: never scored again
    assert main(["molecule", "design", "--config", str(toml), "--out", str(out), "--quiet", "--resume"]) == 0
    paid = (tmp_path / "scored.log").read_text().splitlines()
    assert len(paid) == len(set(paid))  # no molecule went to the oracle twice, across the interruption
    summary = pd.read_csv(out / "summary.csv")
    assert summary.iteration.tolist() == [0, 1, 2] and summary.oracle_calls.iloc[-1] == len(paid)
    assert not (out / "pending").exists()
    # the same run uninterrupted pays the same molecules
    (tmp_path / "scored.log").unlink()
    assert main(["molecule", "design", "--config", str(toml), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    assert sorted((tmp_path / "scored.log").read_text().splitlines()) == sorted(paid)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "population_002.csv"),
        pd.read_csv(tmp_path / "whole" / "population_002.csv"),
        check_dtype=False,
    )


def test_outputs_after_every_iteration_and_progress_lines_in_a_log(qed_model, tmp_path):
    import subprocess
    import sys
    import time

    toml = design_toml(tmp_path, qed_model, 3)
    log = (tmp_path / "design.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lebm",
            "molecule",
            "design",
            "--config",
            str(toml),
            "--out",
            str(tmp_path / "run"),
            "--iterations",
            "2",
            "--population",
            "50",
            "--top-k",
            "20",
        ],
        stderr=log,
        stdout=subprocess.DEVNULL,
    )
    try:
        while not (tmp_path / "run" / "summary.csv").exists() and proc.poll() is None:
            time.sleep(0.2)
        # after iteration 0, before the run ends: every output is there already
        for name in ("summary.csv", "top.csv", "properties.png", "population_000.csv"):
            assert (tmp_path / "run" / name).exists(), name
        assert proc.wait(timeout=600) == 0
    finally:
        proc.kill()
    text = (tmp_path / "design.log").read_text()
    assert "\x1b" not in text and "\r" not in text  # plain lines in a file, no terminal control codes
    lines = text.splitlines()
    # the decoding bar reaches its end before scoring starts (it used to be reset at 0/50)
    assert any(line.startswith("iteration 1: decoding") and "50/50" in line for line in lines)
    assert any(line.startswith("iteration 1: scoring") and "oracle calls" in line for line in lines)
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert summary.iteration.tolist() == [0, 1, 2]  # --iterations 2 over the TOML's 3
    assert len(pd.read_csv(tmp_path / "run" / "scored_001.csv")) == 50  # --population 50


def test_hybrid_proposals_adapt_their_share_and_keep_the_accounting(qed_model, tmp_path):
    toml = design_toml(tmp_path, qed_model, 3)
    toml.write_text(toml.read_text().replace("seed = 3\n", "seed = 3\ngraph_share = 0.5\n"))
    assert main(["molecule", "design", "--config", str(toml), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert summary.graph_proposals.iloc[0] == 0 and (summary.graph_proposals.iloc[1:] > 0).all()
    assert summary.next_graph_share.between(0.1, 0.9).all()
    scored = pd.concat([pd.read_csv(tmp_path / "run" / f"scored_{i:03d}.csv", keep_default_na=False) for i in range(4)])
    assert set(scored.source) == {"latent", "graph"} and scored[scored.source == "graph"].valid.all()
    valid = scored[scored.valid]
    calls = valid.groupby("canonical_smiles").oracle_calls.agg(["nunique", "first"])
    assert (calls["nunique"] == 1).all()  # a repeat, latent or graph, costs nothing
    assert summary.oracle_calls.iloc[-1] == len(calls) == calls["first"].astype(int).max()


def test_repeating_proposals_make_the_next_moves_go_further(qed_model, tmp_path):
    run = DesignRun(
        from_dict(DesignConfig, {"model": str(qed_model), "train_smiles": "none", "population": 4, "top_k": 2}),
        tmp_path,
        quiet=True,
    )
    repeats = pd.DataFrame(
        {
            "source": ["latent"] * 4,
            "valid": [True, True, True, False],
            "oracle_calls": pd.array([3, 5, 9, None], dtype="Int64"),
        }
    )
    # calls before the iteration 8: two of the three valid proposals were scored in earlier iterations
    run.adapt(repeats, 1, calls_before=8)
    assert run.state.boost == 1.5
    run.adapt(repeats, 2, calls_before=8)
    run.adapt(repeats, 3, calls_before=8)
    run.adapt(repeats, 4, calls_before=8)
    assert run.state.boost == 4.0  # capped
    run.adapt(repeats, 5, calls_before=2)  # all new
    assert run.state.boost == pytest.approx(4.0 / 1.5)
    steps = run.shift(torch.zeros(3, run.model.prior.latent_dim), pd.DataFrame({"qed": [0.5] * 3}))
    assert steps.abs().sum() > 0
