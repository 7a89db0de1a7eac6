"""The Python API: its documented examples run, and each command gives the rows its function gives."""

import doctest

import numpy as np
import pandas as pd
import pytest

import lebm.molecule as mol
import lebm.molecule.api as api
import lebm.molecule.metrics as metrics
from lebm.core import ConfigError, DataError
from lebm.core.cli import main


@pytest.fixture(scope="module")
def model():
    return mol.load_model()


@pytest.mark.parametrize("module", [api, metrics, mol])
def test_the_documented_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_generate_gives_the_commands_rows(model, tmp_path):
    assert main(["molecule", "generate", "-n", "30", "--seed", "3", "-o", str(tmp_path / "g.csv"), "--quiet"]) == 0
    written = pd.read_csv(tmp_path / "g.csv", keep_default_na=False, na_values=[""])
    frame = model.generate(30, seed=3)
    assert written.smiles.tolist() == frame.smiles.tolist()
    assert np.allclose(written.qed.to_numpy(float), frame.qed.to_numpy(float), equal_nan=True)
    assert model.generate(30, seed=4).smiles.tolist() != frame.smiles.tolist()


def test_sample_gives_the_commands_rows(model, tmp_path):
    assert (
        main(
            [
                "molecule",
                "sample",
                "--condition",
                "qed=0.8",
                "-n",
                "6",
                "--seed",
                "2",
                "--select",
                "2",
                "-o",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    frame = model.sample({"qed": 0.8}, n=6, seed=2, select=2)
    assert pd.read_csv(tmp_path / "s.csv").smiles.tolist() == frame.smiles.tolist()
    assert frame.attrs["proposals"]["decoded"] == 12
    with pytest.raises(ConfigError, match="no property head named 'potency'"):
        model.sample({"potency": 1.0})


def test_encode_and_reconstruct_give_the_commands_rows(model, tmp_path):
    smiles = ["CC(=O)Nc1ccc(O)cc1", "c1ccccc1CCN", "CCOC(=O)c1ccccc1"]
    (tmp_path / "in.smi").write_text("\n".join(smiles) + "\n")
    assert main(["molecule", "encode", str(tmp_path / "in.smi"), "-o", str(tmp_path / "z.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "z.npy"), model.encode(smiles), atol=1e-5)
    assert main(["molecule", "reconstruct", str(tmp_path / "in.smi"), "-o", str(tmp_path / "r.csv")]) == 0
    assert pd.read_csv(tmp_path / "r.csv").decoded.tolist() == model.reconstruct(smiles).decoded.tolist()


def test_bad_molecules_and_latents_get_one_clear_error(model):
    with pytest.raises(DataError, match=r"molecule 1 \('C1CC'\) cannot be encoded: unparseable"):
        model.encode(["CCO", "C1CC"])
    with pytest.raises(DataError, match=r"z must have shape \[N, 64\]"):
        model.decode(np.zeros((2, 3)))
    with pytest.raises(DataError, match="no molecules"):
        mol.evaluate([])
    with pytest.raises(ConfigError, match="reference must be one of"):
        mol.evaluate(["CCO"], reference="chembl")


def test_evaluate_gives_the_commands_figures(tmp_path, capsys):
    generated = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CC", "CCN(CC)CC", "OCC(O)CO"]
    reference = ["CCCO", "c1ccccc1N", "CC(=O)Oc1ccccc1C(=O)O", "CCN", "OCCO", "CC(C)O"]
    (tmp_path / "g.smi").write_text("\n".join(generated) + "\n")
    (tmp_path / "r.smi").write_text("\n".join(reference) + "\n")
    assert (
        main(
            [
                "molecule",
                "evaluate",
                str(tmp_path / "g.smi"),
                "--reference",
                str(tmp_path / "r.smi"),
                "--train",
                "none",
                "-k",
                "3",
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    import json

    written = json.loads((tmp_path / "m.json").read_text())["metrics"]
    figures = mol.evaluate(generated, reference=reference, train=None, k=[3])
    assert written == pytest.approx(figures, nan_ok=True)
    assert figures["Valid"] == pytest.approx(5 / 6)


def test_design_with_a_python_scorer_gives_the_commands_rows(tmp_path):
    table = {
        "objectives": [{"property": "qed", "shift": 0.05}],
        "population": 20,
        "top_k": 8,
        "iterations": 1,
        "train_smiles": "none",
        "seed": 5,
    }
    (tmp_path / "d.toml").write_text(
        "[design]\npopulation = 20\ntop_k = 8\niterations = 1\ntrain_smiles = 'none'\n"
        "seed = 5\n[[design.objectives]]\nproperty = 'qed'\nshift = 0.05\n"
    )
    assert (
        main(["molecule", "design", "--config", str(tmp_path / "d.toml"), "--out", str(tmp_path / "run"), "--quiet"])
        == 0
    )
    result = mol.design(table)
    assert result.out_dir is None and len(result.populations) == 2
    assert result.top.smiles.tolist() == pd.read_csv(tmp_path / "run" / "top.csv").smiles.tolist()
    calls = []

    def score(smiles):
        calls.append(len(smiles))
        return [len(s) / 100 for s in smiles]

    scored = mol.design(
        objectives=[{"property": "size", "shift": 0.05}],
        scorers={"size": score},
        population=20,
        top_k=8,
        iterations=1,
        train_smiles="none",
        out_dir=tmp_path / "mine",
    )
    assert sum(calls) == scored.summary.oracle_calls.iloc[-1] and (tmp_path / "mine" / "top.csv").exists()
    with pytest.raises(ConfigError, match="hand its callable over"):
        mol.design(
            {
                "scorers": [{"name": "size", "python": True}],
                "objectives": [{"property": "size"}],
                "population": 20,
                "top_k": 8,
                "iterations": 1,
                "train_smiles": "none",
            }
        )


def test_rough_edges(tmp_path, capsys):
    for name, text in (("empty.smi", ""), ("blank.txt", "\n\n"), ("empty.csv", "smiles\n")):
        (tmp_path / name).write_text(text)
        assert main(["molecule", "evaluate", str(tmp_path / name), "--train", "none"]) == 2
        assert f"error: {tmp_path / name} has no" in capsys.readouterr().err
    (tmp_path / "bad.smi").write_text("C1CC\nnot_a_smiles\n")
    assert (
        main(
            [
                "molecule",
                "evaluate",
                str(tmp_path / "bad.smi"),
                "--train",
                "none",
                "--reference",
                "moses-test-fcd",
                "-k",
                "1",
            ]
        )
        == 0
    )
    assert "warning: none of the 2 molecules" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("lebm ")


def test_resuming_a_finished_design_run_says_how_to_extend_it(tmp_path, capsys):
    (tmp_path / "d.toml").write_text(
        "[design]\npopulation = 12\ntop_k = 4\niterations = 1\ntrain_smiles = 'none'\n"
        "[[design.objectives]]\nproperty = 'qed'\n"
    )
    args = ["molecule", "design", "--config", str(tmp_path / "d.toml"), "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args) == 0
    columns = pd.read_csv(tmp_path / "run" / "summary.csv").columns.tolist()
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "has finished: 1 iterations" in err and "--iterations 11" in err
    assert main([*args, "--resume", "--iterations", "2"]) == 0
    assert pd.read_csv(tmp_path / "run" / "summary.csv").columns.tolist() == columns  # order kept after a resume


def test_optimize_gives_the_commands_rows(tmp_path):
    flags = ["--objective", "logp", "--chains", "4", "--steps", "3", "--mutations", "4", "--seed", "2"]
    assert (
        main(
            [
                "molecule",
                "optimize",
                "--start",
                "CCCCCCc1ccccc1",
                "--start",
                "CCOc1ccccc1",
                *flags,
                "--out",
                str(tmp_path / "opt"),
                "--quiet",
            ]
        )
        == 0
    )
    frame = mol.optimize(["CCCCCCc1ccccc1", "CCOc1ccccc1"], objective="logp", chains=4, steps=3, mutations=4, seed=2)
    assert set(frame.attrs["leads"]) == {"CCCCCCc1ccccc1", "CCOc1ccccc1"}
    for i, lead in enumerate(frame.attrs["leads"]):
        written = pd.read_csv(tmp_path / "opt" / f"lead_{i:04d}.csv")
        assert written.candidate.tolist() == frame[frame.lead == lead].candidate.tolist()


def test_generate_samples_with_the_prior_chain_recorded_in_the_model_directory(tmp_path):
    import json
    import shutil

    from lebm.molecule.cli import BUNDLED

    shutil.copytree(BUNDLED, tmp_path / "m")
    header = json.loads((tmp_path / "m" / "config.json").read_text())
    assert header["config"]["ebm"]["prior_chain"]["steps"] == 0  # the bundled model samples N(0, I) (chosen on valid)
    header["config"]["ebm"]["prior_chain"]["steps"] = 5
    (tmp_path / "m" / "config.json").write_text(json.dumps(header))
    chained = mol.load_model(tmp_path / "m")
    own = chained.generate(20, seed=1).smiles.tolist()
    assert own == chained.generate(20, seed=1, prior_steps=5).smiles.tolist()
    assert own != chained.generate(20, seed=1, prior_steps=0).smiles.tolist()
