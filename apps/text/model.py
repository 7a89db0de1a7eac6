"""The text model: latent prior (Gaussian or EBM) + the core's LSTM decoder over sentence tokens.

    z ~ p(z) = N(0, I) or exp(f(z)) N(0, I) / Z;   x ~ p(x | z): LSTM with h0 from z and z at every step
Posterior samples come from short-run Langevin chains of the core (no encoder in the paper preset).
With `decoder.use_latent = false` it is a plain LSTM language model; with posterior_init =
"amortised" and 0 posterior steps it is a Gaussian VAE (the encoder trained by the ELBO).
The tokenizer is saved in the model directory as a transformers PreTrainedTokenizerFast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from lebm.core.config import check_choices, option
from lebm.core.errors import ConfigError, ModelLoadError
from lebm.core.model import LatentEBM, LatentEBMConfig
from lebm.core.sequence import NEVER_EMITTED, DecoderConfig, EncoderConfig, TokenEncoder, make_decoder

from .data import UNK, decode, load_tokenizer

GREEDY_NO_REPEAT = 4  # greedy decoding's guard against loops ("to be able to be able to ..."), BENCHMARKS.md


@dataclass
class TextConfig:
    ebm: LatentEBMConfig = field(default_factory=LatentEBMConfig, metadata={"doc": "prior, chains, chain starts"})
    decoder: DecoderConfig = option(DecoderConfig(cell="lstm", embed=256, hidden=256, dropout=0.5), "the decoder")
    encoder: EncoderConfig = option(EncoderConfig(), "the encoder (used when posterior_init = 'amortised')")
    tokenizer: Literal["word", "bpe"] = option("word", "word level (lower-cased, capped vocabulary) or byte-level BPE")
    vocab_size: int = option(10000, "vocabulary cap (the trained tokenizer's size is stored here)")
    max_len: int = option(40, "longest sentence in tokens (<eos> not counted)")
    overlong: Literal["skip", "truncate"] = option("skip", "longer training sentences are skipped or truncated")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.max_len < 1:
            raise ConfigError(f"max_len must be >= 1, got {self.max_len}")


class TextModel(LatentEBM):
    config_class = TextConfig

    def __init__(self, config: TextConfig, tokenizer=None):
        if tokenizer is not None:
            config.vocab_size = len(tokenizer)
        d = config.ebm.prior.latent_dim
        decoder = make_decoder(config.vocab_size, d, config.decoder, config.max_len)
        encoder = (
            TokenEncoder(config.vocab_size, d, config.encoder) if config.ebm.posterior_init == "amortised" else None
        )
        super().__init__(config, config.ebm, decoder, encoder=encoder)
        self.tokenizer: Any = None  # a transformers tokenizer, set here or by load_extra
        if tokenizer is not None:
            self.set_tokenizer(tokenizer)

    def set_tokenizer(self, tokenizer) -> None:
        """Keep the tokenizer; with byte-level BPE, decoding never emits <unk> or a token whose bytes are not
        whole UTF-8 characters (a piece of a character the merges left split), so no output holds an unknown
        token or undecodable bytes."""
        self.tokenizer = tokenizer
        self.generator.never_emitted = list(NEVER_EMITTED)
        if self.config.tokenizer == "bpe":
            decoder = tokenizer.backend_tokenizer.decoder
            self.generator.never_emitted += [UNK] + [
                i for t, i in tokenizer.get_vocab().items() if i > UNK and "\ufffd" in decoder.decode([t])
            ]

    def save_extra(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(str(directory / "tokenizer"))

    def check_warm_start(self, source: TextModel, directory) -> None:
        if source.tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise ConfigError(
                f"warm start: {directory} was trained with another tokenizer ({len(source.tokenizer)} "
                f"tokens; this run has {len(self.tokenizer)})"
            )

    def load_extra(self, directory: Path) -> None:
        try:
            tokenizer = load_tokenizer(directory / "tokenizer")
        except (OSError, ValueError) as e:
            raise ModelLoadError(
                f"{directory / 'tokenizer'}: cannot load the tokenizer ({str(e).splitlines()[0]})"
            ) from None
        if len(tokenizer) != self.config.vocab_size:
            raise ModelLoadError(
                f"{directory / 'tokenizer'} has {len(tokenizer)} tokens, config.json says {self.config.vocab_size}"
            )
        self.set_tokenizer(tokenizer)

    @torch.no_grad()
    def decode_latents(
        self,
        z: torch.Tensor,
        method: Literal["greedy", "sample", "beam"] = "greedy",
        temperature: float = 1.0,
        top_p: float = 1.0,
        beam: int = 5,
        no_repeat: int = GREEDY_NO_REPEAT,
    ) -> list[str]:
        """Sentences from latents; greedy decoding never repeats a `no_repeat`-gram of tokens (0: unguarded)."""
        if method == "beam":
            ids = self.generator.beam_search(z, self.config.max_len, beam)
        elif method == "greedy":
            ids = self.generator.sample(z, self.config.max_len, 0.0, no_repeat=no_repeat)
        else:
            ids = self.generator.sample(z, self.config.max_len, temperature, top_p)
        return decode(self.tokenizer, ids.cpu())
