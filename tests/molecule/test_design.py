"""The SGDS design loop on a tiny model trained here with a QED head."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from lebm.core.cli import main
from lebm.core.config import from_dict
from lebm.core.errors import ConfigError
from lebm.molecule.design import Constraint, DesignConfig, DesignRun, Objective

from .conftest import train_tiny


@pytest.fixture(scope="module")
def qed_model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("design"), "qed", steps=150, molecules=1000, prior_steps=10,
                      posterior_steps=3)


def design_toml(tmp_path, model, iterations):
    path = tmp_path / f"run{iterations}.toml"
    path.write_text(f"[design]\nmodel = '{model}'\npopulation = 60\ntop_k = 30\niterations = {iterations}\n"
                    "train_smiles = 'none'\nring_sizes = [5, 6]\n"
                    "finetune_epochs = 1\nfinetune_batch = 32\nseed = 3\n"
                    "[[design.objectives]]\nproperty = 'qed'\nshift = 0.05\n"
                    "[[design.constraints]]\nproperty = 'sa'\nmax = 7.0\n")
    return path


def test_two_iterations_write_every_output_and_resume_matches(qed_model, tmp_path, capsys):
    assert main(["molecule", "design", "--config", str(design_toml(tmp_path, qed_model, 2)), "--out",
                 str(tmp_path / "whole"), "--quiet"]) == 0
    whole = tmp_path / "whole"
    for name in ("population_000.csv", "population_001.csv", "population_002.csv", "summary.csv", "top.csv",
                 "properties.png", "state/state.json", "state/model/model.safetensors"):
        assert (whole / name).exists(), name
    summary = pd.read_csv(whole / "summary.csv")
    assert list(summary.iteration) == [0, 1, 2] and summary.oracle_calls.tolist() == [60, 120, 180]
    assert {"qed_mean", "qed_top1", "qed_top3", "validity", "uniqueness"} <= set(summary.columns)
    assert (summary.qed_top1.diff().dropna() >= 0).all()  # the kept population never loses its best
    top = pd.read_csv(whole / "top.csv")
    assert top.feasible.all() and (top.sa <= 7.0).all()
    from lebm.molecule.design import _rings_allowed

    assert all(_rings_allowed(s, {5, 6}) for s in top.canonical_smiles)

    # interrupted after one iteration, then resumed to two: the same population as the run above
    assert main(["molecule", "design", "--config", str(design_toml(tmp_path, qed_model, 1)), "--out",
                 str(tmp_path / "cut"), "--quiet"]) == 0
    (tmp_path / "cut" / "state" / "state.json").write_text(
        (tmp_path / "cut" / "state" / "state.json").read_text().replace('"iterations": 1', '"iterations": 2'))
    assert main(["molecule", "design", "--config", str(design_toml(tmp_path, qed_model, 2)), "--out",
                 str(tmp_path / "cut"), "--quiet", "--resume"]) == 0
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
        ({"objectives": [{"property": "docking", "direction": "min"}]}, "needs a [design.docking] table"),
    ],
)
def test_bad_design_configs(table, message):
    with pytest.raises(ConfigError) as err:
        from_dict(DesignConfig, table)
    assert message in str(err.value)


def test_novelty_against_a_training_file(qed_model, tmp_path):
    cfg = DesignConfig(model=str(qed_model), population=30, top_k=10, iterations=1, finetune_epochs=0,
                       train_smiles=str(Path(__file__).parent / "data" / "tiny.csv"))
    DesignRun(cfg, tmp_path, quiet=True).run()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.novelty.between(0, 1).all() and len(summary) == 2


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
    cfg = DesignConfig(model=str(qed_model), objectives=[Objective(property="logp")], train_smiles="none",
                       constraints=[Constraint(property="qed", min=0.3)])
    with pytest.raises(ConfigError, match="no head for objective 'logp'"):
        DesignRun(cfg, tmp_path)


def test_ring_size_constraint_reads_every_ring():
    from lebm.molecule.data import moses_smiles
    from lebm.molecule.design import _rings_allowed

    assert _rings_allowed("c1ccccc1C1CCCC1", {5, 6}) and _rings_allowed("CCO", {6})
    assert not _rings_allowed("C1CC1c1ccccc1", {5, 6}) and not _rings_allowed("C1CCCCCCC1", {5, 6})
    assert not _rings_allowed("", {6}) and not _rings_allowed("C1CC", {6})
    # many calls in a row: the ring info must be read while its molecule is alive (it crashed once)
    smiles = moses_smiles("test")[:3000]
    assert sum(_rings_allowed(s, {5, 6}) for s in smiles) > 2500


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


def test_a_design_preset_without_a_model_uses_the_bundled_design_ready_one():
    """Presets name no model: they use models/moses-lebm-latent, which has a head for every preset's objective."""
    import tomllib

    from lebm.molecule.cli import DESIGN_READY, preset_path

    heads = set(json.loads((DESIGN_READY / "config.json").read_text())["config"]["properties"])
    for name in ("design_qed", "design_plogp", "design_multi", "design_docking_esr1"):
        design = tomllib.loads(preset_path(name).read_text()).get("design", {})
        assert "model" not in design, name
        wanted = {o["property"] for o in design.get("objectives", []) if "property" in o}
        assert wanted <= heads | {"docking"}, (name, wanted - heads)
