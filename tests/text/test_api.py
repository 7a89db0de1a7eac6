"""The text app's Python API: its documented examples run, and each command prints what its function returns."""

import doctest

import pytest

import lebm.text as text
import lebm.text.api as api
from lebm.core import DataError
from lebm.core.cli import main


@pytest.mark.parametrize("module", [api, text])
def test_the_documented_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_commands_print_what_the_functions_return(capsys):
    model = text.load_model()
    assert main(["text", "sample", "-n", "3", "--seed", "4", "--top-p", "0.9"]) == 0
    assert capsys.readouterr().out.splitlines() == model.sample(3, seed=4, top_p=0.9)
    assert main(["text", "reconstruct", "shares fell sharply on monday", "--seed", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()[1].strip()
    assert printed == "-> " + model.reconstruct(["shares fell sharply on monday"], seed=1).reconstruction[0]
    assert main(["text", "interpolate", "prices rose", "the team won", "--points", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    frame = model.interpolate("prices rose", "the team won", points=3)
    assert [ln.split("  ", 1)[1] for ln in lines] == frame.text.tolist()


def test_bad_inputs_get_one_clear_error():
    model = text.load_model()
    with pytest.raises(DataError, match="points must be >= 2"):
        model.interpolate("a", "b", points=1)
    with pytest.raises(DataError, match="no sentences"):
        model.evaluate([])
    with pytest.raises(DataError, match="n must be >= 1"):
        model.sample(0)


def test_the_decoding_commands_take_an_output_file(tmp_path, capsys):
    import pandas as pd

    model = text.load_model()
    assert main(["text", "sample", "-n", "2", "--seed", "5", "-o", str(tmp_path / "s.csv")]) == 0
    assert pd.read_csv(tmp_path / "s.csv").text.tolist() == model.sample(2, seed=5)
    assert (
        main(["text", "interpolate", "prices rose", "the team won", "--points", "3", "-o", str(tmp_path / "i.csv")])
        == 0
    )
    assert pd.read_csv(tmp_path / "i.csv").t.tolist() == [0.0, 0.5, 1.0]
    assert main(["text", "reconstruct", "shares fell", "-o", str(tmp_path / "r.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "r.csv").columns) == ["text", "reconstruction"]
