"""The molecule app as a Python library: every command's work as a function that returns DataFrames, arrays or
dicts and writes no file. The commands (lebm.molecule.commands) are thin wrappers over these.

    >>> import lebm.molecule as mol
    >>> model = mol.load_model()                       # the bundled ZINC250k model
    >>> frame = model.generate(5, seed=0)              # smiles, valid, canonical_smiles, qed, sa, logp, mw
    >>> list(frame.columns)
    ['smiles', 'valid', 'canonical_smiles', 'qed', 'sa', 'logp', 'mw']
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lebm.core.distributed import pick_device
from lebm.core.errors import ConfigError, DataError

from .data import clean, input_standard
from .model import MoleculeModel


def bundled_model_dir() -> Path:
    """The bundled model's directory (ZINC250k; heads qed, sa, logp, mw, tpsa, plogp, plogp_jtvae)."""
    from lebm.models import MOLECULE

    return MOLECULE


def load_model(path: str | Path | None = None, device: str = "cpu") -> Model:
    """A trained molecule model, ready to generate, sample, encode, decode and reconstruct.

    Parameters
    ----------
    path : str or Path, optional
        A model directory written by ``lebm molecule train`` (or ``save_pretrained``); the bundled ZINC250k model
        when omitted.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Examples
    --------
    >>> model = load_model()
    >>> sorted(model.properties)[:3]
    ['logp', 'mw', 'plogp']
    """
    network = MoleculeModel.from_pretrained(path or bundled_model_dir(), device=pick_device(device))
    return Model(network.eval())


