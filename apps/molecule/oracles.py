"""Property oracles for design: RDKit properties, penalized logP in three named conventions,
similarity to a reference molecule, and optional AutoDock Vina docking.

Every oracle maps SMILES to floats, NaN for a molecule that does not parse (a counted failure,
never an exception), and counts its calls. `score(..., jobs=N)` runs RDKit oracles in N worker
processes; the results equal the serial ones.

Penalized logP conventions (REFERENCE.md section 2), named explicitly because tables mix them:
  plogp_moldqn  logP - SA - max(largest ring size - 6, 0)                         (MolDQN)
  plogp_jtvae   the same three terms, each z-normalised with ZINC250k statistics   (JT-VAE, GCPN)
  plogp_limo    logP - SA - (number of rings with more than 6 atoms)              (LIMO, SGDS; default)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Contrib.SA_Score import sascorer

from shared.errors import ConfigError
from shared.io import write_atomic

# ZINC250k statistics of logP, -SA and -(ring penalty) used by the JT-VAE normalisation
ZINC_LOGP = (2.4570953396190123, 1.434324401111988)
ZINC_NEG_SA = (-3.0525811293166134, 0.8335207024513095)
ZINC_NEG_CYCLE = (-0.0485696876403053, 0.2860212110245455)
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def _largest_ring(mol: Chem.Mol) -> int:
    return max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)


def plogp_moldqn(mol: Chem.Mol) -> float:
    return Crippen.MolLogP(mol) - sascorer.calculateScore(mol) - max(_largest_ring(mol) - 6, 0)


def plogp_jtvae(mol: Chem.Mol) -> float:
    terms = ((Crippen.MolLogP(mol), ZINC_LOGP), (-sascorer.calculateScore(mol), ZINC_NEG_SA),
             (-max(_largest_ring(mol) - 6, 0), ZINC_NEG_CYCLE))
    return sum((value - mean) / std for value, (mean, std) in terms)


def plogp_limo(mol: Chem.Mol) -> float:
    big_rings = sum(len(r) > 6 for r in mol.GetRingInfo().AtomRings())
    return Crippen.MolLogP(mol) - sascorer.calculateScore(mol) - big_rings


PROPERTIES: dict[str, Callable[[Chem.Mol], float]] = {
    "qed": QED.qed,
    "sa": sascorer.calculateScore,
    "logp": Crippen.MolLogP,
    "mw": Descriptors.MolWt,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "rings": lambda m: float(m.GetRingInfo().NumRings()),
    "aromatic_rings": lambda m: float(rdMolDescriptors.CalcNumAromaticRings(m)),
    "largest_ring": lambda m: float(_largest_ring(m)),
    "plogp": plogp_limo,
    "plogp_limo": plogp_limo,
    "plogp_moldqn": plogp_moldqn,
    "plogp_jtvae": plogp_jtvae,
}


def _evaluate(name: str, reference: str | None, smiles: str) -> float:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return math.nan
    if name == "similarity":
        ref = Chem.MolFromSmiles(reference)
        return DataStructs.TanimotoSimilarity(_MORGAN.GetFingerprint(mol), _MORGAN.GetFingerprint(ref))
    return float(PROPERTIES[name](mol))


class Oracle:
    """One property as a counted function of SMILES: `oracle(smiles_list) -> list of floats`."""

    def __init__(self, name: str, reference: str | None = None):
        if name == "docking":
            raise ConfigError(docking_error())
        if name != "similarity" and name not in PROPERTIES:
            raise ConfigError(f"unknown property {name!r} (known: {', '.join(sorted([*PROPERTIES, 'similarity']))})")
        if name == "similarity" and (not reference or Chem.MolFromSmiles(reference) is None):
            raise ConfigError(f"similarity needs a valid reference SMILES, got {reference!r}")
        self.name, self.reference = name, reference
        self.calls = self.failures = 0

    def __call__(self, smiles: list[str], jobs: int = 1) -> list[float]:
        fn = partial(_evaluate, self.name, self.reference)
        if jobs > 1 and len(smiles) > 1:
            with ProcessPoolExecutor(jobs) as pool:
                values = list(pool.map(fn, smiles, chunksize=max(1, len(smiles) // (4 * jobs))))
        else:
            values = [fn(s) for s in smiles]
        self.calls += len(smiles)
        self.failures += sum(math.isnan(v) for v in values)
        return values


def docking_error() -> str:
    try:
        import meeko  # noqa: F401
        import vina  # noqa: F401
    except ImportError:
        return ("docking needs AutoDock Vina and Meeko: pip install vina meeko gemmi "
                "(then give the receptor PDBQT and box in the design config)")
    return "docking is not wired into this version's design loop yet"


def property_table(smiles: list[str], names: list[str], jobs: int = 1, cache: Path | None = None) -> dict[str, np.ndarray]:
    """Oracle values of every molecule for each named property, cached per data set and property."""
    key = hashlib.sha1("\n".join(smiles).encode()).hexdigest()[:16]
    out = {}
    for name in names:
        path = cache / f"props-{key}-{name}.npy" if cache is not None else None
        if path is not None and path.exists():
            out[name] = np.load(path, allow_pickle=False)
            continue
        out[name] = np.asarray(Oracle(name)(smiles, jobs=jobs), dtype=np.float64)
        if path is not None:
            write_atomic(path, lambda p, v=out[name]: np.save(open(p, "wb"), v))
    return out
