"""The molecule latent: fingerprint bags for the bag head, posterior means, reconstruction.

Reconstruction of a molecule: its posterior mean (the encoder's mean for an amortised model, else
the mean of posterior chains) decoded greedily (or sampled), compared with the input by Morgan
Tanimoto similarity (radius 2, 1,024 bits) and exact canonical match.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from lebm.core.diagnostics import posterior_fit
from lebm.core.errors import DataError
from lebm.core.io import save_npy

from .data import canonical, parse
from .model import MoleculeModel
from .tokens import to_representation, tokenize

_SIMILARITY_FP = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)


def fingerprint_bags(smiles: list[str], bits: int, cache: Path | None = None) -> torch.Tensor:
    """Morgan radius-2 fingerprints folded to `bits` bits, [N, bits] uint8: the bag head's targets. With
    `cache`, kept there as bit-packed .npy keyed by the molecule list (MOSES train takes minutes)."""
    path = None
    if cache is not None:
        key = hashlib.sha1("\n".join(smiles).encode()).hexdigest()[:16]
        path = cache / f"fingerprints-{bits}-{key}.npy"
        if path.is_file():
            return torch.from_numpy(np.unpackbits(np.load(path, allow_pickle=False), axis=1, count=bits))
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=bits)
    out = np.zeros((len(smiles), bits), dtype=np.uint8)
    for row, smi in enumerate(smiles):
        mol = parse(smi)
        if mol is not None:
            out[row] = generator.GetFingerprintAsNumPy(mol)
    if path is not None:
        save_npy(path, np.packbits(out, axis=1))
    return torch.from_numpy(out)


def encode_ids(model: MoleculeModel, smiles: list[str]) -> torch.Tensor:
    """Token ids of canonical SMILES; molecules longer than the model's max_len are read whole (the encoder and
    decoder take any length; max_len bounds what the model writes)."""
    texts = [to_representation(s, model.config.representation) for s in smiles]
    longest = max((len(tokenize(t, model.config.representation)) for t in texts), default=0)
    return model.vocab.encode(texts, max(model.config.max_len, longest)).to(model.device())


@torch.no_grad()
def posterior_means(model: MoleculeModel, smiles: list[str], batch_size: int = 256, chains: int = 4) -> torch.Tensor:
    """Posterior means [N, d] of encodable canonical SMILES (see the module docstring)."""
    if not smiles:
        raise DataError("no molecules to encode")
    model.eval()
    out = []
    for start in range(0, len(smiles), batch_size):
        x = encode_ids(model, smiles[start : start + batch_size])
        if model.encoder is not None:
            out.append(model.encoder(x)[0])
        else:
            out.append(posterior_fit(model, x, chains)[0])
    return torch.cat(out)


def tanimoto(a: str | None, b: str | None) -> float:
    """Morgan Tanimoto similarity of two SMILES (0 when either does not parse)."""
    ma, mb = (parse(s) for s in (a, b))
    if ma is None or mb is None:
        return 0.0
    return DataStructs.TanimotoSimilarity(_SIMILARITY_FP.GetFingerprint(ma), _SIMILARITY_FP.GetFingerprint(mb))


@torch.no_grad()
def reconstruct(
    model: MoleculeModel, smiles: list[str], temperature: float = 0.0, batch_size: int = 256
) -> list[dict[str, object]]:
    """Decode each molecule's posterior mean: rows of input, decoded, valid, tanimoto, exact."""
    z = posterior_means(model, smiles, batch_size)
    decoded: list[str] = []
    for start in range(0, len(z), batch_size):
        decoded += model.decode_smiles(z[start : start + batch_size], temperature)
    rows = []
    for smi, dec in zip(smiles, decoded):
        can = canonical(dec)
        rows.append(
            {
                "smiles": smi,
                "decoded": dec,
                "valid": can is not None,
                "tanimoto": tanimoto(smi, can),
                "exact": can == smi,
            }
        )
    return rows


def reconstruction_figures(model: MoleculeModel, smiles: list[str]) -> dict[str, float]:
    """Mean Tanimoto and exact-match share of greedy reconstructions (canonical SMILES in)."""
    rows = reconstruct(model, smiles)
    return {
        "recon_tanimoto": float(np.mean([r["tanimoto"] for r in rows])),
        "recon_exact": float(np.mean([r["exact"] for r in rows])),
    }


def sample_on_target(
    model: MoleculeModel,
    n: int,
    targets: dict[str, float],
    select: int = 1,
    batch_size: int = 500,
    temperature: float = 1.0,
    oversample: int = 1,
    cluster=None,
    **chain,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Conditional sampling checked by the real property values: n * select molecules are decoded from
    z ~ p(z | y*), each target property is computed by its oracle (RDKit), and the n distinct valid molecules
    closest to the targets are kept, ranked by their largest distance in tolerance units (<= 1: within every
    tolerance). select = 1 keeps every decoded row, invalid ones included: the model's own conditioning.
    Returns the rows (smiles, valid, each property's real value and head prediction) and the proposals'
    figures (decoded, valid share, unique share among the valid). `cluster`: where the oracles run (a
    lebm.molecule.cluster.Cluster; None: here)."""
    from .oracles import TOLERANCE, Oracle

    smiles, z = model.sample_smiles_conditional(n * select, targets, batch_size, temperature, oversample, **chain)
    frame = pd.DataFrame({"smiles": smiles})
    canon = [canonical(s) for s in smiles]
    frame["valid"] = [c is not None for c in canon]
    predicted = model.predict_properties(z)
    for name in targets:
        frame[name] = Oracle(name)(smiles, cluster=cluster)
        frame[f"predicted_{name}"] = predicted[name].detach().cpu().numpy()
    valid = [c for c in canon if c]
    proposals = {
        "decoded": len(frame),
        "valid": len(valid) / max(len(frame), 1),
        "unique": len(set(valid)) / max(len(valid), 1),
    }
    if select > 1:
        distance = pd.concat(
            [(frame[name] - t).abs() / TOLERANCE.get(name, 0.1 * max(abs(t), 1.0)) for name, t in targets.items()],
            axis=1,
        ).max(axis=1)
        keep = frame.assign(distance=distance, canon=canon)[frame.valid].drop_duplicates("canon")
        frame = keep.sort_values("distance", kind="stable").head(n).drop(columns=["distance", "canon"])
    return frame.reset_index(drop=True), proposals