class Model:
    """A loaded molecule model; `network` is the torch module (lebm.molecule.model.MoleculeModel)."""

    def __init__(self, network: MoleculeModel):
        self.network = network

    @property
    def properties(self) -> list[str]:
        """The property heads p(y | z): the targets `sample` accepts."""
        return list(self.network.config.properties)

    def generate(
        self,
        n: int = 1000,
        *,
        seed: int = 0,
        temperature: float = 1.0,
        batch_size: int = 500,
        quiet: bool = True,
        prior_steps: int | None = None,
    ) -> pd.DataFrame:
        """Molecules sampled from the prior and decoded, with their RDKit properties.

        Parameters
        ----------
        n : int
            Number of molecules (invalid ones included, as decoded).
        seed : int
            Sampling seed: the same seed gives the same rows.
        temperature : float
            Softmax temperature of the decoder (0 = greedy).
        prior_steps : int, optional
            Langevin steps of the prior chain (default: the model's own).

        Returns
        -------
        DataFrame
            One row per molecule: smiles, valid, canonical_smiles, qed, sa, logp, mw (NaN where invalid).

        Examples
        --------
        >>> frame = load_model().generate(4, seed=1)
        >>> len(frame), frame.valid.dtype
        (4, dtype('bool'))
        """
        from .props import properties

        if n < 1:
            raise DataError(f"n must be >= 1, got {n}")
        torch.manual_seed(seed)
        chain = {"steps": prior_steps} if prior_steps is not None else {}
        smiles = self.network.generate_smiles(n, batch_size, temperature, quiet=quiet, **chain)
        return pd.DataFrame([{"smiles": s, **properties(s)} for s in smiles])

    def sample(
        self,
        condition: dict[str, float],
        n: int = 100,
        *,
        seed: int = 0,
        select: int = 8,
        oversample: int = 64,
        steps: int = 0,
        temperature: float = 0.7,
        batch_size: int = 500,
        cluster: Any = None,
    ) -> pd.DataFrame:
        """Molecules with given property values: z ~ p(z | y*) through the heads, decoded, checked by RDKit.

        Parameters
        ----------
        condition : dict
            Target values by property head, e.g. ``{"qed": 0.9}``.
        select : int
            Decode ``select * n`` molecules and keep the n distinct valid ones whose real values are closest to the
            targets (1: every decoded row, the model alone).
        oversample : int
            Each chain starts from one of this many prior samples, drawn in proportion to p(y* | z).
        steps : int
            Langevin steps of the conditional chain after its start.
        temperature : float
            Decoding temperature (0.7: fewer invalid proposals than 1, as the command).

        Returns
        -------
        DataFrame
            smiles, valid, and per target its real value and the head's prediction (``predicted_<name>``); the
            proposals' figures (decoded, valid, unique) in ``frame.attrs["proposals"]``.

        Examples
        --------
        >>> frame = load_model().sample({"qed": 0.9}, n=5, seed=0)
        >>> bool((frame.qed - 0.9).abs().max() < 0.1)
        True
        """
        from .latent import sample_on_target

        unknown = sorted(set(condition) - set(self.properties))
        if unknown:
            raise ConfigError(f"no property head named {unknown[0]!r} (heads: {', '.join(self.properties)})")
        for name, value in (("n", n), ("select", select), ("oversample", oversample)):
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        torch.manual_seed(seed)
        frame, proposals = sample_on_target(
            self.network, n, dict(condition), select, batch_size, temperature, oversample, cluster=cluster, steps=steps
        )
        frame.attrs["proposals"] = proposals
        return frame

    def encodable(self, smiles: Iterable[str]) -> list[str]:
        """The molecules standardised (largest fragment, neutral) and canonical as the model reads them; one clear
        error for the first that it cannot read."""
        smiles = [smiles] if isinstance(smiles, str) else list(smiles)
        report = clean(
            smiles,
            self.network.config.representation,
            self.network.vocab,
            standard=input_standard(self.network.vocab),
            unique=False,
        )
        if report.rejects:
            row, raw, reason = report.rejects[0]
            raise DataError(
                f"molecule {row} ({raw!r}) cannot be encoded: {reason}"
                + (f" ({len(report.rejects) - 1} more)" if len(report.rejects) > 1 else "")
            )
        return report.kept

    def encode(self, smiles: str | Sequence[str], seed: int = 0, batch_size: int = 256) -> np.ndarray:
        """Posterior means of molecules, an array [N, latent_dim].

        Examples
        --------
        >>> load_model().encode(["CCO", "c1ccccc1O"]).shape
        (2, 64)
        """
        from .latent import posterior_means

        torch.manual_seed(seed)
        return posterior_means(self.network, self.encodable(smiles), batch_size).cpu().numpy()

    def decode(self, z: np.ndarray | torch.Tensor, temperature: float = 0.0, seed: int = 0) -> list[str]:
        """SMILES decoded from latents [N, latent_dim] (greedy at temperature 0; not checked or repaired).

        Examples
        --------
        >>> model = load_model()
        >>> len(model.decode(model.encode(["CCO", "CCN"])))
        2
        """
        z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=self.network.device())
        if z.ndim != 2 or z.shape[1] != self.network.prior.latent_dim:
            raise DataError(f"z must have shape [N, {self.network.prior.latent_dim}], got {list(z.shape)}")
        torch.manual_seed(seed)
        return self.network.decode_smiles(z, temperature)

    def reconstruct(
        self, smiles: str | Sequence[str], temperature: float = 0.0, seed: int = 0, batch_size: int = 256
    ) -> pd.DataFrame:
        """Each molecule decoded from its posterior mean: smiles, decoded, valid, tanimoto, exact.

        Examples
        --------
        >>> frame = load_model().reconstruct(["CC(=O)Nc1ccc(O)cc1"])
        >>> list(frame.columns)
        ['smiles', 'decoded', 'valid', 'tanimoto', 'exact']
        """
        from .latent import reconstruct

        torch.manual_seed(seed)
        return pd.DataFrame(
            reconstruct(self.network, self.encodable(smiles), temperature, batch_size),
            columns=["smiles", "decoded", "valid", "tanimoto", "exact"],
        )


