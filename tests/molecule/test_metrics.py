"""Our MOSES metrics against the official molsets implementation on a fixed sample."""

import random

import pytest

from lebm.molecule.data import moses_smiles
from lebm.molecule.metrics import ReferenceStats, moses_metrics

from .moses_official import get_all_metrics

NAMES = {"Valid": "valid", "Unique@100": "unique@100", "Unique@300": "unique@300", "Novelty": "Novelty",
         "FCD/Test": "FCD/Test", "SNN/Test": "SNN/Test", "Frag/Test": "Frag/Test", "Scaf/Test": "Scaf/Test",
         "IntDiv": "IntDiv", "IntDiv2": "IntDiv2", "Filters": "Filters"}


def test_metrics_agree_with_the_official_moses_code():
    test = moses_smiles("test")[:600]
    train = moses_smiles("train")[:5000]
    # a few hundred molecules: unseen test molecules, training molecules (not novel), duplicates,
    # invalid strings, a charged salt and a non-canonical spelling
    gen = moses_smiles("test")[9000:9250] + train[:40] + ["C1CC", "", "xyz(", "c1ccccc1", "c1ccccc1",
                                                          "CC(=O)[O-].[Na+]", "OCC", "C(C)O"]
    random.Random(0).shuffle(gen)
    official = get_all_metrics()(gen, k=[100, 300], n_jobs=1, test=test, test_scaffolds=test, train=train)
    ours = moses_metrics(gen, ReferenceStats.compute(test, quiet=True), set(train), ks=(100, 300), quiet=True)
    for name, theirs in NAMES.items():
        assert ours[name] == pytest.approx(official[theirs], abs=1e-3), name
    assert 0 < ours["Novelty"] < 1 and ours["Valid"] < 1  # the sample exercises both sides
