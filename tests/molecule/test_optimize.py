"""fit-heads and optimize: heads added to a trained model, lead optimisation within the similarity bound,
and their error paths."""

import pandas as pd
import pytest

from lebm.core.cli import main
from lebm.molecule.model import MoleculeModel
from lebm.molecule.oracles import Oracle

from .test_model_cli import DATA, TINY_MODEL

LEADS = ["CC(=O)Nc1ccc(O)cc1", "Cc1ccccc1NC(=O)CN1CCCC1", "O=C(O)c1ccccc1O"]


@pytest.fixture(scope="module")
def headed_model(tmp_path_factory):
    """A tiny latent-preset model trained on the test data, then given a plogp and a qed head."""
    tmp = tmp_path_factory.mktemp("optimize")
    (tmp / "tiny.toml").write_text(TINY_MODEL + "[train]\nkl_warmup_steps = 100\n")
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                str(DATA / "tiny.csv"),
                "--config",
                str(tmp / "tiny.toml"),
                "--out",
                str(tmp / "run"),
                "--steps",
                "400",
                "--batch-size",
                "32",
                "--lr-generator",
                "3e-3",
                "--quiet",
                "--probe",
                "5",
                "--probe-recon",
                "0",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "molecule",
                "fit-heads",
                "--model",
                str(tmp / "run" / "model"),
                "--data",
                str(DATA / "tiny.csv"),
                "--properties",
                "plogp",
                "qed",
                "--steps",
                "60",
                "--out",
                str(tmp / "headed"),
                "--quiet",
            ]
        )
        == 0
    )
    return tmp / "headed"


def test_fit_heads_adds_heads_that_load_and_predict(headed_model, capsys):
    model = MoleculeModel.from_pretrained(headed_model)
    assert model.config.properties == ["plogp", "qed"] and set(model.config.property_stats) == {"plogp", "qed"}
    import torch

    predicted = model.predict_properties(torch.zeros(4, model.prior.latent_dim))
    assert predicted["qed"].shape == (4,) and torch.isfinite(predicted["plogp"]).all()


def run_optimize(model, out, bound, *extra):
    """optimize with the latent moves alone unless extra says otherwise (the same seed gives the same chains)."""
    return main(
        [
            "molecule",
            "optimize",
            "--model",
            str(model),
            "--objective",
            "plogp",
            "--min-similarity",
            str(bound),
            "--steps",
            "6",
            "--chains",
            "16",
            "--temperature",
            "0.5",
            "--seed",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--mutations",
            "0",
            *extra,
        ]
    )


