"""RDKit property oracles for generated molecules: QED, SA, Crippen logP, molecular weight."""

from __future__ import annotations

import math

from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors
from rdkit.Contrib.SA_Score import sascorer



def properties(smiles: str) -> dict[str, object]:
    """valid, canonical SMILES and the four properties (NaN for invalid molecules)."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return {"valid": False, "canonical_smiles": "", "qed": math.nan, "sa": math.nan, "logp": math.nan,
                "mw": math.nan}
    return {"valid": True, "canonical_smiles": Chem.MolToSmiles(mol), "qed": QED.qed(mol),
            "sa": sascorer.calculateScore(mol), "logp": Crippen.MolLogP(mol), "mw": Descriptors.MolWt(mol)}
