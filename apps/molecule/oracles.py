"""Property oracles for design: RDKit properties, penalized logP in three named conventions,
similarity to a reference molecule, and optional AutoDock Vina docking.

Every oracle maps SMILES to floats, NaN for a molecule that does not parse (a counted failure,
never an exception), and counts its calls. `oracle(smiles, jobs=N)` runs built-in oracles in N worker
processes, `oracle(smiles, cluster=c)` on a Dask cluster (lebm.molecule.cluster); the results equal the serial
ones.

Penalized logP conventions (MolDQN, Zhou et al. 2019; JT-VAE, Jin et al. 2018; LIMO, Eckmann et al. 2022), named
explicitly because tables mix them:
  plogp_moldqn  logP - SA - max(largest ring size - 6, 0)                         (MolDQN)
  plogp_jtvae   the same three terms, each z-normalised with ZINC250k statistics   (JT-VAE, GCPN)
  plogp_limo    logP - SA - (number of rings with more than 6 atoms)              (LIMO, SGDS; default)
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import (
    QED,
    Descriptors,
    rdDistGeom,
    rdFingerprintGenerator,
    rdForceFieldHelpers,
    rdMolDescriptors,
)
from rdkit.Contrib.SA_Score import sascorer

from lebm.core.config import option
from lebm.core.errors import ConfigError
from lebm.core.io import save_npy

from .data import parse

# ZINC250k statistics of logP, -SA and -(ring penalty) used by the JT-VAE normalisation
ZINC_LOGP = (2.4570953396190123, 1.434324401111988)
ZINC_NEG_SA = (-3.0525811293166134, 0.8335207024513095)
ZINC_NEG_CYCLE = (-0.0485696876403053, 0.2860212110245455)
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def _largest_ring(mol: Chem.Mol) -> int:
    return max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)


def mol_logp(mol: Chem.Mol) -> float:
    """Crippen logP (RDKit's Crippen.MolLogP, which its type stubs lack)."""
    return float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0])


def plogp_moldqn(mol: Chem.Mol) -> float:
    return mol_logp(mol) - sascorer.calculateScore(mol) - max(_largest_ring(mol) - 6, 0)


def plogp_jtvae(mol: Chem.Mol) -> float:
    terms = (
        (mol_logp(mol), ZINC_LOGP),
        (-sascorer.calculateScore(mol), ZINC_NEG_SA),
        (-max(_largest_ring(mol) - 6, 0), ZINC_NEG_CYCLE),
    )
    return sum((value - mean) / std for value, (mean, std) in terms)


def plogp_limo(mol: Chem.Mol) -> float:
    big_rings = sum(len(r) > 6 for r in mol.GetRingInfo().AtomRings())
    return mol_logp(mol) - sascorer.calculateScore(mol) - big_rings


PROPERTIES: dict[str, Callable[[Chem.Mol], float]] = {
    "qed": QED.qed,
    "sa": sascorer.calculateScore,
    "logp": mol_logp,
    "mw": Descriptors.MolWt,  # type: ignore[attr-defined]
    "tpsa": rdMolDescriptors.CalcTPSA,
    "rings": lambda m: float(m.GetRingInfo().NumRings()),
    "aromatic_rings": lambda m: float(rdMolDescriptors.CalcNumAromaticRings(m)),
    "largest_ring": lambda m: float(_largest_ring(m)),
    "plogp": plogp_limo,
    "plogp_limo": plogp_limo,
    "plogp_moldqn": plogp_moldqn,
    "plogp_jtvae": plogp_jtvae,
}


@dataclass
class DockingSpec:
    """AutoDock Vina docking against one receptor. receptor: a PDBQT file, or 'dockstring:TARGET'
    for a target shipped in the dockstring wheel (its box is then the default)."""

    receptor: str = option("dockstring:ESR1", "receptor PDBQT path, or dockstring:TARGET (e.g. dockstring:ESR1)")
    center: list[float] = option([], "box centre x, y, z in angstrom (default: the dockstring target's)")
    size: list[float] = option([], "box size x, y, z in angstrom (default: the dockstring target's)")
    exhaustiveness: int = option(8, "Vina search exhaustiveness")
    seed: int = option(0, "seed of the ligand embedding and the Vina search")

    def __post_init__(self) -> None:
        if self.receptor.startswith("dockstring:"):
            target = self.receptor.split(":", 1)[1]
            spec = importlib.util.find_spec("dockstring")
            if spec is None or spec.origin is None:
                raise ConfigError("dockstring:TARGET needs the dockstring wheel: pip install --no-deps dockstring")
            folder = Path(spec.origin).parent / "resources" / "targets"
            if not (folder / f"{target}_target.pdbqt").exists():
                raise ConfigError(f"dockstring has no target {target!r}")
            box = dict(
                line.replace(" ", "").split("=")
                for line in (folder / f"{target}_conf.txt").read_text().splitlines()
                if "=" in line
            )
            self.receptor = str(folder / f"{target}_target.pdbqt")
            self.center = self.center or [float(box[f"center_{a}"]) for a in "xyz"]
            self.size = self.size or [float(box[f"size_{a}"]) for a in "xyz"]
        if not Path(self.receptor).is_file():
            raise ConfigError(f"receptor file {self.receptor} does not exist")
        if len(self.center) != 3 or len(self.size) != 3 or min(self.size) <= 0:
            raise ConfigError("docking needs center = [x, y, z] and size = [x, y, z] with positive sizes")
        if self.exhaustiveness < 1:
            raise ConfigError(f"exhaustiveness must be >= 1, got {self.exhaustiveness}")


_VINA: dict[tuple, Any] = {}  # one prepared receptor per worker process and spec


