"""Properties written next to generated molecules: validity, canonical SMILES, QED, SA, logP, MW."""

from __future__ import annotations

import math

from rdkit import Chem

from .oracles import PROPERTIES

COLUMNS = ("qed", "sa", "logp", "mw")


def properties(smiles: str) -> dict[str, object]:
    """valid, canonical SMILES and the four properties (NaN for invalid molecules), one parse."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return {"valid": False, "canonical_smiles": "", **{name: math.nan for name in COLUMNS}}
    return {"valid": True, "canonical_smiles": Chem.MolToSmiles(mol), **{name: PROPERTIES[name](mol) for name in COLUMNS}}
