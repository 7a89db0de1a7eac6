"""Token-sequence decoder and encoder shared by the apps that model sequences (SMILES, sentences).

Token ids follow one convention: 0 = <pad>, 1 = <bos>, 2 = <eos>; a sequence is <bos> x_1 .. x_T <eos>
padded with 0.

Decoder p(x | z): GRU or LSTM; z sets the initial state (a linear map) and is concatenated to every
input embedding. Or a GPT-2 (lebm.core.transformer; transformers' classes, randomly initialised): z enters as one prefix
embedding before <bos>, or is added to every input embedding. With `use_latent = false` either decoder
ignores z (a plain language model). Decoding: greedy, sampling with a temperature and top-p, or beam search.
Encoder q(z | x): bidirectional GRU over the tokens, or a convolutional encoder (two 1-D convolutions
and a max over positions: several times cheaper than the GRU on a CPU) -> mean, log-variance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choices, option
from .distributed import widened
from .errors import ConfigError

PAD, BOS, EOS = 0, 1, 2
NEVER_EMITTED = [PAD, BOS]  # a decoder's `never_emitted` ids start as these; an app may add its own (tokens that
#                             cannot stand in a decoded output)


@dataclass
class DecoderConfig:
    cell: Literal["gru", "lstm", "gpt2"] = option("gru", "recurrent cell of the decoder, or a GPT-2 transformer")
    embed: int = option(64, "token embedding size (gpt2: the width is `hidden`)")
    hidden: int = option(512, "recurrent state size (gpt2: model width)")
    layers: int = option(1, "number of recurrent (gpt2: transformer) layers")
    heads: int = option(4, "gpt2: attention heads (hidden must be a multiple)")
    latent_input: Literal["prefix", "add"] = option(
        "prefix", "gpt2: z as one prefix embedding before <bos>, or added to every input embedding"
    )
    dropout: float = option(0.0, "dropout on embeddings, on the outputs and between layers")
    input_dropout: float = option(
        0.0, "training: share of previous tokens replaced by <pad> (word dropout, Bowman et al.)"
    )
    use_latent: bool = option(True, "condition on z (false: a plain language model, the baseline)")
    tie: bool = option(False, "tie the output layer to the embedding (through a projection if sizes differ)")

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.embed, self.hidden, self.layers) < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("decoder sizes must be >= 1 and dropout in [0, 1)")
        if not 0 <= self.input_dropout < 1:
            raise ConfigError(f"input_dropout must be in [0, 1), got {self.input_dropout}")
        if self.cell == "gpt2" and (self.heads < 1 or self.hidden % self.heads):
            raise ConfigError(f"gpt2: hidden ({self.hidden}) must be a multiple of heads ({self.heads})")


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


def make_decoder(vocab_size: int, latent_dim: int, cfg: DecoderConfig, max_len: int) -> nn.Module:
    """The decoder `cfg.cell` names, for sequences of up to max_len tokens between <bos> and <eos>."""
    if cfg.cell == "gpt2":
        from .transformer import TransformerDecoder  # transformers imports slowly; only this decoder needs it

        return TransformerDecoder(vocab_size, latent_dim, cfg, max_len)
    return RNNDecoder(vocab_size, latent_dim, cfg)


def summed_log_likelihood(
    out: torch.Tensor, target: torch.Tensor, logits: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """sum_t log p(target_t) per row (fp32) from decoder outputs [B, T, H]; the vocabulary projection `logits`
    runs only where a token is predicted (not on padding)."""
    keep = target != PAD
    nll = F.cross_entropy(widened(logits(out[keep])), target[keep], reduction="none")  # fp32 under autocast too
    return -nll.new_zeros(len(target)).index_add(0, keep.nonzero()[:, 0], nll)


def drop_inputs(tokens: torch.Tensor, rate: float) -> torch.Tensor:
    """Word dropout (Bowman et al.): a share `rate` of the input tokens read as <pad>; <bos> stays."""
    if not rate:
        return tokens
    drop = torch.rand(tokens.shape, device=tokens.device) < rate
    return tokens.masked_fill(drop & (tokens != BOS), PAD)


def block_repeats(logits: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """Logits [B, V] with -inf on every token that would complete an n-gram already in that row's history
    [B, t] (a guard against greedy loops; n < 2: unchanged)."""
    if n < 2 or history.shape[1] < n:
        return logits
    windows = history.unfold(1, n, 1)  # [B, W, n]
    seen = (windows[:, :, :-1] == history[:, None, -(n - 1) :]).all(2)
    rows, at = seen.nonzero(as_tuple=True)
    return logits.index_put((rows, windows[rows, at, -1]), logits.new_tensor(-torch.inf))


def pick_tokens(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Next tokens [B, 1]: greedy at temperature 0, else sampled; top_p < 1 samples from the smallest set of
    tokens holding that much probability (nucleus sampling)."""
    if temperature <= 0:
        return logits.argmax(1, keepdim=True)
    probs = torch.softmax(logits / temperature, dim=1)
    if top_p < 1:
        sorted_p, order = probs.sort(dim=1, descending=True)
        drop = sorted_p.cumsum(1) - sorted_p >= top_p  # keep tokens until top_p is reached
        probs = probs.scatter(1, order, sorted_p.masked_fill(drop, 0.0))
    return torch.multinomial(probs, 1)


