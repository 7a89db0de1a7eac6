import math

import pytest

from apps.molecule.oracles import Oracle, plogp_jtvae, plogp_limo, plogp_moldqn
from shared.errors import ConfigError
from rdkit import Chem

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.mark.parametrize("name, value, tol", [("qed", 0.550, 0.001), ("sa", 1.58, 0.01), ("logp", 1.31, 0.01),
                                              ("mw", 180.16, 0.01), ("tpsa", 63.6, 0.1), ("rings", 1, 0)])
def test_oracles_on_aspirin(name, value, tol):
    assert Oracle(name)([ASPIRIN])[0] == pytest.approx(value, abs=tol)


def test_plogp_conventions_differ_where_they_should():
    benzene, cyclooctane, macro = map(Chem.MolFromSmiles, ["c1ccccc1", "C1CCCCCCC1", "C1CCCCCCCCCCC1CC1CCCCCCC1"])
    # one ring of 6 atoms: no ring penalty in either unnormalised convention
    assert plogp_moldqn(benzene) == pytest.approx(plogp_limo(benzene))
    # one 8-ring: MolDQN subtracts 8 - 6 = 2, LIMO subtracts one ring
    assert plogp_limo(cyclooctane) - plogp_moldqn(cyclooctane) == pytest.approx(1.0)
    # a 12-ring and an 8-ring: MolDQN uses the largest (12 - 6), LIMO counts two big rings
    assert plogp_limo(macro) - plogp_moldqn(macro) == pytest.approx(6 - 2)
    # the JT-VAE convention is z-normalised: benzene sits near the ZINC mean, not at logP - SA
    assert abs(plogp_jtvae(benzene) - plogp_limo(benzene)) > 1


def test_invalid_molecules_are_counted_failures_and_jobs_match_serial():
    smiles = [ASPIRIN, "C1CC", "", "c1ccccc1O"] * 5
    serial, parallel = Oracle("plogp"), Oracle("plogp")
    a, b = serial(smiles), parallel(smiles, jobs=2)
    assert [x for x in a if not math.isnan(x)] == [x for x in b if not math.isnan(x)]
    assert [math.isnan(x) for x in a] == [math.isnan(x) for x in b]
    assert serial.calls == 20 and serial.failures == 10


def test_similarity_and_bad_oracles():
    sim = Oracle("similarity", reference=ASPIRIN)
    assert sim([ASPIRIN])[0] == 1.0 and 0 <= sim(["CCO"])[0] < 0.2
    with pytest.raises(ConfigError, match="unknown property 'potency'"):
        Oracle("potency")
    with pytest.raises(ConfigError, match="valid reference SMILES"):
        Oracle("similarity", reference="C1CC")
    with pytest.raises(ConfigError, match="docking needs AutoDock Vina"):
        Oracle("docking")