def dock(mol: Chem.Mol, spec: DockingSpec) -> float:
    """Best Vina score (kcal/mol, lower binds better) of one RDKit-embedded conformer."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy
    from vina import Vina

    key = (spec.receptor, tuple(spec.center), tuple(spec.size), spec.seed)
    if key not in _VINA:
        v = Vina(sf_name="vina", cpu=1, seed=spec.seed + 1, verbosity=0)  # Vina's seed 0 means "pick one at random"
        v.set_receptor(spec.receptor)
        v.compute_vina_maps(center=spec.center, box_size=spec.size)
        _VINA[key] = v
    v = _VINA[key]
    mol = Chem.AddHs(mol)
    if rdDistGeom.EmbedMolecule(mol, randomSeed=spec.seed) != 0:
        return math.nan
    rdForceFieldHelpers.MMFFOptimizeMolecule(mol)
    pdbqt, ok, _ = PDBQTWriterLegacy.write_string(MoleculePreparation().prepare(mol)[0])
    if not ok:
        return math.nan
    v.set_ligand_from_string(pdbqt)
    v.dock(exhaustiveness=spec.exhaustiveness, n_poses=1)
    return float(v.energies(n_poses=1)[0][0])


def _evaluate(name: str, reference: str | None, docking: DockingSpec | None, smiles: str) -> float:
    mol = parse(smiles)
    if mol is None:
        return math.nan
    if name == "docking":
        if docking is None:
            raise ConfigError("the docking oracle needs its receptor and box (a [docking] table)")
        try:
            return dock(mol, docking)
        except RuntimeError:  # Vina or Meeko refusing a molecule is a counted failure
            return math.nan
    if name == "similarity":
        return DataStructs.TanimotoSimilarity(_MORGAN.GetFingerprint(mol), _reference_fingerprint(reference))
    return float(PROPERTIES[name](mol))


def _evaluate_batch(name: str, reference: str | None, docking: DockingSpec | None, smiles: list[str]) -> list[float]:
    return [_evaluate(name, reference, docking, s) for s in smiles]


def similarity_fingerprint(smiles: str):
    """The fingerprint the similarity oracle compares (Morgan radius 2, 2,048 bits) of a valid SMILES."""
    return _MORGAN.GetFingerprint(parse(smiles))


@lru_cache(maxsize=16)
def _reference_fingerprint(smiles: str):
    """Morgan fingerprint of a similarity reference, computed once per process (not once per molecule)."""
    return similarity_fingerprint(smiles)


def _check_builtin(name: str, reference: str | None, docking: DockingSpec | None) -> None:
    """One ConfigError if the built-in oracle `name` cannot run as configured."""
    if name == "docking":
        missing = docking_error()
        if missing:
            raise ConfigError(missing)
        if docking is None:
            raise ConfigError("the docking oracle needs a [design.docking] table (receptor, center, size)")
    elif name != "similarity" and name not in PROPERTIES:
        raise ConfigError(f"unknown property {name!r} (known: {', '.join(sorted([*PROPERTIES, 'similarity']))})")
    if name == "similarity" and (not reference or parse(reference) is None):
        raise ConfigError(f"similarity needs a valid reference SMILES, got {reference!r}")


class Oracle:
    """One property as a counted function of SMILES: `oracle(smiles_list) -> list of floats`."""

    def __init__(
        self,
        name: str,
        reference: str | None = None,
        docking: DockingSpec | None = None,
        scorer: Callable[[list[str]], list[float]] | None = None,
    ):
        """`scorer`: a batch function (lebm.molecule.scoring) that scores under this name instead of a built-in."""
        self.scorer = scorer
        if scorer is None:
            _check_builtin(name, reference, docking)
        self.name, self.reference, self.docking = name, reference, docking
        self.calls = self.failures = 0

    def __call__(self, smiles: list[str], jobs: int = 1, cluster=None, done=None) -> list[float]:
        """Values in input order: on `cluster` (lebm.molecule.cluster.Cluster; `done(n)` as batches finish) when
        given, else in `jobs` worker processes, else here."""
        fn = partial(_evaluate, self.name, self.reference, self.docking)
        if cluster is not None:
            batch = (
                self.scorer
                if self.scorer is not None
                else partial(_evaluate_batch, self.name, self.reference, self.docking)
            )
            values = cluster.map(batch, list(smiles), done)
        elif self.scorer is not None:
            values = self.scorer(list(smiles)) if smiles else []
        elif jobs > 1 and len(smiles) > 1:
            with ProcessPoolExecutor(jobs) as pool:
                values = list(pool.map(fn, smiles, chunksize=max(1, len(smiles) // (4 * jobs))))
        else:
            values = _evaluate_batch(self.name, self.reference, self.docking, list(smiles))
        self.calls += len(smiles)
        self.failures += sum(math.isnan(v) for v in values)
        return values


def docking_error() -> str:
    """Empty when the docking extra is installed, else how to install it."""
    try:
        import meeko  # noqa: F401
        import vina  # noqa: F401
    except ImportError:
        return "docking needs AutoDock Vina and Meeko: pip install 'lebm[docking]' (vina, meeko, gemmi)"
    return ""


# how close a molecule's real value must be to a target to count as on target (conditional sampling's summary)
TOLERANCE = {"qed": 0.05, "logp": 0.5, "mw": 25.0, "sa": 0.5, "tpsa": 10.0, "plogp": 0.5}


def property_table(
    smiles: list[str], names: list[str], jobs: int = 1, cache: Path | None = None
) -> dict[str, np.ndarray]:
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
            save_npy(path, out[name])
    return out
