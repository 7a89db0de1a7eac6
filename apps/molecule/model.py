"""The molecule model: latent EBM prior + RNN decoder over SMILES/SELFIES tokens.

Decoder p(x | z): GRU or LSTM; z sets the initial state (a linear map) and is concatenated to
every input embedding. With `use_latent = false` the same decoder ignores z: the CharRNN baseline.
Encoder q(z | x) (only for the amortised posterior start): bidirectional GRU -> mean, log-variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from shared.config import check_choices, option
from shared.errors import ConfigError, ModelLoadError
from shared.heads import GaussianHead, HeadConfig
from shared.model import LatentEBM, LatentEBMConfig

from .tokens import Representation, Vocabulary, to_smiles


@dataclass
class DecoderConfig:
    cell: Literal["gru", "lstm"] = option("gru", "recurrent cell of the decoder")
    embed: int = option(64, "token embedding size")
    hidden: int = option(512, "recurrent state size")
    layers: int = option(1, "number of recurrent layers")
    dropout: float = option(0.0, "dropout on embeddings and between layers")
    use_latent: bool = option(True, "condition on z (false: a plain CharRNN, the baseline)")

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.embed, self.hidden, self.layers) < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("decoder sizes must be >= 1 and dropout in [0, 1)")


@dataclass
class EncoderConfig:
    embed: int = option(64, "token embedding size of the encoder")
    hidden: int = option(256, "GRU state size of the encoder (each direction)")


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


class RNNDecoder(nn.Module):
    def __init__(self, vocab_size: int, latent_dim: int, cfg: DecoderConfig):
        super().__init__()
        self.cfg, self.latent_dim = cfg, latent_dim if cfg.use_latent else 0
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=0)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.embed + self.latent_dim, cfg.hidden, cfg.layers, batch_first=True,
                       dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        states = 2 if cfg.cell == "lstm" else 1
        self.init = nn.Linear(self.latent_dim, states * cfg.layers * cfg.hidden) if self.latent_dim else None
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, vocab_size)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None:
        if self.init is None:
            return None
        h = torch.tanh(self.init(z)).view(len(z), -1, self.cfg.layers, self.cfg.hidden).permute(1, 2, 0, 3)
        return (h[0].contiguous(), h[1].contiguous()) if self.cfg.cell == "lstm" else h[0].contiguous()

    def step_inputs(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        e = self.drop(self.embed(tokens))
        if self.latent_dim:
            e = torch.cat([e, z[:, None, :].expand(-1, tokens.shape[1], -1)], dim=2)
        return e

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t, z) over the tokens after <bos>, <eos> included, per row."""
        x = x.long()
        x = x[:, : int((x != 0).sum(1).max())]
        out, _ = self.rnn(self.step_inputs(x[:, :-1], z), self.initial_state(z))
        logits = self.out(self.drop(out))
        nll = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], ignore_index=0, reduction="none")
        return -nll.sum(1)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, max_len: int = 100, temperature: float = 1.0) -> torch.Tensor:
        """Token ids [B, <= max_len + 2] from <bos>; temperature 0 decodes greedily."""
        n = len(z)
        state = self.initial_state(z)
        token = torch.ones(n, 1, dtype=torch.long, device=z.device)
        rows, done = [token], torch.zeros(n, dtype=torch.bool, device=z.device)
        for _ in range(max_len + 1):
            out, state = self.rnn(self.step_inputs(token, z), state)
            logits = self.out(out[:, -1])
            if temperature > 0:
                token = torch.multinomial(torch.softmax(logits / temperature, dim=1), 1)
            else:
                token = logits.argmax(1, keepdim=True)
            token = token.masked_fill(done[:, None], 0)
            rows.append(token)
            done |= token[:, 0] == 2
            if done.all():
                break
        return torch.cat(rows, dim=1)


class TokenEncoder(nn.Module):
    """q(z | x) = N(mean(x), diag exp(logvar(x))) from a bidirectional GRU over the tokens."""

    def __init__(self, vocab_size: int, latent_dim: int, cfg: EncoderConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=0)
        self.rnn = nn.GRU(cfg.embed, cfg.hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * cfg.hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.long()
        lengths = (x != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(x), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        mean, logvar = self.head(torch.cat([h[0], h[1]], dim=1)).chunk(2, dim=1)
        return mean, logvar.clamp(-10, 4)


class MoleculeModel(LatentEBM):
    config_class = MoleculeConfig

    def __init__(self, config: MoleculeConfig, vocab: Vocabulary | None = None):
        if vocab is not None:
            config.vocab_size = len(vocab)
        if config.vocab_size < 4:
            raise ConfigError("a molecule model needs its vocabulary (vocab_size is not set)")
        d = config.ebm.prior.latent_dim
        decoder = RNNDecoder(config.vocab_size, d, config.decoder)
        encoder = TokenEncoder(config.vocab_size, d, config.encoder) if config.ebm.posterior_init == "amortised" else None
        heads = {name: GaussianHead(d, config.head) for name in config.properties}
        super().__init__(config, config.ebm, decoder, heads=heads, encoder=encoder)
        self.vocab = vocab

    def normalise(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """Property values in head units: (y - mean) / std of the training data."""
        if name not in self.config.property_stats:
            raise ConfigError(f"no property head named {name!r} (heads: {', '.join(self.config.properties) or 'none'})")
        mean, std = self.config.property_stats[name]
        return (values - mean) / std

    def predict_properties(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's mean g(z), back in property units."""
        out = {}
        for name, head in self.heads.items():
            mean, std = self.config.property_stats[name]
            out[name] = head.predict(z) * std + mean
        return out

    def save_extra(self, directory: Path) -> None:
        self.vocab.save(directory / "vocab.json")

    def load_extra(self, directory: Path) -> None:
        vocab = Vocabulary.load(directory / "vocab.json")
        if len(vocab) != self.config.vocab_size or vocab.representation != self.config.representation:
            raise ModelLoadError(f"{directory / 'vocab.json'} does not match config.json "
                                 f"({len(vocab)} {vocab.representation} tokens, config says "
                                 f"{self.config.vocab_size} {self.config.representation})")
        self.vocab = vocab

    @torch.no_grad()
    def decode_smiles(self, z: torch.Tensor, temperature: float = 1.0) -> list[str]:
        """SMILES decoded from latents (not checked or repaired)."""
        ids = self.generator.sample(z, self.config.max_len, temperature)
        return [to_smiles(t, self.config.representation) for t in self.vocab.decode(ids.cpu())]

    def generate_smiles(self, n: int, batch_size: int = 500, temperature: float = 1.0, **chain) -> list[str]:
        """n SMILES strings decoded from prior samples (chain: overrides of the prior chain, e.g. steps)."""
        out: list[str] = []
        for start in range(0, n, batch_size):
            out += self.decode_smiles(self.sample_prior(min(batch_size, n - start), **chain).z, temperature)
        return out

    def sample_smiles_conditional(self, n: int, targets: dict[str, float], batch_size: int = 500,
                                  temperature: float = 1.0, **chain) -> tuple[list[str], torch.Tensor]:
        """n SMILES from z ~ p(z | y*) (Langevin through the core), and the latents."""
        normalised = {k: float(self.normalise(k, torch.tensor(v))) for k, v in targets.items()}
        smiles, latents = [], []
        for start in range(0, n, batch_size):
            z = self.sample_conditional(min(batch_size, n - start), normalised, **chain).z
            smiles += self.decode_smiles(z, temperature)
            latents.append(z)
        return smiles, torch.cat(latents)
