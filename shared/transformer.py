"""The GPT-2 decoder p(x | z) of the sequence models (lebm.core.sequence): transformers' GPT2LMHeadModel, randomly
initialised; z enters as one prefix embedding before <bos>, or is added to every input embedding."""

from __future__ import annotations

import torch
from torch import nn

from .sequence import (
    BOS,
    EOS,
    NEVER_EMITTED,
    PAD,
    DecoderConfig,
    beam_decode,
    block_repeats,
    drop_inputs,
    pick_tokens,
    summed_log_likelihood,
)


class TransformerDecoder(nn.Module):
    """p(x | z) as a GPT-2 (transformers' GPT2LMHeadModel, random initialisation, untied output layer): z
    enters through a linear map as one prefix embedding before <bos>, or added to every input embedding.
    Decoding re-reads the whole prefix at each step (sentences are short; no cache to keep in step)."""

    def __init__(self, vocab_size: int, latent_dim: int, cfg: DecoderConfig, max_len: int):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel  # imported here: slow, and only this decoder needs it

        self.cfg, self.latent_dim = cfg, latent_dim if cfg.use_latent else 0
        self.never_emitted = list(NEVER_EMITTED)
        self.prefix = int(bool(self.latent_dim) and cfg.latent_input == "prefix")
        config = GPT2Config(
            vocab_size=vocab_size,
            n_positions=max_len + 2 + self.prefix,
            n_embd=cfg.hidden,
            n_layer=cfg.layers,
            n_head=cfg.heads,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            bos_token_id=BOS,
            eos_token_id=EOS,
            pad_token_id=PAD,
            tie_word_embeddings=False,
        )
        self.gpt = GPT2LMHeadModel(config)
        self.latent_in: nn.Module | None = nn.Linear(self.latent_dim, cfg.hidden) if self.latent_dim else None

    def hidden_states(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Last-layer states [B, T, H] at the positions of `tokens` (right padding needs no mask: attention
        is causal, so no real position sees the padding after it)."""
        tokens = drop_inputs(tokens, self.cfg.input_dropout if self.training else 0.0)
        e = self.gpt.transformer.wte(tokens)
        if self.latent_in is not None:  # a latent model
            shift = self.latent_in(z)[:, None]
            e = torch.cat([shift, e], 1) if self.prefix else e + shift
        return self.gpt.transformer(inputs_embeds=e).last_hidden_state[:, self.prefix :]

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t, z) over the tokens after <bos>, <eos> included, per row."""
        x = x.long()
        x = x[:, : int((x != PAD).sum(1).max())]
        return summed_log_likelihood(self.hidden_states(x[:, :-1], z), x[:, 1:], self.gpt.lm_head)

    def next_logp(self, seqs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Next-token logits after each row of seqs; <pad>, <bos> and the other never_emitted ids are never produced."""
        logits = self.gpt.lm_head(self.hidden_states(seqs, z)[:, -1])
        logits[:, self.never_emitted] = -float("inf")
        return logits

    @torch.no_grad()
    def sample(
        self, z: torch.Tensor, max_len: int = 100, temperature: float = 1.0, top_p: float = 1.0, no_repeat: int = 0
    ) -> torch.Tensor:
        """Token ids [B, <= max_len + 2] from <bos> (as RNNDecoder.sample)."""
        out = torch.full((len(z), max_len + 2), PAD, dtype=torch.long, device=z.device)
        out[:, 0] = BOS
        done = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        for t in range(1, max_len + 2):
            token = pick_tokens(
                block_repeats(self.next_logp(out[:, :t], z), out[:, :t], no_repeat), temperature, top_p
            )[:, 0]
            out[:, t] = token.masked_fill(done, PAD)
            done |= token == EOS
            if done.all():
                break
        return out[:, : t + 1]

    @torch.no_grad()
    def beam_search(self, z: torch.Tensor, max_len: int = 100, beam: int = 5) -> torch.Tensor:
        """The highest-scoring sequence per latent among `beam` hypotheses (sum of log-probabilities)."""
        return beam_decode(z, max_len, beam, lambda zb: None, lambda seqs, state, zb: (self.next_logp(seqs, zb), None))
