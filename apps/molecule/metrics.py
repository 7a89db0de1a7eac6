"""MOSES distribution-learning metrics (Polykovskiy et al. 2020), written to agree with the official
`molsets` implementation (checked by tests/molecule/test_metrics.py within 1e-3).

  Valid       share of strings RDKit parses and sanitises (empty strings are invalid)
  Unique@k    distinct canonical SMILES among the first k valid ones, divided by k' = min(k, #valid)
  Novelty     share of distinct valid generated molecules absent from the training SMILES
  IntDiv(p)   1 - (mean over pairs, self-pairs included, of Tanimoto^p)^(1/p), Morgan r=2, 1024 bits
  SNN         mean over generated molecules of the highest Tanimoto similarity to the reference set
  Frag, Scaf  cosine similarity of BRICS-fragment / Bemis-Murcko-scaffold (>= 2 rings) counts
  FCD         Frechet ChemNet Distance (fcd_torch) between generated and reference activations
  Filters     share passing the MCF and PAINS filters, with allowed atoms only and no charges
  logP, SA, QED, weight   1-d Wasserstein distance of each property's distribution to the test set's
The SNN / Frag / Scaf / FCD columns are computed against the test set (/Test) and, when given, against
the scaffold test set (/TestSF). Generated molecules are canonicalised and invalid ones dropped before
every metric but Valid.

The MOSES reference statistics ship with the app in formats that load without pickle (NumPy arrays,
gzipped JSON; data/moses/<split>/, written by bench/make_reference.py); the fingerprints for SNN
are derived from the split's SMILES at first use (about a minute) and cached under $LEBM_CACHE.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator, rdmolops
from rdkit.Chem.Scaffolds import MurckoScaffold
from scipy.stats import wasserstein_distance

from lebm.core.errors import ConfigError, DataError
from lebm.core.io import save_npy, write_dir_atomic
from lebm.core.progress import progress

from .data import DATASETS, canonical, dataset_smiles, moses_file, parse, to_mol, valid_mols
from .oracles import PROPERTIES

ALLOWED_ATOMS = {"C", "N", "S", "O", "F", "Cl", "Br", "H"}
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
_FILTERS: list[Chem.Mol] | None = None


def fingerprints(mols: list[Chem.Mol]) -> np.ndarray:
    """Morgan radius-2, 1024-bit fingerprints as a uint8 array [n, 1024]."""
    return (
        np.stack([_MORGAN.GetFingerprintAsNumPy(m).astype(np.uint8) for m in mols])
        if mols
        else np.zeros((0, 1024), np.uint8)
    )


def tanimoto_agg(ref: np.ndarray, gen: np.ndarray, agg: str = "max", p: int = 1, batch: int = 4096) -> float:
    """Mean over gen rows of max (or power-mean) Tanimoto similarity to the ref rows (0/0 counts as 1)."""
    acc = torch.zeros(len(gen), dtype=torch.float64)
    for i in range(0, len(gen), batch):
        g = torch.from_numpy(gen[i : i + batch]).float()
        best = torch.zeros(len(g), dtype=torch.float64)
        for j in range(0, len(ref), batch):
            r = torch.from_numpy(ref[j : j + batch]).float()
            inter = r @ g.T
            union = r.sum(1, keepdim=True) + g.sum(1)[None, :] - inter
            sim = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter)).double()
            best = torch.maximum(best, sim.max(0).values) if agg == "max" else best + sim.pow(p).sum(0)
        acc[i : i + batch] = best if agg == "max" else (best / len(ref)) ** (1 / p)
    return float(acc.mean())


def fragments(mols: list[Chem.Mol]) -> Counter:
    counts: Counter = Counter()
    for m in mols:
        counts.update(Chem.MolToSmiles(rdmolops.FragmentOnBRICSBonds(m)).split("."))
    return counts


def scaffolds(mols: list[Chem.Mol], min_rings: int = 2) -> Counter:
    counts: Counter = Counter()
    for m in mols:
        try:
            scaffold = MurckoScaffold.GetScaffoldForMol(m)
        except (ValueError, RuntimeError):
            continue
        smiles = Chem.MolToSmiles(scaffold)
        if smiles and scaffold.GetRingInfo().NumRings() >= min_rings:
            counts[smiles] += 1
    return counts


def cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return float("nan")
    keys = sorted(set(a) | set(b))
    va, vb = np.array([a.get(k, 0) for k in keys], float), np.array([b.get(k, 0) for k in keys], float)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def _filters() -> list[Chem.Mol]:
    global _FILTERS
    if _FILTERS is None:
        mcf = pd.read_csv(moses_file("metrics/mcf.csv"))["smarts"].tolist()
        pains = pd.read_csv(moses_file("metrics/wehi_pains.csv"), names=["smarts", "names"])["smarts"].tolist()
        _FILTERS = [Chem.MolFromSmarts(s) for s in mcf + pains]
    return _FILTERS


def passes_filters(mol: Chem.Mol) -> bool:
    """MCF + PAINS filters, allowed atoms, no charges, no ring of 8 or more atoms."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 or a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(f) for f in _filters()):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return parse(smiles) is not None