def test_optimize_writes_only_candidates_within_the_similarity_bound(headed_model, tmp_path, capsys):
    (tmp_path / "leads.smi").write_text("\n".join(LEADS[1:]) + "\n")
    leads = ["--start", LEADS[0], "--start-file", str(tmp_path / "leads.smi")]
    assert run_optimize(headed_model, tmp_path / "all", 0.0, *leads) == 0
    summary = pd.read_csv(tmp_path / "all" / "summary.csv")
    assert len(summary) == 3 and summary.lead.tolist()[0] == LEADS[0]
    frames = [pd.read_csv(tmp_path / "all" / f"lead_{i:04d}.csv") for i in range(3)]
    for row, frame in zip(summary.itertuples(), frames):
        assert list(frame.columns) == ["candidate", "similarity", "plogp", "improvement", "step", "move"]
        assert set(frame.move) <= {"latent"}
        assert (tmp_path / "all" / f"lead_{row.Index:04d}.png").stat().st_size > 0
        similarity = Oracle("similarity", reference=row.lead)
        assert frame.similarity.tolist() == pytest.approx(similarity(frame.candidate.tolist()))
        assert frame.plogp.tolist() == pytest.approx(Oracle("plogp")(frame.candidate.tolist()))
        assert frame.improvement.tolist() == pytest.approx((frame.plogp - row.plogp).tolist())
        assert frame.improvement.is_monotonic_decreasing and row.lead not in set(frame.candidate)
        assert row.candidates == len(frame) and row.success == (len(frame) > 0 and frame.improvement.max() > 0)
    every = pd.concat(frames)
    assert len(every) >= 4, "too few valid candidates to test the bound"
    # the same chains (same seed) with a bound: exactly the candidates at or above it are written
    bound = float(every.similarity.median())
    assert run_optimize(headed_model, tmp_path / "bounded", bound, *leads) == 0
    for i, frame in enumerate(frames):
        bounded = pd.read_csv(tmp_path / "bounded" / f"lead_{i:04d}.csv")
        assert (bounded.similarity >= bound).all()
        assert set(bounded.candidate) == set(frame.candidate[frame.similarity >= bound])
    assert "3 leads: success" in capsys.readouterr().out
    # a second run into the same directory is refused; --overwrite replaces only optimize's files
    out = tmp_path / "bounded"
    (out / "notes.txt").write_text("mine")
    assert main(["molecule", "optimize", "--model", str(headed_model), "--start", LEADS[0], "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert run_optimize(headed_model, out, 0.4, "--start", LEADS[0], "--overwrite", "--no-images") == 0
    assert sorted(p.name for p in out.iterdir()) == ["lead_0000.csv", "notes.txt", "summary.csv"]


def test_graph_mutations_add_candidates_near_the_lead(headed_model, tmp_path):
    """--mutations: mol-ga's mutations of the lead and its best candidates join the latent moves' candidates; each
    row says which move made it, every row keeps the bound, and no candidate is scored twice."""
    assert run_optimize(headed_model, tmp_path / "o", 0.4, "--start", LEADS[1], "--mutations", "12", "--no-images") == 0
    frame = pd.read_csv(tmp_path / "o" / "lead_0000.csv")
    assert set(frame.move) <= {"latent", "graph"} and (frame.move == "graph").sum() >= 5
    assert (frame.similarity >= 0.4).all() and frame.candidate.is_unique and LEADS[1] not in set(frame.candidate)
    assert frame.similarity.tolist() == pytest.approx(
        Oracle("similarity", reference=LEADS[1])(frame.candidate.tolist())
    )
    assert frame.plogp.tolist() == pytest.approx(Oracle("plogp")(frame.candidate.tolist()))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--start", "C1CC(("], "is not a valid SMILES"),
        (["--objective", "tpsa", "--start", "CCO"], "has no head for 'tpsa'"),
        (["--objective", "nonsense", "--start", "CCO"], "unknown objective 'nonsense'"),
        (["--start", "CCO", "--min-similarity", "1.5"], "--min-similarity must be in [0, 1]"),
        ([], "no lead molecules"),
        (["--start-file", "EMPTY"], "has no molecules (empty, or blank lines only)"),
    ],
)
def test_optimize_errors_are_one_line(headed_model, tmp_path, extra, message, capsys):
    (tmp_path / "empty.smi").write_text("")
    extra = [str(tmp_path / "empty.smi") if e == "EMPTY" else e for e in extra]
    assert main(["molecule", "optimize", "--model", str(headed_model), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_optimize_and_fit_heads_refuse_a_model_without_the_head_or_encoder(headed_model, tmp_path, capsys):
    assert (
        main(
            [
                "molecule",
                "optimize",
                "--start",
                "CCO",
                "--model",
                str(headed_model),
                "--objective",
                "tpsa",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "fit-heads" in capsys.readouterr().err
    (tmp_path / "lm.toml").write_text("[model]\nmax_len = 60\n")  # a CharRNN: no encoder to regress heads on
    assert (
        main(
            [
                "molecule",
                "train",
                "--preset",
                "charrnn",
                "--data",
                str(DATA / "tiny.csv"),
                "--config",
                str(tmp_path / "lm.toml"),
                "--out",
                str(tmp_path / "lm"),
                "--steps",
                "2",
                "--quiet",
                "--probe",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "molecule",
                "fit-heads",
                "--model",
                str(tmp_path / "lm" / "model"),
                "--data",
                str(DATA / "tiny.csv"),
                "--properties",
                "qed",
                "--out",
                str(tmp_path / "h"),
            ]
        )
        == 2
    )
    assert "needs a model with an encoder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["encode", "reconstruct"])
@pytest.mark.parametrize("content", ["", "not_a_smiles\nC1CC((\n"])
def test_encode_and_reconstruct_refuse_files_without_an_encodable_molecule(
    headed_model, tmp_path, command, content, capsys
):
    (tmp_path / "in.smi").write_text(content)
    assert (
        main(
            [
                "molecule",
                command,
                str(tmp_path / "in.smi"),
                "--model",
                str(headed_model),
                "-o",
                str(tmp_path / "out.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    expected = "has no molecules (empty, or blank lines only)" if not content else "no molecule the model can encode"
    assert "error: " in err and expected in err and not (tmp_path / "out.csv").exists()


def test_out_of_the_box_the_bundled_model_samples_and_optimizes(tmp_path, capsys):
    """No --model: conditional sampling and lead optimisation run on the bundled model."""
    assert (
        main(
            [
                "molecule",
                "sample",
                "--condition",
                "qed=0.8",
                "-n",
                "20",
                "--steps",
                "5",
                "-o",
                str(tmp_path / "s.csv"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    sampled = pd.read_csv(tmp_path / "s.csv")
    assert len(sampled) == 20 and "qed" in " ".join(sampled.columns)
    assert (
        main(
            [
                "molecule",
                "optimize",
                "--start",
                "CCOc1ccccc1C(=O)N",
                "--steps",
                "2",
                "--chains",
                "4",
                "--no-images",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (tmp_path / "o" / "summary.csv").is_file()