def beam_decode(
    z: torch.Tensor, max_len: int, beam: int, start: Callable[[torch.Tensor], Any], advance: Callable[..., Any]
) -> torch.Tensor:
    """The highest-scoring sequence per latent among `beam` hypotheses (sum of log-probabilities).
    start(zb) -> decoder state; advance(seqs [n k, t], state, zb) -> (next-token logits, new state); the state
    (None, a tensor or a tuple of tensors [layers, n k, H]) follows its hypotheses."""
    n, k = len(z), beam
    zb = z.repeat_interleave(k, 0)
    state = start(zb)
    seqs = torch.full((n * k, 1), BOS, dtype=torch.long, device=z.device)
    score = torch.full((n, k), -float("inf"), device=z.device)
    score[:, 0] = 0.0  # one live hypothesis per latent at the start
    done = torch.zeros(n * k, dtype=torch.bool, device=z.device)
    for _ in range(max_len + 1):
        logits, state = advance(seqs, state, zb)
        logp = torch.log_softmax(logits, dim=1)
        logp = torch.where(done[:, None], torch.full_like(logp, -float("inf")), logp)
        logp[:, PAD] = torch.where(done, 0.0, -float("inf"))  # finished hypotheses extend only with <pad>, free
        vocab = logp.shape[1]
        score, flat = (score.view(-1, 1) + logp).view(n, k * vocab).topk(k, dim=1)
        parent = (flat // vocab + torch.arange(n, device=z.device)[:, None] * k).view(-1)
        token = (flat % vocab).view(-1, 1)
        seqs = torch.cat([seqs[parent], token], dim=1)
        state = (
            state
            if state is None
            else tuple(s[:, parent] for s in state)
            if isinstance(state, tuple)
            else state[:, parent]
        )
        done = done[parent] | (token[:, 0] == EOS) | (token[:, 0] == PAD)
        if done.all():
            break
    return seqs[score.argmax(1) + torch.arange(n, device=z.device) * k]


class RNNDecoder(nn.Module):
    def __init__(self, vocab_size: int, latent_dim: int, cfg: DecoderConfig):
        super().__init__()
        self.cfg, self.latent_dim = cfg, latent_dim if cfg.use_latent else 0
        self.never_emitted = list(NEVER_EMITTED)
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=PAD)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            cfg.embed + self.latent_dim,
            cfg.hidden,
            cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        states = 2 if cfg.cell == "lstm" else 1
        self.init = nn.Linear(self.latent_dim, states * cfg.layers * cfg.hidden) if self.latent_dim else None
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tie and cfg.hidden != cfg.embed:
            self.proj = nn.Linear(cfg.hidden, cfg.embed, bias=False)
        self.out = nn.Linear(cfg.embed if cfg.tie else cfg.hidden, vocab_size)
        if cfg.tie:
            self.out.weight = self.embed.weight

    @torch.no_grad()
    def warm_start(self, source: nn.Module) -> None:
        """Copy a trained decoder of the same cell, sizes and vocabulary. Where this one also reads z and the
        source does not (a language model), z's columns of the first layer's input weights and the map z ->
        initial state start at zero: the decoder computes exactly what the source does until training moves them."""
        own, theirs = self.state_dict(), source.state_dict()
        if not isinstance(source, RNNDecoder) or (
            source.cfg.cell,
            source.cfg.embed,
            source.cfg.hidden,
            source.cfg.layers,
        ) != (self.cfg.cell, self.cfg.embed, self.cfg.hidden, self.cfg.layers):
            raise ConfigError(
                "warm start: the source decoder differs in cell or sizes (cell, embed, hidden, layers must match)"
            )
        if theirs["embed.weight"].shape != own["embed.weight"].shape:
            raise ConfigError(
                f"warm start: the source has {len(theirs['embed.weight'])} tokens, this model "
                f"{len(own['embed.weight'])}"
            )
        for name, value in own.items():
            if name not in theirs:  # z -> initial state: zero, as a language model starts from a zero state
                value.zero_()
            elif theirs[name].shape == value.shape:
                value.copy_(theirs[name])
            else:  # the first layer's input weights: [token embedding; z] columns
                value.zero_()
                value[:, : theirs[name].shape[1]] = theirs[name]

    def initial_state(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None:
        if self.init is None:
            return None
        h = torch.tanh(self.init(z)).view(len(z), -1, self.cfg.layers, self.cfg.hidden).permute(1, 2, 0, 3)
        return (h[0].contiguous(), h[1].contiguous()) if self.cfg.cell == "lstm" else h[0].contiguous()

    def step_inputs(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        tokens = drop_inputs(tokens, self.cfg.input_dropout if self.training else 0.0)  # <pad>: zero embedding
        e = self.drop(self.embed(tokens))
        if self.latent_dim:
            e = torch.cat([e, z[:, None, :].expand(-1, tokens.shape[1], -1)], dim=2)
        return e

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        out = self.drop(out)
        return self.out(self.proj(out) if hasattr(self, "proj") else out)

    def next_logits(self, out: torch.Tensor) -> torch.Tensor:
        """Logits of the next token for decoding: <pad>, <bos> and the other never_emitted ids are never produced."""
        logits = self.logits(out[:, -1])
        logits[:, self.never_emitted] = -float("inf")
        return logits

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t, z) over the tokens after <bos>, <eos> included, per row."""
        x = x.long()
        x = x[:, : int((x != PAD).sum(1).max())]
        out, _ = self.rnn(self.step_inputs(x[:, :-1], z), self.initial_state(z))
        return summed_log_likelihood(out, x[:, 1:], self.logits)

    def _gru_step(self, z: torch.Tensor) -> tuple[Callable[..., torch.Tensor], torch.Tensor]:
        """One GRU decoding step as plain tensor ops, the same numbers as nn.GRU: the first layer's input
        projection W_ih [embed(x); z] + b_ih is a row of a [vocab, 3H] table (embedding through the token
        part of W_ih) plus the latent's share, both computed once per batch instead of at every step.
        Returns the step and the latent shares [B, 3H] (zeros [B, 1] without a latent)."""
        weights = [
            (
                getattr(self.rnn, f"weight_ih_l{k}"),
                getattr(self.rnn, f"bias_ih_l{k}"),
                getattr(self.rnn, f"weight_hh_l{k}"),
                getattr(self.rnn, f"bias_hh_l{k}"),
            )
            for k in range(self.cfg.layers)
        ]
        w_ih0, b_ih0 = weights[0][:2]
        table = self.embed.weight @ w_ih0[:, : self.cfg.embed].T + b_ih0
        latent = z @ w_ih0[:, self.cfg.embed :].T if self.latent_dim else z.new_zeros(len(z), 1)

        def step(tokens: torch.Tensor, state: torch.Tensor | None, shares: torch.Tensor) -> torch.Tensor:
            if state is None:
                state = z.new_zeros(self.cfg.layers, len(tokens), self.cfg.hidden)
            layers, x = [], table  # x: the previous layer's output (read from the second layer on)
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
    def sample(
        self, z: torch.Tensor, max_len: int = 100, temperature: float = 1.0, top_p: float = 1.0, no_repeat: int = 0
    ) -> torch.Tensor:
        """Token ids [B, <= max_len + 2] from <bos>; temperature 0 decodes greedily; top_p < 1 samples from
        the smallest set of tokens holding that much probability (nucleus sampling); no_repeat n >= 2 never
        repeats an n-gram of tokens within a row (block_repeats)."""
        n = len(z)
        fast = self.cfg.cell == "gru" and not self.training
        step, rowwise = self._gru_step(z) if fast else (None, z)  # per-row inputs (latent shares, or z) of live rows
        state: Any = self.initial_state(z)
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
            if no_repeat:  # the rows' history is gathered only when the guard is on (hot path)
                logits = block_repeats(logits, out[live, :t], no_repeat)
            token = pick_tokens(logits, temperature, top_p)
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

        def advance(seqs: torch.Tensor, state: Any, zb: torch.Tensor) -> tuple[torch.Tensor, Any]:
            out, state = self.rnn(self.step_inputs(seqs[:, -1:], zb), state)
            return self.next_logits(out), state

        return beam_decode(z, max_len, beam, self.initial_state, advance)


class TokenEncoder(nn.Module):
    """q(z | x) = N(mean(x), diag exp(logvar(x))) from a bidirectional GRU over the tokens, or from two 1-D
    convolutions (ReLU) whose outputs are maxed over the real (non-pad) positions."""

    def __init__(self, vocab_size: int, latent_dim: int, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=PAD)
        if cfg.kind == "cnn":
            pad = cfg.kernel // 2
            self.conv = nn.Sequential(
                nn.Conv1d(cfg.embed, cfg.hidden, cfg.kernel, padding=pad),
                nn.ReLU(),
                nn.Conv1d(cfg.hidden, cfg.hidden, cfg.kernel, padding=pad),
                nn.ReLU(),
            )
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