def _fcd():
    from fcd_torch import FCD

    return FCD(device="cpu", n_jobs=1, batch_size=512)


class ReferenceStats:
    """What the metrics need of a reference set: fingerprints, fragment/scaffold counts, FCD moments."""

    def __init__(
        self,
        fps: np.ndarray,
        frag: Counter,
        scaf: Counter,
        mu: np.ndarray,
        sigma: np.ndarray,
        props: dict[str, np.ndarray] | None = None,
    ):
        self.fps, self.frag, self.scaf, self.mu, self.sigma = fps, frag, scaf, mu, sigma
        self.props = props or {}  # PROPERTY_NAMES -> the value of each reference molecule

    @classmethod
    def compute(cls, smiles: list[str], quiet: bool = False, chunk: int = 5000) -> ReferenceStats:
        """Streams the set in chunks: memory stays flat (the MOSES test set is 176k molecules)."""
        fcd = _fcd()
        parts: list[np.ndarray] = []
        frag: Counter[str] = Counter()
        scaf: Counter[str] = Counter()
        props: dict[str, list[np.ndarray]] = {name: [] for name in PROPERTY_NAMES}
        n, total, outer = 0, np.zeros(512), np.zeros((512, 512))
        for start in progress(range(0, len(smiles), chunk), desc="reference statistics", quiet=quiet):
            mols = [m for m in map(to_mol, smiles[start : start + chunk]) if m is not None]
            if not mols:
                continue
            parts.append(np.packbits(fingerprints(mols), axis=1))
            frag.update(fragments(mols))
            scaf.update(scaffolds(mols))
            for name, values in property_values(mols).items():
                props[name].append(values)
            act = fcd.get_predictions([Chem.MolToSmiles(m) for m in mols]).astype(np.float64)
            n, total, outer = n + len(act), total + act.sum(0), outer + act.T @ act
        if n < 2:
            raise DataError("the reference set needs at least two valid molecules")
        mu = total / n
        sigma = (outer - n * np.outer(mu, mu)) / (n - 1)  # = np.cov of all activations
        return cls(
            np.unpackbits(np.concatenate(parts), axis=1),
            frag,
            scaf,
            mu,
            sigma,
            {name: np.concatenate(values) for name, values in props.items()},
        )

    def save(self, directory: Path) -> None:
        """fps.npy, fcd.npz, counts.json.gz, props.npz: no pickles (see load)."""

        def fill(tmp: Path) -> None:
            save_npy(tmp / "fps.npy", np.packbits(self.fps, axis=1))
            np.savez(tmp / "fcd.npz", mu=self.mu, sigma=self.sigma)
            with gzip.open(tmp / "counts.json.gz", "wt", encoding="utf-8") as fh:
                json.dump({"frag": self.frag, "scaf": self.scaf}, fh)
            if self.props:
                np.savez(tmp / "props.npz", **self.props)  # type: ignore[arg-type]  # (numpy's stub: keyword arrays)

        write_dir_atomic(directory, fill)

    @classmethod
    def load(cls, directory: Path, fps: np.ndarray | None = None) -> ReferenceStats:
        """Statistics saved by `save` (or shipped; then `fps` comes from the caller)."""
        if fps is None:
            fps = np.unpackbits(np.load(directory / "fps.npy", allow_pickle=False), axis=1)
        fcd = np.load(directory / "fcd.npz", allow_pickle=False)
        with gzip.open(directory / "counts.json.gz", "rt", encoding="utf-8") as fh:
            counts = json.load(fh)
        props = {}
        if (directory / "props.npz").exists():
            with np.load(directory / "props.npz", allow_pickle=False) as arrays:
                props = {name: arrays[name] for name in arrays.files}
        return cls(fps, Counter(counts["frag"]), Counter(counts["scaf"]), fcd["mu"], fcd["sigma"], props)


