"""Our MOSES metrics against the official molsets implementation on a fixed sample, and the shipped
reference statistics against our own code."""

import random

import numpy as np
import pytest

from lebm.molecule.data import moses_smiles
from lebm.molecule.metrics import (
    PROPERTY_NAMES,
    SHIPPED_REFERENCE,
    ReferenceStats,
    fingerprints,
    fragments,
    moses_metrics,
    property_values,
    scaffolds,
    to_mol,
)

from .moses_official import get_all_metrics

COLUMNS = [
    "Valid",
    "Unique@100",
    "Unique@300",
    "Novelty",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "FCD/TestSF",
    "SNN/TestSF",
    "Frag/TestSF",
    "Scaf/TestSF",
    "IntDiv",
    "IntDiv2",
    "Filters",
    *PROPERTY_NAMES,
]


@pytest.mark.slow  # minutes: run by `make test-slow` (.ci/run, after `make test`)
def test_metrics_agree_with_the_official_moses_code():
    test, scaffold_test = moses_smiles("test")[:600], moses_smiles("test_scaffolds")[:400]
    train = moses_smiles("train")[:5000]
    # a few hundred molecules: unseen test molecules, training molecules (not novel), duplicates,
    # invalid strings, a charged salt and a non-canonical spelling
    gen = (
        moses_smiles("test")[9000:9250]
        + train[:40]
        + ["C1CC", "", "xyz(", "c1ccccc1", "c1ccccc1", "CC(=O)[O-].[Na+]", "OCC", "C(C)O"]
    )
    random.Random(0).shuffle(gen)
    official = get_all_metrics()(gen, k=[100, 300], n_jobs=1, test=test, test_scaffolds=scaffold_test, train=train)
    ours = moses_metrics(
        gen,
        ReferenceStats.compute(test, quiet=True),
        set(train),
        ks=(100, 300),
        quiet=True,
        scaffold_reference=ReferenceStats.compute(scaffold_test, quiet=True),
    )
    assert list(ours) == COLUMNS
    for name in COLUMNS:
        assert ours[name] == pytest.approx(
            official[name.replace("Valid", "valid").replace("Unique", "unique")], abs=1e-3
        ), name
    assert 0 < ours["Novelty"] < 1 and ours["Valid"] < 1  # the sample exercises both sides


@pytest.mark.parametrize("split", ["test", "test_scaffolds"])
def test_shipped_reference_statistics_match_our_code_on_a_sample(split):
    """The shipped statistics (converted once from molsets' files) are what our code computes: every
    sampled molecule's fragments and scaffold are counted, its properties are at its row."""
    shipped = ReferenceStats.load(SHIPPED_REFERENCE / split, fps=np.zeros((0, 1024), np.uint8))
    smiles = moses_smiles(split)
    rows = random.Random(1).sample(range(len(smiles)), 200)
    mols = [to_mol(smiles[i]) for i in rows]
    assert all(shipped.frag[f] >= n for f, n in fragments(mols).items())
    assert all(shipped.scaf[s] >= n for s, n in scaffolds(mols).items())
    assert shipped.mu.shape == (512,) and shipped.sigma.shape == (512, 512)
    if split == "test":
        assert len(shipped.props["QED"]) == len(smiles)
        for name, values in property_values(mols).items():
            np.testing.assert_allclose(shipped.props[name][rows], values, rtol=1e-6, atol=1e-5)
    assert fingerprints(mols).shape == (200, 1024)
