import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons

from lebm.core.cli import main


@pytest.fixture
def moons_csv(tmp_path):
    X, y = make_moons(300, noise=0.1, random_state=0)
    labels = np.array(["down", "up"])[y].astype(object)
    keep = np.zeros(300, bool)
    keep[[np.where(y == 0)[0][0], np.where(y == 0)[0][1], np.where(y == 1)[0][0], np.where(y == 1)[0][1]]] = True
    partial = np.where(keep, labels, "")
    partial[10:20] = "-1"
    frame = pd.DataFrame(
        {"x1": X[:, 0], "x2": X[:, 1], "side": np.where(X[:, 0] > 0.5, "east", "west"), "label": partial}
    )
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.assign(label=labels).to_csv(tmp_path / "test.csv", index=False)
    return tmp_path


def test_fit_predict_evaluate(moons_csv, capsys):
    out = moons_csv / "model"
    assert (
        main(
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(out),
                "--steps",
                "200",
                "--quiet",
                "--param",
                "latent_dim=3",
                "--param",
                "hidden=[32, 32]",
            ]
        )
        == 0
    )
    assert "300 rows (4 labeled, 2 classes)" in capsys.readouterr().out
    assert json.loads((out / "columns.json").read_text())["categories"] == {"side": ["east", "west"]}
    assert json.loads((out / "estimator.json").read_text())["params"]["latent_dim"] == 3
    assert (
        main(
            [
                "semisup",
                "predict",
                "--model",
                str(out),
                "--data",
                str(moons_csv / "test.csv"),
                "-o",
                str(moons_csv / "pred.csv"),
            ]
        )
        == 0
    )
    pred = pd.read_csv(moons_csv / "pred.csv")
    assert list(pred.columns) == ["predicted", "p_down", "p_up"] and set(pred.predicted) <= {"down", "up"}
    assert np.allclose(pred[["p_down", "p_up"]].sum(axis=1), 1)
    capsys.readouterr()
    assert main(["semisup", "evaluate", "--model", str(out), "--data", str(moons_csv / "test.csv")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 300 and 0.5 < result["accuracy"] <= 1
    truth = pd.read_csv(moons_csv / "test.csv").label.to_numpy()
    p_true = np.where(truth == "up", pred.p_up, pred.p_down)
    assert result["accuracy"] == pytest.approx(float((pred.predicted == truth).mean()))
    assert result["log_loss"] == pytest.approx(float(-np.log(p_true).mean()), rel=1e-4)
    assert result["brier"] == pytest.approx(float(2 * ((1 - p_true) ** 2).mean()), rel=1e-4)
    assert result["brier_binary"] == pytest.approx(result["brier"] / 2, rel=1e-4)


def test_cli_errors(moons_csv, capsys):
    frame = pd.read_csv(moons_csv / "train.csv", keep_default_na=False)
    frame.assign(label="").to_csv(moons_csv / "none.csv", index=False)
    frame.drop(columns=["x2"]).to_csv(moons_csv / "fewer.csv", index=False)
    frame.assign(x1="oops").iloc[:3].to_csv(moons_csv / "bad.csv", index=False)
    cases = [
        (
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "none.csv"),
                "--label-column",
                "label",
                "--out",
                str(moons_csv / "m0"),
            ],
            "no labeled rows",
        ),
        (
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "y",
                "--out",
                str(moons_csv / "m1"),
            ],
            "has no label column 'y'",
        ),
    ]
    cases += [
        (
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(moons_csv / "m2"),
                "--param",
                "depth=3",
            ],
            "--param 'depth=3': expected NAME=VALUE",
        ),
        (
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(moons_csv / "m3"),
                "--param",
                "latent_dim=two",
            ],
            "latent_dim must be an integer >= 1, got 'two'",
        ),
        (
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(moons_csv / "m4"),
                "--param",
                "steps=3",
            ],
            "--param steps: set it with --steps",
        ),
    ]
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert (
        main(
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(moons_csv / "m"),
                "--steps",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    for data, message in (("fewer.csv", "lacks the column 'x2'"), ("bad.csv", "a numeric feature is empty")):
        assert (
            main(
                [
                    "semisup",
                    "predict",
                    "--model",
                    str(moons_csv / "m"),
                    "--data",
                    str(moons_csv / data),
                    "-o",
                    str(moons_csv / "p.csv"),
                ]
            )
            == 2
        )
        assert message in capsys.readouterr().err


def test_evaluate_and_predict_say_what_the_model_has_not_seen(moons_csv, capsys):
    out = moons_csv / "model"
    assert (
        main(
            [
                "semisup",
                "fit",
                "--data",
                str(moons_csv / "train.csv"),
                "--label-column",
                "label",
                "--out",
                str(out),
                "--steps",
                "50",
                "--quiet",
                "--param",
                "latent_dim=2",
                "--param",
                "hidden=[16]",
            ]
        )
        == 0
    )
    test = pd.read_csv(moons_csv / "test.csv", keep_default_na=False)
    test.assign(label=np.where(test.label == "up", "1", "0")).to_csv(moons_csv / "numbers.csv", index=False)
    capsys.readouterr()
    assert main(["semisup", "evaluate", "--model", str(out), "--data", str(moons_csv / "numbers.csv")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "'0', '1'" in captured.err and "'down', 'up'" in captured.err
    test.assign(side=["north"] * 7 + list(test.side[7:])).to_csv(moons_csv / "north.csv", index=False)
    assert (
        main(
            [
                "semisup",
                "predict",
                "--model",
                str(out),
                "--data",
                str(moons_csv / "north.csv"),
                "-o",
                str(moons_csv / "north_pred.csv"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "'side'" in err and "7 row(s)" in err and "'north'" in err
    assert len(pd.read_csv(moons_csv / "north_pred.csv")) == 300
