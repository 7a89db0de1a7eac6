"""Molecule data: the MOSES splits from the molsets package files, and user files.

User files: .csv (a SMILES column, `--smiles-column`), or .smi / .txt (first field per line), each
optionally gzipped. Every molecule is parsed and canonicalised with RDKit; rows that are empty,
fail to parse, repeat an earlier molecule, or hold tokens the model cannot represent are skipped
and counted by reason (and can be written to a rejects file). Training molecules from user files are
standardised first (RDKit rdMolStandardize: the largest fragment is kept, so salts and solvents go;
charges are neutralised; optionally stereo and isotope labels are dropped), each change counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from lebm.core.errors import DataError
from lebm.core.io import package_path, write_atomic

from .tokens import Representation, Vocabulary, to_representation, tokenize

RDLogger.DisableLog("rdApp.*")
MOSES_SPLITS = {"train": "train.csv.gz", "test": "test.csv.gz", "test_scaffolds": "test_scaffolds.csv.gz"}


def moses_file(name: str) -> Path:
    """A file of the molsets 0.3.1 package (found without importing it)."""
    return package_path("moses", name, "the MOSES data needs molsets: pip install --no-deps molsets==0.3.1")


def moses_smiles(split: str = "train") -> list[str]:
    """The MOSES split as listed in the package (already canonical, no duplicates)."""
    if split not in MOSES_SPLITS:
        raise DataError(f"unknown MOSES split {split!r} (choose from {', '.join(MOSES_SPLITS)})")
    return pd.read_csv(moses_file(f"dataset/data/{MOSES_SPLITS[split]}"))["SMILES"].tolist()


def canonical(smiles: str) -> str | None:
    """RDKit canonical SMILES, or None when it does not parse."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return Chem.MolToSmiles(mol) if mol is not None else None


@dataclass
class Standardise:
    """What standardisation does to a molecule before it is canonicalised (all through rdMolStandardize)."""

    fragments: bool = True  # keep the largest fragment: strips counter-ions, salts and solvents
    neutralise: bool = True  # neutralise charged atoms where a neutral form exists
    stereo: bool = False  # drop stereochemistry (tetrahedral and double-bond)
    isotopes: bool = False  # drop isotope labels


def standardise(mol: Chem.Mol, how: Standardise) -> tuple[Chem.Mol, list[str]]:
    """The standardised molecule and the changes made, by name (empty when it was already standard)."""
    changes = []
    if how.fragments and len(Chem.GetMolFrags(mol)) > 1:
        mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
        changes.append("largest fragment kept")
    if how.neutralise and any(atom.GetFormalCharge() for atom in mol.GetAtoms()):
        neutral = rdMolStandardize.Uncharger().uncharge(mol)
        if Chem.MolToSmiles(neutral) != Chem.MolToSmiles(mol):
            changes.append("neutralised")
        mol = neutral
    if how.stereo and Chem.MolToSmiles(mol) != Chem.MolToSmiles(mol, isomericSmiles=False):
        mol = Chem.Mol(mol)
        Chem.RemoveStereochemistry(mol)
        changes.append("stereo dropped")
    if how.isotopes and any(atom.GetIsotope() for atom in mol.GetAtoms()):
        mol = Chem.Mol(mol)
        for atom in mol.GetAtoms():
            atom.SetIsotope(0)
        changes.append("isotopes dropped")
    return mol, changes


def smiles_column(columns: list[str], wanted: str | None, path: Path) -> str:
    """The CSV column holding SMILES: `wanted` (any letter case), else one named smiles (any case), else the
    `input` column of the rejects files this suite writes."""
    for name in [wanted] if wanted else ["smiles", "input"]:
        if name in columns:
            return name
        matches = [c for c in columns if c.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise DataError(f"{path} has several columns named {name!r} up to case ({', '.join(matches)}); name one")
    raise DataError(f"{path} has no column {wanted or 'SMILES'!r} (columns: {', '.join(columns)})")


def read_smiles_file(path: str | Path, column: str | None = None) -> list[str]:
    """Raw SMILES strings of a user file, in file order (one clear error for unusable files)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    try:
        if kind == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            values = frame[smiles_column(list(frame.columns), column, path)].tolist()
        elif kind in (".smi", ".txt", ".smiles"):
            frame = pd.read_csv(path, sep=r"\s+", header=None, usecols=[0], dtype=str, comment=None,
                                skip_blank_lines=False, keep_default_na=False, engine="python")
            values = frame[0].tolist()
        else:
            raise DataError(f"{path}: unknown file type (use .csv, .smi or .txt, optionally .gz)")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path} could not be read: {str(e).splitlines()[0]}") from None
    if not values:
        raise DataError(f"{path} has no rows")
    return [str(v).strip() for v in values]


@dataclass
class CleanReport:
    """What happened to each input row."""

    kept: list[str] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (row, input, reason)
    changed: Counter = field(default_factory=Counter)  # standardisation changes of kept or skipped rows

    @property
    def counts(self) -> Counter:
        return Counter(reason for _, _, reason in self.rejects)

    def summary(self) -> str:
        parts = [f"{n} {reason}" for reason, n in sorted(self.counts.items())]
        changes = [f"{n} {change}" for change, n in sorted(self.changed.items())]
        return f"{len(self.kept)} molecules kept" + (f"; skipped: {', '.join(parts)}" if parts else "") + \
            (f"; standardised: {', '.join(changes)}" if changes else "")

    def write_rejects(self, path: str | Path) -> None:
        frame = pd.DataFrame(self.rejects, columns=["row", "input", "reason"])
        write_atomic(path, lambda p: frame.to_csv(p, index=False))


def clean(smiles: list[str], representation: Representation = "smiles", vocab: Vocabulary | None = None,
          max_len: int | None = None, canonicalise: bool = True, standard: Standardise | None = None) -> CleanReport:
    """Standardise (if asked), canonicalise, de-duplicate and filter; every skipped row is recorded with its
    reason, every standardisation change counted."""
    report, seen = CleanReport(), set()
    for row, raw in enumerate(smiles):
        if not raw:
            report.rejects.append((row, raw, "empty"))
            continue
        if standard is not None:
            mol = Chem.MolFromSmiles(raw)
            if mol is not None:
                mol, changes = standardise(mol, standard)
                report.changed.update(changes)
            smi = Chem.MolToSmiles(mol) if mol is not None else None
        else:
            smi = canonical(raw) if canonicalise else raw
        if smi is None:
            report.rejects.append((row, raw, "unparseable"))
            continue
        if smi in seen:
            report.rejects.append((row, raw, "duplicate"))
            continue
        try:
            text = to_representation(smi, representation)
            tokens = tokenize(text, representation)
        except DataError:
            report.rejects.append((row, raw, "not representable"))
            continue
        if vocab is not None and any(t not in vocab.index for t in tokens):
            report.rejects.append((row, raw, "unknown token"))
            continue
        if max_len is not None and len(tokens) > max_len:
            report.rejects.append((row, raw, "too long"))
            continue
        seen.add(smi)
        report.kept.append(smi)
    return report
