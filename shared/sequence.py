"""Token-sequence decoder and encoder shared by the apps that model sequences (SMILES, sentences).

Token ids follow one convention: 0 = <pad>, 1 = <bos>, 2 = <eos>; a sequence is <bos> x_1 .. x_T <eos>
padded with 0.

Decoder p(x | z): GRU or LSTM; z sets the initial state (a linear map) and is concatenated to every
input embedding. With `use_latent = false` the same decoder ignores z (a plain language model).
Decoding: greedy, sampling with a temperature and top-p, or beam search.
Encoder q(z | x): bidirectional GRU over the tokens, or a convolutional encoder (two 1-D convolutions
and a max over positions: several times cheaper than the GRU on a CPU) -> mean, log-variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choices, option
from .errors import ConfigError

PAD, BOS, EOS = 0, 1, 2


@dataclass
class DecoderConfig:
    cell: Literal["gru", "lstm"] = option("gru", "recurrent cell of the decoder")
    embed: int = option(64, "token embedding size")
    hidden: int = option(512, "recurrent state size")
    layers: int = option(1, "number of recurrent layers")
    dropout: float = option(0.0, "dropout on embeddings, on the outputs and between layers")
    input_dropout: float = option(0.0, "training only: share of previous-token inputs replaced by <pad> (word "
                                       "dropout, Bowman et al.), so the decoder must lean on z")
    use_latent: bool = option(True, "condition on z (false: a plain language model, the baseline)")
    tie: bool = option(False, "tie the output layer to the embedding (through a projection if sizes differ)")

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.embed, self.hidden, self.layers) < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("decoder sizes must be >= 1 and dropout in [0, 1)")
        if not 0 <= self.input_dropout < 1:
            raise ConfigError(f"input_dropout must be in [0, 1), got {self.input_dropout}")


@dataclass
class EncoderConfig:
    kind: Literal["gru", "cnn"] = option("gru", "bidirectional GRU, or 1-D convolutions with a max over positions")
    embed: int = option(64, "token embedding size of the encoder")
    hidden: int = option(256, "GRU state size of the encoder (each direction), or channels of the convolutions")
    kernel: int = option(5, "cnn: convolution width in tokens")

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.embed, self.hidden, self.kernel) < 1:
            raise ConfigError("encoder sizes must be >= 1")


class RNNDecoder(nn.Module):
    def __init__(self, vocab_size: int, latent_dim: int, cfg: DecoderConfig):
        super().__init__()
        self.cfg, self.latent_dim = cfg, latent_dim if cfg.use_latent else 0
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=PAD)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.embed + self.latent_dim, cfg.hidden, cfg.layers, batch_first=True,
                       dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        states = 2 if cfg.cell == "lstm" else 1
        self.init = nn.Linear(self.latent_dim, states * cfg.layers * cfg.hidden) if self.latent_dim else None
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tie and cfg.hidden != cfg.embed:
            self.proj = nn.Linear(cfg.hidden, cfg.embed, bias=False)
        self.out = nn.Linear(cfg.embed if cfg.tie else cfg.hidden, vocab_size)
        if cfg.tie:
            self.out.weight = self.embed.weight

    def initial_state(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None:
        if self.init is None:
            return None
        h = torch.tanh(self.init(z)).view(len(z), -1, self.cfg.layers, self.cfg.hidden).permute(1, 2, 0, 3)
        return (h[0].contiguous(), h[1].contiguous()) if self.cfg.cell == "lstm" else h[0].contiguous()

    def step_inputs(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.training and self.cfg.input_dropout:  # <bos> stays; dropped tokens read as <pad> (zero embedding)
            drop = torch.rand(tokens.shape, device=tokens.device) < self.cfg.input_dropout
            tokens = tokens.masked_fill(drop & (tokens != BOS), PAD)
        e = self.drop(self.embed(tokens))
        if self.latent_dim:
            e = torch.cat([e, z[:, None, :].expand(-1, tokens.shape[1], -1)], dim=2)
        return e

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        out = self.drop(out)
        return self.out(self.proj(out) if hasattr(self, "proj") else out)

    def next_logits(self, out: torch.Tensor) -> torch.Tensor:
        """Logits of the next token for decoding: <pad> and <bos> are never produced."""
        logits = self.logits(out[:, -1])
        logits[:, [PAD, BOS]] = -float("inf")
        return logits

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t, z) over the tokens after <bos>, <eos> included, per row."""
        x = x.long()
        x = x[:, : int((x != PAD).sum(1).max())]
        out, _ = self.rnn(self.step_inputs(x[:, :-1], z), self.initial_state(z))
        nll = F.cross_entropy(self.logits(out).transpose(1, 2), x[:, 1:], ignore_index=PAD, reduction="none")
        return -nll.sum(1)

    def _gru_step(self, z: torch.Tensor):
        """One GRU decoding step as plain tensor ops, the same numbers as nn.GRU: the first layer's input
        projection W_ih [embed(x); z] + b_ih is a row of a [vocab, 3H] table (embedding through the token
        part of W_ih) plus the latent's share, both computed once per batch instead of at every step.
        Returns the step and the latent shares [B, 3H] (zeros [B, 1] without a latent)."""
        weights = [(getattr(self.rnn, f"weight_ih_l{k}"), getattr(self.rnn, f"bias_ih_l{k}"),
                    getattr(self.rnn, f"weight_hh_l{k}"), getattr(self.rnn, f"bias_hh_l{k}"))
                   for k in range(self.cfg.layers)]
        w_ih0, b_ih0 = weights[0][:2]
        table = self.embed.weight @ w_ih0[:, : self.cfg.embed].T + b_ih0
        latent = z @ w_ih0[:, self.cfg.embed:].T if self.latent_dim else z.new_zeros(len(z), 1)

        def step(tokens: torch.Tensor, state: torch.Tensor | None, shares: torch.Tensor) -> torch.Tensor:
            if state is None:
                state = z.new_zeros(self.cfg.layers, len(tokens), self.cfg.hidden)
            layers, x = [], None
            for k, (w_ih, b_ih, w_hh, b_hh) in enumerate(weights):
                gi = table[tokens] + shares if k == 0 else torch.addmm(b_ih, x, w_ih.T)
                gh = torch.addmm(b_hh, state[k], w_hh.T)
                i_r, i_z, i_n = gi.chunk(3, 1)
                h_r, h_z, h_n = gh.chunk(3, 1)
                reset, update = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
                new = torch.tanh(i_n + reset * h_n)
                x = new + update * (state[k] - new)  # = (1 - update) * new + update * h
                layers.append(x)
            return torch.stack(layers)

        return step, latent

    @torch.no_grad()
    def sample(self, z: torch.Tensor, max_len: int = 100, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
        """Token ids [B, <= max_len + 2] from <bos>; temperature 0 decodes greedily; top_p < 1 samples from
        the smallest set of tokens holding that much probability (nucleus sampling)."""
        n = len(z)
        fast = self.cfg.cell == "gru" and not self.training
        step, rowwise = self._gru_step(z) if fast else (None, z)  # per-row inputs (latent shares, or z) of live rows
        state = self.initial_state(z)
        out = torch.full((n, max_len + 2), PAD, dtype=torch.long, device=z.device)
        out[:, 0] = BOS
        live = torch.arange(n, device=z.device)  # rows still decoding: finished ones leave the batch
        token = out[:, :1]
        for t in range(1, max_len + 2):
            if step is None:
                h, state = self.rnn(self.step_inputs(token, rowwise), state)
                logits = self.next_logits(h)
            else:
                state = step(token[:, 0], state, rowwise)
                logits = self.next_logits(state[-1][:, None])
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=1)
                if top_p < 1:
                    sorted_p, order = probs.sort(dim=1, descending=True)
                    drop = sorted_p.cumsum(1) - sorted_p >= top_p  # keep tokens until top_p is reached
                    probs = probs.scatter(1, order, sorted_p.masked_fill(drop, 0.0))
                token = torch.multinomial(probs, 1)
            else:
                token = logits.argmax(1, keepdim=True)
            out[live, t] = token[:, 0]
            going = token[:, 0] != EOS
            if not going.all():
                live, token, rowwise = live[going], token[going], rowwise[going]
                state = tuple(s[:, going] for s in state) if isinstance(state, tuple) else state[:, going]
                if not len(live):
                    break
        return out[:, : t + 1]

    @torch.no_grad()
    def beam_search(self, z: torch.Tensor, max_len: int = 100, beam: int = 5) -> torch.Tensor:
        """The highest-scoring sequence per latent among `beam` hypotheses (sum of log-probabilities)."""
        n, k = len(z), beam
        zb = z.repeat_interleave(k, 0)
        state = self.initial_state(zb)
        seqs = torch.full((n * k, 1), BOS, dtype=torch.long, device=z.device)
        score = torch.full((n, k), -float("inf"), device=z.device)
        score[:, 0] = 0.0  # one live hypothesis per latent at the start
        done = torch.zeros(n * k, dtype=torch.bool, device=z.device)
        for _ in range(max_len + 1):
            out, new_state = self.rnn(self.step_inputs(seqs[:, -1:], zb), state)
            logp = torch.log_softmax(self.next_logits(out), dim=1)
            # finished hypotheses extend only with <pad> at no cost
            logp = torch.where(done[:, None], torch.full_like(logp, -float("inf")), logp)
            logp[:, PAD] = torch.where(done, 0.0, -float("inf"))
            vocab = logp.shape[1]
            total = (score.view(-1, 1) + logp).view(n, k * vocab)
            score, flat = total.topk(k, dim=1)
            parent = (flat // vocab + torch.arange(n, device=z.device)[:, None] * k).view(-1)
            token = (flat % vocab).view(-1, 1)
            seqs = torch.cat([seqs[parent], token], dim=1)
            state = tuple(s[:, parent] for s in new_state) if isinstance(new_state, tuple) else new_state[:, parent]
            done = done[parent] | (token[:, 0] == EOS) | (token[:, 0] == PAD)
            if done.all():
                break
        best = score.argmax(1) + torch.arange(n, device=z.device) * k
        return seqs[best]


class TokenEncoder(nn.Module):
    """q(z | x) = N(mean(x), diag exp(logvar(x))) from a bidirectional GRU over the tokens, or from two 1-D
    convolutions (ReLU) whose outputs are maxed over the real (non-pad) positions."""

    def __init__(self, vocab_size: int, latent_dim: int, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=PAD)
        if cfg.kind == "cnn":
            pad = cfg.kernel // 2
            self.conv = nn.Sequential(nn.Conv1d(cfg.embed, cfg.hidden, cfg.kernel, padding=pad), nn.ReLU(),
                                      nn.Conv1d(cfg.hidden, cfg.hidden, cfg.kernel, padding=pad), nn.ReLU())
            self.head = nn.Linear(cfg.hidden, 2 * latent_dim)
        else:
            self.rnn = nn.GRU(cfg.embed, cfg.hidden, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * cfg.hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.long()
        x = x[:, : max(int((x != PAD).sum(1).max()), 1)]
        if self.cfg.kind == "cnn":
            h = self.conv(self.embed(x).transpose(1, 2))[:, :, : x.shape[1]]  # [B, C, T]
            features = h.masked_fill((x == PAD)[:, None, :], 0.0).amax(2)  # ReLU outputs are >= 0
        else:
            lengths = (x != PAD).sum(1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(self.embed(x), lengths, batch_first=True, enforce_sorted=False)
            _, h = self.rnn(packed)
            features = torch.cat([h[0], h[1]], dim=1)
        mean, logvar = self.head(features).chunk(2, dim=1)
        return mean, logvar.clamp(-10, 4)