def cache_dir() -> Path:
    return Path(os.environ.get("LEBM_CACHE", Path.home() / ".cache" / "lebm"))


SHIPPED = Path(__file__).parent / "data"  # <set>/<split>/: fcd.npz, counts.json.gz, props.npz
SHIPPED_REFERENCE = SHIPPED / "moses"
PROPERTY_NAMES = {"logP": "logp", "SA": "sa", "QED": "qed", "weight": "mw"}  # MOSES column -> oracle


def property_values(mols: list[Chem.Mol]) -> dict[str, np.ndarray]:
    return {
        name: np.array([PROPERTIES[oracle](m) for m in mols], dtype=np.float64)
        for name, oracle in PROPERTY_NAMES.items()
    }


def split_fingerprints(data: str, split: str, quiet: bool = False) -> np.ndarray:
    """Morgan fingerprints of a named set's split (zinc250k or moses), derived once (about a minute for a MOSES
    split, seconds for ZINC250k test) and cached as .npy."""
    path = cache_dir() / f"{data}-{split}-fps-v1.npy"
    if path.exists():
        return np.unpackbits(np.load(path, allow_pickle=False), axis=1)
    smiles, parts = dataset_smiles(data, split), []
    for start in progress(range(0, len(smiles), 10000), desc=f"{data} {split} fingerprints", quiet=quiet):
        parts.append(fingerprints(valid_mols(smiles[start : start + 10000])))
    fps = np.concatenate(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy(path, np.packbits(fps, axis=1))
    return fps


def dataset_reference(data: str = "zinc250k", split: str = "test", quiet: bool = False) -> ReferenceStats:
    """The full statistics of a named set's split (ZINC250k test; MOSES test or test_scaffolds): shipped, plus
    derived fingerprints."""
    return ReferenceStats.load(SHIPPED / data / split, split_fingerprints(data, split, quiet))


def shipped_fcd_reference() -> ReferenceStats:
    """The MOSES test set's FCD moments alone: the headline metrics (no SNN / Frag / Scaf / properties)
    without deriving fingerprints."""
    with np.load(SHIPPED_REFERENCE / "test" / "fcd.npz", allow_pickle=False) as fcd:
        return ReferenceStats(np.zeros((0, 1024), np.uint8), Counter(), Counter(), fcd["mu"], fcd["sigma"])


# FCD compares Gaussian moments of 512-d ChemNet features: on small samples it is biased upward
# (MOSES scores 10,000 molecules); below this many valid molecules the figure gets a warning
FCD_MIN_SAMPLES = 5000


def unique_name(k: int) -> str:
    return f"Unique@{k // 1000}k" if k % 1000 == 0 else f"Unique@{k}"


def small_sample_warnings(n_valid: int, metrics: dict[str, float], ks: tuple[int, ...]) -> dict[str, str]:
    """A warning per metric computed on fewer valid molecules than it needs (Unique@k below k, FCD below
    FCD_MIN_SAMPLES), to print beside the figure."""
    notes = {
        unique_name(k): f"on {n_valid} valid molecules, fewer than k = {k}"
        for k in ks
        if n_valid < k and unique_name(k) in metrics
    }
    if "FCD/Test" in metrics and n_valid < FCD_MIN_SAMPLES:
        notes["FCD/Test"] = (
            f"on {n_valid} valid molecules; FCD is biased upward below {FCD_MIN_SAMPLES:,} (MOSES: 10,000)"
        )
    return notes


def moses_metrics(
    generated: list[str],
    reference: ReferenceStats,
    train: set[str] | None,
    ks: tuple[int, ...] = (1000, 10000),
    quiet: bool = False,
    scaffold_reference: ReferenceStats | None = None,
) -> dict[str, float]:
    """The MOSES table for a list of generated SMILES (in generation order). With a reference that
    holds only FCD moments, SNN / Frag / Scaf are left out; the /TestSF columns need
    `scaffold_reference`, the property distances a reference with property values."""
    if not generated:
        raise DataError("no generated molecules to evaluate")
    mols_all = [to_mol(s) for s in progress(generated, desc="metrics: parse", quiet=quiet)]
    valid = [Chem.MolToSmiles(m) for m in mols_all if m is not None]
    out: dict[str, float] = {"Valid": len(valid) / len(generated)}
    if not valid:
        return out
    for k in ks:
        head = valid[:k]
        out[unique_name(k)] = len(set(head)) / len(head)
    if train is not None:
        distinct = set(valid)
        out["Novelty"] = len(distinct - train) / len(distinct)
    mols = valid_mols(valid)
    fps = fingerprints(mols)
    references = {"Test": reference} | ({"TestSF": scaffold_reference} if scaffold_reference else {})
    steps = progress(total=4 * len(references) + 3, desc="metrics", quiet=quiet)
    fcd = _fcd()
    gen_fcd = fcd.precalc(valid)
    gen_frag, gen_scaf = (
        (fragments(mols), scaffolds(mols)) if any(len(r.fps) for r in references.values()) else (Counter(), Counter())
    )
    for suffix, ref in references.items():
        out[f"FCD/{suffix}"] = float(fcd.metric({"mu": ref.mu, "sigma": ref.sigma}, gen_fcd))
        if len(ref.fps):
            out[f"SNN/{suffix}"] = tanimoto_agg(ref.fps, fps, "max")
            out[f"Frag/{suffix}"] = cosine(ref.frag, gen_frag)
            out[f"Scaf/{suffix}"] = cosine(ref.scaf, gen_scaf)
        steps.update(4)
    out["IntDiv"] = 1 - tanimoto_agg(fps, fps, "mean", p=1)
    out["IntDiv2"] = 1 - tanimoto_agg(fps, fps, "mean", p=2)
    steps.update()
    out["Filters"] = float(np.mean([passes_filters(m) for m in mols]))
    steps.update()
    if reference.props:
        for name, values in property_values(mols).items():
            out[name] = float(wasserstein_distance(reference.props[name], values))
    steps.update()
    steps.close()
    return out


REFERENCES = ("zinc250k-test", "moses-test", "moses-test-fcd")  # the named references of evaluate


def evaluate(
    smiles: Sequence[str],
    reference: str | Sequence[str] = "zinc250k-test",
    train: str | Sequence[str] | None = "zinc250k",
    k: Sequence[int] = (1000,),
    quiet: bool = True,
) -> dict[str, float]:
    """The MOSES metrics of generated SMILES (invalid and empty strings count as invalid).

    Parameters
    ----------
    smiles : list of str
        The generated molecules, as generated.
    reference : str or list of str
        ``"zinc250k-test"``, ``"moses-test"`` (with the scaffold split for Scaf/TestSF), ``"moses-test-fcd"`` (the
        shipped FCD statistics only), or your own reference molecules.
    train : str or list of str, optional
        The training set for novelty: ``"zinc250k"``, ``"moses"``, your molecules, or None (no novelty).
    k : list of int
        Unique@k sizes.

    Returns
    -------
    dict
        Valid, Unique@k, IntDiv, IntDiv2, Filters, Novelty, FCD/Test, SNN/Test, Frag/Test, Scaf/Test and the
        property distances (as ``lebm molecule evaluate`` prints them).

    Examples
    --------
    >>> figures = evaluate(["CCO", "c1ccccc1", "not a smiles"], reference=["CCN", "CCCO", "c1ccncc1"], train=None,
    ...                    k=[2])
    >>> round(figures["Valid"], 3)
    0.667
    """
    smiles = list(smiles)
    if not smiles:
        raise DataError("no molecules to evaluate")
    scaffold_reference = None
    if isinstance(reference, str):
        if reference not in REFERENCES:
            raise ConfigError(
                f"reference must be one of {', '.join(REFERENCES)} or a list of SMILES, got {reference!r}"
            )
        if reference == "moses-test-fcd":
            stats = shipped_fcd_reference()
        else:
            data, split = reference.split("-")
            stats = dataset_reference(data, split, quiet=quiet)
        if reference == "moses-test":
            scaffold_reference = dataset_reference("moses", "test_scaffolds", quiet=quiet)
    else:
        stats = ReferenceStats.compute(list(reference), quiet=quiet)
    if isinstance(train, str):
        if train not in DATASETS:
            raise ConfigError(f"train must be one of {', '.join(DATASETS)}, a list of SMILES or None, got {train!r}")
        train_set: set[str] | None = set(dataset_smiles(train, "train"))
    else:
        train_set = None if train is None else {c for c in map(canonical, train) if c}
    return moses_metrics(smiles, stats, train_set, tuple(k), quiet=quiet, scaffold_reference=scaffold_reference)