def optimize(
    leads: str | Sequence[str],
    objective: str = "plogp",
    min_similarity: float = 0.4,
    model: Model | None = None,
    seed: int = 0,
    minimize: bool = False,
    cluster: Any = None,
    quiet: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Lead optimisation: candidates near each lead (Tanimoto >= min_similarity) with a better objective, from latent
    moves along the objective's head and graph mutations of the best.

    Parameters
    ----------
    leads : str or list of str
        The lead molecules.
    objective : str
        A property the model has a head for (plogp, qed, logp, ...).
    model : Model, optional
        The bundled model when omitted.
    settings
        steps, chains, step_size, shift, temperature, mutations (lebm.molecule.leads.LeadSettings).

    Returns
    -------
    DataFrame
        One row per candidate: lead, lead_value, candidate, similarity, the objective, improvement, step; best first
        within each lead; ``frame.attrs["leads"]`` maps every lead to its own value (a lead may have no candidate).

    Examples
    --------
    >>> frame = optimize("CCCCCCc1ccccc1", objective="logp", chains=4, steps=3, mutations=4)
    >>> bool((frame.similarity >= 0.4).all() and (frame.improvement > 0).any())
    True
    """
    from .leads import LeadSettings, optimize_leads

    model = model or load_model()
    lead_settings = LeadSettings(objective=objective, min_similarity=min_similarity, minimize=minimize, **settings)
    lead_settings.check(model.network)
    kept = model.encodable(leads)
    torch.manual_seed(seed)
    values, frames = optimize_leads(model.network, kept, lead_settings, quiet=quiet, cluster=cluster)
    parts = [frame.assign(lead=lead, lead_value=value) for lead, value, frame in zip(kept, values, frames)]
    out = pd.concat(parts, ignore_index=True)
    first = ["lead", "lead_value"]
    out = out[first + [c for c in out.columns if c not in first]]
    out.attrs["leads"] = dict(zip(kept, values))  # every lead's own value, those without a candidate too
    return out


@dataclass
class DesignResult:
    """What a design run found: `summary` (one row per iteration), `populations` (the kept molecules after each
    iteration, iteration 0 first), `top` (the final kept molecules, best first), `out_dir` (None unless asked)."""

    summary: pd.DataFrame
    populations: list[pd.DataFrame]
    top: pd.DataFrame
    out_dir: Path | None


def design(
    config: Any = None,
    scorers: dict[str, Callable[[list[str]], list[float]]] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    **settings: Any,
) -> DesignResult:
    """Design molecules toward objectives by gradual distribution shifting (SGDS, Kong et al. 2023).

    Parameters
    ----------
    config : DesignConfig, dict, str or Path, optional
        The run's settings: a DesignConfig, a dict shaped like a design TOML's [design] table, or the path of such a
        TOML (presets: ``lebm.molecule.cli.preset_path("design_qed")``); keyword `settings` override it.
    scorers : dict, optional
        Your own scores by name: each a callable taking a list of SMILES and returning one float per molecule (NaN
        for a failure); objectives and constraints name them like built-in properties.
    out_dir : str or Path, optional
        Also write the run's files there (populations, scored molecules, summary, top.csv, top.png, a resumable
        state); without it nothing is written.
    resume : bool
        With `out_dir`: go on from the state a stopped run left there.
    progress : bool
        Show progress bars and the final table.

    Returns
    -------
    DesignResult
        summary, populations and top as DataFrames.

    Examples
    --------
    >>> def aromatic(smiles):               # your own score: more aromatic rings is better
    ...     from rdkit import Chem
    ...     return [float(Chem.rdMolDescriptors.CalcNumAromaticRings(Chem.MolFromSmiles(s))) for s in smiles]
    >>> result = design(objectives=[{"property": "aromatic", "shift": 0.5}], scorers={"aromatic": aromatic},
    ...                 population=40, top_k=10, iterations=2, train_smiles="none", seed=0)
    >>> len(result.populations), len(result.top), bool(result.top.aromatic.max() >= 2)
    (3, 10, True)
    """
    from .design_config import design_config
    from .sgds import DesignRun

    scorers = dict(scorers or {})
    cfg = design_config(config, list(scorers), settings)
    with tempfile.TemporaryDirectory(prefix="lebm-design-") as scratch:
        out = Path(out_dir) if out_dir is not None else Path(scratch)
        run = DesignRun(cfg, out, quiet=not progress, callables=scorers)
        run.run(resume=resume)
        populations = [pd.read_csv(p) for p in sorted(out.glob("population_*.csv"))]
        return DesignResult(
            pd.read_csv(out / "summary.csv"),
            populations,
            pd.read_csv(out / "top.csv"),
            Path(out_dir) if out_dir is not None else None,
        )
