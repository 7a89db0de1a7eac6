"""The molecule model: latent EBM prior + the core's RNN decoder over SMILES/SELFIES tokens.

With `decoder.use_latent = false` the decoder ignores z: the CharRNN baseline. The encoder q(z | x)
is built only for the amortised posterior start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from lebm.core.config import check_choices, option
from lebm.core.errors import ConfigError, ModelLoadError
from lebm.core.heads import GaussianHead, HeadConfig
from lebm.core.model import LatentEBM, LatentEBMConfig
from lebm.core.progress import progress
from lebm.core.sequence import DecoderConfig, EncoderConfig, TokenEncoder, make_decoder

from .tokens import Representation, Vocabulary, to_smiles


@dataclass
class MoleculeConfig:
    ebm: LatentEBMConfig = field(default_factory=LatentEBMConfig, metadata={"doc": "prior, chains, chain starts"})
    decoder: DecoderConfig = option(DecoderConfig(), "the sequence decoder")
    encoder: EncoderConfig = option(EncoderConfig(), "the encoder (used when posterior_init = 'amortised')")
    representation: Representation = option("smiles", "smiles or selfies")
    max_len: int = option(100, "longest molecule in tokens")
    vocab_size: int = option(0, "number of tokens (set from the training data)")
    properties: list[str] = option([], "properties with a head p(y|z) = N(g(z), v), oracle names (qed, sa, plogp...)")
    property_stats: dict[str, list[float]] = option({}, "mean and std of each property on the training data")
    head: HeadConfig = option(HeadConfig(), "the property heads (targets are z-normalised)")

    def __post_init__(self) -> None:
        check_choices(self)


class MoleculeModel(LatentEBM):
    config_class = MoleculeConfig

    def __init__(self, config: MoleculeConfig, vocab: Vocabulary | None = None):
        if vocab is not None:
            config.vocab_size = len(vocab)
        if config.vocab_size < 4:
            raise ConfigError("a molecule model needs its vocabulary (vocab_size is not set)")
        d = config.ebm.prior.latent_dim
        decoder = make_decoder(config.vocab_size, d, config.decoder, config.max_len)
        encoder = (
            TokenEncoder(config.vocab_size, d, config.encoder) if config.ebm.posterior_init == "amortised" else None
        )
        heads = {name: GaussianHead(d, config.head) for name in config.properties}
        super().__init__(config, config.ebm, decoder, heads=heads, encoder=encoder)
        self._vocab = vocab  # None until load_extra reads it (from_pretrained)

    def normalise(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """Property values in head units: (y - mean) / std of the training data."""
        if name not in self.config.property_stats:
            raise ConfigError(f"no property head named {name!r} (heads: {', '.join(self.config.properties) or 'none'})")
        mean, std = self.config.property_stats[name]
        return (values - mean) / std

    def predict_properties(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's mean g(z), back in property units."""
        out = {}
        for name in self.config.properties:
            mean, std = self.config.property_stats[name]
            out[name] = self.heads[name].predict(z) * std + mean
        return out

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            raise ModelLoadError(
                "this molecule model has no vocabulary: build it with one, or load it from a directory"
            )
        return self._vocab

    def save_extra(self, directory: Path) -> None:
        self.vocab.save(directory / "vocab.json")

    def load_extra(self, directory: Path) -> None:
        vocab = Vocabulary.load(directory / "vocab.json")
        if len(vocab) != self.config.vocab_size or vocab.representation != self.config.representation:
            raise ModelLoadError(
                f"{directory / 'vocab.json'} does not match config.json "
                f"({len(vocab)} {vocab.representation} tokens, config says "
                f"{self.config.vocab_size} {self.config.representation})"
            )
        self._vocab = vocab

    def check_warm_start(self, source: MoleculeModel, directory) -> None:
        if source.vocab.tokens != self.vocab.tokens or source.config.representation != self.config.representation:
            raise ConfigError(
                f"warm start: {directory} was trained on other tokens ({len(source.vocab)} "
                f"{source.config.representation} tokens; this run has {len(self.vocab)} "
                f"{self.config.representation} tokens)"
            )

    @torch.no_grad()
    def decode_smiles(self, z: torch.Tensor, temperature: float = 1.0) -> list[str]:
        """SMILES decoded from latents (not checked or repaired)."""
        ids = self.generator.sample(z, self.config.max_len, temperature)
        return [to_smiles(t, self.config.representation) for t in self.vocab.decode(ids.cpu())]

    def generate_smiles(
        self, n: int, batch_size: int = 500, temperature: float = 1.0, quiet: bool = True, **chain
    ) -> list[str]:
        """n SMILES strings decoded from prior samples (chain: overrides of the prior chain, e.g. steps)."""
        out: list[str] = []
        for start in progress(range(0, n, batch_size), desc="generate", unit="batch", quiet=quiet):
            out += self.decode_smiles(self.sample_prior(min(batch_size, n - start), **chain).z, temperature)
        return out

    def sample_smiles_conditional(
        self,
        n: int,
        targets: dict[str, float],
        batch_size: int = 500,
        temperature: float = 1.0,
        oversample: int = 1,
        **chain,
    ) -> tuple[list[str], torch.Tensor]:
        """n SMILES from z ~ p(z | y*) (the core's conditional sampler), and the latents."""
        normalised = {k: float(self.normalise(k, torch.tensor(v))) for k, v in targets.items()}
        smiles, latents = [], []
        for start in range(0, n, batch_size):
            z = self.sample_conditional(min(batch_size, n - start), normalised, oversample, **chain).z
            smiles += self.decode_smiles(z, temperature)
            latents.append(z)
        return smiles, torch.cat(latents)
