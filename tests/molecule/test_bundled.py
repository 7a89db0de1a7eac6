"""The bundled model (models/zinc-lebm): every command's default, it loads, generates mostly valid SMILES,
reads real drugs (salts, charges, stereo), and the demo runs."""

import argparse
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from lebm.core.cli import build_parser, main
from lebm.molecule.cli import BUNDLED
from lebm.molecule.data import canonical
from lebm.molecule.model import MoleculeModel

DATA = Path(__file__).parent / "data"
MEASURED_VALID = json.loads((BUNDLED / "benchmark.json").read_text())["Valid"]  # 10,000 samples, seed 0


def subcommands() -> dict[str, argparse.ArgumentParser]:
    groups = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    molecule = groups.choices["molecule"]
    return next(a for a in molecule._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("command", ["generate", "demo", "sample", "optimize", "encode", "reconstruct", "fit-heads"])
def test_every_command_defaults_to_the_bundled_model(command):
    model = next(a for a in subcommands()[command]._actions if "--model" in a.option_strings)
    assert Path(model.default) == BUNDLED, (command, model.default)


@pytest.mark.parametrize("command, output", [("encode", "encoded.csv"), ("reconstruct", "reconstructed.csv")])
def test_default_output_files_are_named_after_what_they_hold(command, output):
    default = next(a for a in subcommands()[command]._actions if "--output" in a.option_strings).default
    assert Path(default) == Path(output)


def test_a_design_without_a_model_runs_on_the_bundled_model(tmp_path):
    from lebm.molecule.sgds import DesignConfig, DesignRun, Objective

    run = DesignRun(
        DesignConfig(model=str(BUNDLED), objectives=[Objective("qed")], population=2, top_k=1, train_smiles="none"),
        tmp_path,
    )
    assert {"qed", "sa", "logp", "mw", "tpsa", "plogp"} <= set(run.model.config.properties)
    assert (
        "--model" in subcommands()["design"].format_help()
        and "models/zinc-lebm" in subcommands()["design"].format_help()
    )


def test_bundled_model_generates_mostly_valid_smiles():
    model = MoleculeModel.from_pretrained(BUNDLED).eval()
    torch.manual_seed(0)
    smiles = model.generate_smiles(400)
    valid = sum(canonical(s) is not None for s in smiles) / len(smiles)
    # 400 draws: a binomial standard error of at most 0.025; the floor sits 4 of them below the measurement
    floor = MEASURED_VALID - 4 * math.sqrt(MEASURED_VALID * (1 - MEASURED_VALID) / 400)
    assert valid >= floor, (valid, floor)
    assert valid > 0.5  # "mostly valid"


def test_real_drugs_with_salts_charges_and_stereo_are_read(tmp_path, capsys):
    """53 of the 55 drugs of tests/molecule/data/drugs.smi (salts, hydrates, charged forms, stereo centres,
    deuterium) are encoded; bortezomib (boron) and cisplatin (platinum) are named for the token the model lacks."""
    assert main(["molecule", "reconstruct", str(DATA / "drugs.smi"), "-o", str(tmp_path / "r.csv")]) == 0
    err = capsys.readouterr().err
    rows = pd.read_csv(tmp_path / "r.csv")
    assert len(rows) == 53, err
    assert "unknown token B" in err and "unknown token [Cl] [Pt]" in err
    assert "largest fragment kept" in err and "neutralised" in err and "isotopes dropped" in err
    assert rows.smiles.str.contains("@").sum() >= 20  # stereo kept


def test_demo_writes_csv_grid_and_metrics(tmp_path, capsys):
    assert main(["molecule", "demo", "-n", "200", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "Valid" in out and "FCD/Test" in out and "Novelty" in out and "SNN/Test" in out
    for name in ("generated.csv", "grid.png", "metrics.json"):  # every file written is named
        assert str(tmp_path / name) in out, name
    assert "generate" in captured.err and "\r" not in captured.err  # progress, as lines on a pipe
    frame = pd.read_csv(tmp_path / "generated.csv")
    assert len(frame) == 200 and (tmp_path / "grid.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["Valid"] == frame.valid.mean()
