"""The text app as a Python library: sampling, reconstruction, interpolation, latent features and held-out
likelihood as functions that return lists, DataFrames, arrays and dicts. The commands (lebm.text.commands) are
thin wrappers over these.

    >>> import lebm.text as text
    >>> model = text.load_model()                      # the bundled BBC News model
    >>> len(model.sample(3, seed=0))
    3
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from lebm.core.distributed import pick_device
from lebm.core.errors import ConfigError, DataError

from .data import encode as encode_texts
from .evaluate import evaluate as evaluate_ids
from .evaluate import latent_features
from .model import TextModel

Decoding = Literal["greedy", "sample", "beam"]

log = logging.getLogger(__name__)


def load_model(path: str | Path | None = None, device: str = "cpu") -> Model:
    """A trained text model (the bundled BBC News model when `path` is omitted).

    Examples
    --------
    >>> load_model().network.latent
    True
    """
    from lebm.models import TEXT as BUNDLED

    return Model(TextModel.from_pretrained(path or BUNDLED, device=pick_device(device)).eval())


def posterior_means(
    model: TextModel, texts: list[str], chains: int, quiet: bool = True, refine_steps: int = 0
) -> torch.Tensor:
    """Posterior means of sentences [N, d]; a sentence longer than the model's max_len is read up to it (a note
    names them), one without any token is an error."""
    enc = encode_texts(model.tokenizer, texts, model.config.max_len, "truncate")
    if len(enc.kept) != len(texts):
        raise DataError(f"{len(texts) - len(enc.kept)} of the texts have no tokens")
    if enc.truncated:
        shown = ", ".join(str(i + 1) for i in enc.truncated[:10]) + (", ..." if len(enc.truncated) > 10 else "")
        log.warning(
            f"note: {len(enc.truncated)} of {len(texts)} texts are longer than the model's {model.config.max_len} "
            f"tokens; only their first {model.config.max_len} tokens are encoded (texts {shown})"
        )
    return latent_features(model, enc.ids, chains=chains, quiet=quiet, refine_steps=refine_steps)


def require_latent(model: TextModel, what: str) -> None:
    if not model.latent:
        raise ConfigError(f"{what} needs a latent model; this one is a plain language model")


class Model:
    """A loaded text model; `network` is the torch module (lebm.text.model.TextModel)."""

    def __init__(self, network: TextModel):
        self.network = network

    def default_refine(self, refine_steps: int | None) -> int:
        """None -> the refinement an encoder model uses by default (lebm.text.cli.REFINE_STEPS), 0 for a chain model."""
        from .cli import REFINE_STEPS

        if refine_steps is None:
            return REFINE_STEPS if self.network.encoder_posterior else 0
        return refine_steps

    def sample(
        self,
        n: int = 10,
        seed: int = 0,
        method: Decoding = "sample",
        temperature: float = 1.0,
        top_p: float = 1.0,
        beam: int = 5,
    ) -> list[str]:
        """Sentences decoded from prior samples.

        Examples
        --------
        >>> sentences = load_model().sample(2, seed=1, top_p=0.9)
        >>> all(isinstance(s, str) and s for s in sentences)
        True
        """
        if n < 1:
            raise DataError(f"n must be >= 1, got {n}")
        require_latent(self.network, "sampling from the prior")
        torch.manual_seed(seed)
        z = self.network.sample_prior(n).z.detach()
        return self.network.decode_latents(z, method, temperature, top_p, beam)

    def encode(
        self,
        texts: str | Sequence[str],
        seed: int = 0,
        chains: int = 4,
        refine_steps: int | None = None,
        quiet: bool = True,
    ) -> np.ndarray:
        """Posterior means [N, d] of sentences: latent features for a classifier.

        Examples
        --------
        >>> load_model().encode(["markets rallied on friday", "the team won the cup"]).shape[0]
        2
        """
        require_latent(self.network, "encoding")
        torch.manual_seed(seed)
        texts = [texts] if isinstance(texts, str) else list(texts)
        return posterior_means(self.network, texts, chains, quiet, self.default_refine(refine_steps)).numpy()

    def reconstruct(
        self,
        texts: str | Sequence[str],
        seed: int = 0,
        chains: int = 4,
        refine_steps: int = 0,
        method: Decoding = "greedy",
        beam: int = 5,
    ) -> pd.DataFrame:
        """Each sentence decoded from its posterior mean: columns text, reconstruction.

        Examples
        --------
        >>> list(load_model().reconstruct(["shares fell sharply"]).columns)
        ['text', 'reconstruction']
        """
        require_latent(self.network, "reconstruction")
        torch.manual_seed(seed)
        texts = [texts] if isinstance(texts, str) else list(texts)
        z = posterior_means(self.network, texts, chains, refine_steps=refine_steps).to(self.network.device())
        return pd.DataFrame({"text": texts, "reconstruction": self.network.decode_latents(z, method, beam=beam)})

    def interpolate(
        self,
        start: str,
        end: str,
        points: int = 5,
        *,
        method: Decoding = "greedy",
        beam: int = 5,
        seed: int = 0,
        chains: int = 4,
        refine_steps: int = 0,
    ) -> pd.DataFrame:
        """Sentences decoded at `points` evenly spaced points between two sentences' latents: columns t, text.
        The decoding options (as `reconstruct`'s) are keyword-only.

        Examples
        --------
        >>> frame = load_model().interpolate("prices rose", "the film won an award", points=3)
        >>> frame.t.tolist()
        [0.0, 0.5, 1.0]
        """
        require_latent(self.network, "interpolation")
        if points < 2:
            raise DataError(f"points must be >= 2, got {points}")
        torch.manual_seed(seed)
        z = posterior_means(self.network, [start, end], chains, refine_steps=refine_steps).to(self.network.device())
        w = torch.linspace(0, 1, points, device=z.device)[:, None]
        path = (1 - w) * z[0] + w * z[1]
        return pd.DataFrame({"t": w[:, 0].tolist(), "text": self.network.decode_latents(path, method, beam=beam)})

    def evaluate(
        self,
        sentences: Sequence[str] | torch.Tensor,
        samples: int = 100,
        chains: int = 8,
        batch_size: int = 50,
        seed: int = 0,
        refine_steps: int | None = None,
        overlong: Literal["skip", "truncate"] | None = None,
        quiet: bool = True,
    ) -> dict[str, Any]:
        """Held-out figures: importance-sampled NLL and PPL, REC, KL, MI, AU (lebm.text.evaluate).

        Examples
        --------
        >>> figures = load_model().evaluate(["the bank raised its rates", "he scored twice"], samples=5, chains=2)
        >>> {"nll", "ppl", "rec", "kl", "mi", "au"} <= set(figures)
        True
        """
        torch.manual_seed(seed)
        if not len(sentences):
            raise DataError("no sentences to evaluate")
        if isinstance(sentences, torch.Tensor):
            ids = sentences
        else:
            enc = encode_texts(
                self.network.tokenizer,
                list(sentences),
                self.network.config.max_len,
                overlong or self.network.config.overlong,
            )
            ids = enc.ids
        if not len(ids):
            raise DataError("no sentences to evaluate")
        return evaluate_ids(
            self.network,
            ids,
            samples=samples,
            chains=chains,
            batch_size=batch_size,
            quiet=quiet,
            refine_steps=self.default_refine(refine_steps),
        )
