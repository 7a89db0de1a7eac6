"""Properties written next to generated molecules (validity, canonical SMILES, QED, SA, logP, MW), and the PNG grids
the commands draw."""

from __future__ import annotations

import math
from pathlib import Path

from rdkit import Chem

from lebm.core.io import write_atomic

from .data import parse
from .oracles import PROPERTIES

COLUMNS = ("qed", "sa", "logp", "mw")


def properties(smiles: str) -> dict[str, object]:
    """valid, canonical SMILES and the four properties (NaN for invalid molecules), one parse."""
    mol = parse(smiles)
    if mol is None:
        return {"valid": False, "canonical_smiles": "", **{name: math.nan for name in COLUMNS}}
    return {
        "valid": True,
        "canonical_smiles": Chem.MolToSmiles(mol),
        **{name: PROPERTIES[name](mol) for name in COLUMNS},
    }


def write_grid(
    path: str | Path, smiles: list[str], legends: list[str], per_row: int = 6, size: tuple[int, int] = (250, 200)
) -> None:
    """A PNG grid of molecules, each labelled (its SMILES, its scores), written atomically. Works where RDKit's
    notebook display is on too (there MolsToGridImage returns IPython's Image instead of PNG bytes)."""
    from rdkit.Chem import Draw

    image = Draw.MolsToGridImage(
        [Chem.MolFromSmiles(s) for s in smiles], molsPerRow=per_row, subImgSize=size, legends=legends, returnPNG=True
    )
    png = image if isinstance(image, bytes) else image.data
    write_atomic(path, lambda p: Path(p).write_bytes(png))
