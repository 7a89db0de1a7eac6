"""The bundled model (models/moses-lebm): it loads, generates mostly valid SMILES, and the demo runs."""

import json
import math

import pandas as pd
import torch

from lebm.core.cli import main
from lebm.molecule.cli import BUNDLED
from lebm.molecule.data import canonical
from lebm.molecule.model import MoleculeModel

MEASURED_VALID = 0.8149  # bench/molecule_moses.py, 10,000 samples, seed 0 (BENCHMARKS.md)


def test_bundled_model_generates_mostly_valid_smiles():
    model = MoleculeModel.from_pretrained(BUNDLED).eval()
    torch.manual_seed(0)
    smiles = model.generate_smiles(400)
    valid = sum(canonical(s) is not None for s in smiles) / len(smiles)
    # 400 draws: a binomial standard error of at most 0.025; the floor sits 4 of them below the measurement
    floor = MEASURED_VALID - 4 * math.sqrt(MEASURED_VALID * (1 - MEASURED_VALID) / 400)
    assert valid >= floor, (valid, floor)
    assert valid > 0.5  # "mostly valid"


def test_demo_writes_csv_grid_and_metrics(tmp_path, capsys):
    assert main(["molecule", "demo", "-n", "200", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "Valid" in out and "FCD/Test" in out and "Novelty" in out
    for name in ("generated.csv", "grid.png", "metrics.json"):  # every file written is named
        assert str(tmp_path / name) in out, name
    assert "generate" in captured.err and "\r" not in captured.err  # progress, as lines on a pipe
    frame = pd.read_csv(tmp_path / "generated.csv")
    assert len(frame) == 200 and (tmp_path / "grid.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["Valid"] == frame.valid.mean()
