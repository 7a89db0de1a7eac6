"""Conditional sampling z ~ p(z | y*) through a property head, on a tiny model trained here."""

import pandas as pd
import pytest

from shared.cli import main

from .conftest import train_tiny


@pytest.fixture(scope="module")
def mw_model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("cond"), "mw", steps=250, molecules=1500, prior_steps=20,
                      posterior_steps=5)


def test_conditional_sampling_moves_the_property_toward_the_target(mw_model, capsys):
    means = {}
    for label, target in (("low", 250.0), ("high", 420.0)):
        out = mw_model / f"{label}.csv"
        assert main(["molecule", "sample", "--model", str(mw_model), "--condition",
                     f"mw={target}", "-n", "300", "-o", str(out), "--steps", "100"]) == 0
        frame = pd.read_csv(out)
        means[label] = (frame.predicted_mw.mean(), frame.smiles.fillna("").str.len().mean(), frame.mw.mean())
    assert "property" in capsys.readouterr().out
    # the head's view of the sampled latents moves toward each target. Whether the decoded molecules
    # follow depends on how well the head and decoder are trained: that check belongs to the design
    # issue's benchmarks (on this 250-step model they do not yet: see the closing note).
    assert means["high"][0] - means["low"][0] > 30, means
    assert abs(means["low"][0] - 250) < abs(means["high"][0] - 250), means


def test_unknown_conditions_are_refused(mw_model, capsys):
    assert main(["molecule", "sample", "--model", str(mw_model), "--condition", "qed=0.9"]) == 2
    assert "no property head named 'qed'" in capsys.readouterr().err
    assert main(["molecule", "sample", "--model", str(mw_model), "--condition", "mw"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
