import pytest
import torch

from lebm.core.errors import ConfigError
from lebm.core.sequence import BOS, EOS, PAD, DecoderConfig, RNNDecoder, make_decoder
from lebm.core.transformer import TransformerDecoder


def decoder(tie: bool = False, cell: str = "lstm", latent_input: str = "prefix"):
    torch.manual_seed(0)
    dec = make_decoder(
        12, 3, DecoderConfig(cell=cell, embed=8, hidden=16, tie=tie, latent_input=latent_input), max_len=12
    ).eval()
    with torch.no_grad():
        (dec.gpt.lm_head if cell == "gpt2" else dec.out).weight.mul_(3)
    return dec


def score(dec: RNNDecoder, ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return dec.log_likelihood(ids, z)


@pytest.mark.parametrize("cell", ["lstm", "gpt2"])
def test_beam_of_one_and_tiny_top_p_are_greedy(cell):
    dec, z = decoder(cell=cell), torch.randn(6, 3)
    greedy = dec.sample(z, max_len=10, temperature=0)
    beam = dec.beam_search(z, max_len=10, beam=1)
    assert torch.equal(greedy, beam[:, : greedy.shape[1]])
    torch.manual_seed(1)
    nucleus = dec.sample(z, max_len=10, temperature=1.0, top_p=1e-6)  # keeps only the most likely token
    assert torch.equal(greedy, nucleus)


@pytest.mark.parametrize("cell", ["lstm", "gpt2"])
def test_wider_beam_never_scores_worse_and_sequences_end(cell):
    dec, z = decoder(tie=cell == "lstm", cell=cell), torch.randn(8, 3)
    narrow, wide = dec.beam_search(z, 10, beam=1), dec.beam_search(z, 10, beam=6)
    finished = (wide == EOS).any(1)
    assert (score(dec, wide, z)[finished] >= score(dec, narrow, z)[finished] - 1e-4).all()
    for row in wide[finished]:
        end = int((row == EOS).nonzero()[0])
        assert (row[end + 1 :] == PAD).all()


@pytest.mark.parametrize("latent_input", ["prefix", "add"])
def test_gpt2_decoder_reads_z_and_ignores_padding(latent_input):
    """The GPT-2 decoder: a row's log-likelihood does not depend on the padding after it nor on other rows;
    it depends on z (as a prefix or added to every position); a decoder without a latent ignores z."""
    dec = decoder(cell="gpt2", latent_input=latent_input)
    assert isinstance(dec, TransformerDecoder) and dec.prefix == (latent_input == "prefix")
    z = torch.randn(2, 3)
    x = torch.tensor([[BOS, 5, 6, 7, EOS, PAD, PAD], [BOS, 4, EOS, PAD, PAD, PAD, PAD]])
    both = dec.log_likelihood(x, z)
    alone = dec.log_likelihood(x[1:, :3], z[1:])
    assert torch.allclose(both[1:], alone, atol=1e-5)
    assert not torch.allclose(dec.log_likelihood(x, z + 1.0), both, atol=1e-3)
    lm = make_decoder(12, 3, DecoderConfig(cell="gpt2", hidden=16, use_latent=False), max_len=12).eval()
    assert torch.allclose(lm.log_likelihood(x, z), lm.log_likelihood(x, z + 1.0))
    with pytest.raises(ValueError, match="multiple of heads"):
        DecoderConfig(cell="gpt2", hidden=18, heads=4)


def test_tied_output_shares_the_embedding():
    dec = decoder(tie=True)
    assert dec.out.weight is dec.embed.weight and hasattr(dec, "proj")


def test_fast_gru_decoding_matches_the_gru_module():
    """Evaluation-mode GRU decoding runs as plain tensor ops with finished rows leaving the batch: the same
    sequences as decoding through nn.GRU (training mode with no dropout), greedy and sampled, with and without
    a latent, one and two layers; every row ends with <eos> then <pad> only."""
    for use_latent, layers in ((True, 1), (False, 1), (True, 2)):
        torch.manual_seed(0)
        dec = RNNDecoder(12, 3, DecoderConfig(cell="gru", embed=8, hidden=16, layers=layers, use_latent=use_latent))
        with torch.no_grad():
            dec.out.weight.mul_(3)
        z = torch.randn(40, 3)
        for temperature in (0.0, 1.0):
            torch.manual_seed(1)
            fast = dec.eval().sample(z, max_len=15, temperature=temperature)
            torch.manual_seed(1)
            plain = dec.train().sample(z, max_len=15, temperature=temperature)
            assert torch.equal(fast, plain), (use_latent, layers, temperature)
            for row in fast[(fast == EOS).any(1)]:
                end = int((row == EOS).nonzero()[0])
                assert (row[end + 1 :] == PAD).all() and (row[1:end] != PAD).all()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_warm_start_from_a_language_model_computes_what_it_computes(cell):
    torch.manual_seed(0)
    lm = RNNDecoder(12, 8, DecoderConfig(cell=cell, embed=6, hidden=10, use_latent=False))
    latent = RNNDecoder(12, 8, DecoderConfig(cell=cell, embed=6, hidden=10))
    x = torch.tensor([[BOS, 4, 5, 6, EOS, PAD], [BOS, 7, 3, EOS, PAD, PAD]])
    z = torch.randn(2, 8)
    assert not torch.allclose(latent.log_likelihood(x, z), lm.log_likelihood(x, z))
    latent.warm_start(lm)
    assert torch.allclose(latent.log_likelihood(x, z), lm.log_likelihood(x, z), atol=1e-6)
    assert torch.allclose(latent.log_likelihood(x, 5 * z), lm.log_likelihood(x, z), atol=1e-6)  # z reads as nothing yet
    # and it learns to read z: the zeroed weights get gradient
    latent.log_likelihood(x, z).sum().backward()
    assert latent.rnn.weight_ih_l0.grad[:, 6:].abs().sum() > 0


def test_warm_start_refuses_another_shape():
    lm = RNNDecoder(12, 8, DecoderConfig(embed=6, hidden=10, use_latent=False))
    with pytest.raises(ConfigError, match="cell or sizes"):
        RNNDecoder(12, 8, DecoderConfig(embed=6, hidden=12)).warm_start(lm)
    with pytest.raises(ConfigError, match="tokens"):
        RNNDecoder(13, 8, DecoderConfig(embed=6, hidden=10)).warm_start(lm)


def test_block_repeats_bans_the_token_that_would_repeat_an_ngram():
    from lebm.core.sequence import block_repeats

    history = torch.tensor([[1, 5, 6, 7, 5, 6], [1, 5, 6, 7, 5, 8]])
    out = block_repeats(torch.zeros(2, 10), history, 3)
    assert out[0, 7] == -torch.inf and torch.isfinite(out[0, [i for i in range(10) if i != 7]]).all()
    assert torch.isfinite(out[1]).all()  # (5, 8) was never followed by anything
    assert torch.equal(block_repeats(torch.zeros(2, 10), history, 0), torch.zeros(2, 10))


def test_greedy_decoding_with_the_guard_never_repeats_an_ngram():
    """An untrained decoder's greedy output loops; with no_repeat = 3 no row holds a trigram twice."""
    torch.manual_seed(0)
    decoder = RNNDecoder(12, 4, DecoderConfig(embed=6, hidden=10)).eval()
    z = torch.randn(16, 4)

    def repeats(rows: torch.Tensor) -> int:
        grams = [[tuple(r[i : i + 3].tolist()) for i in range(len(r) - 2) if 0 not in r[i : i + 3]] for r in rows]
        return sum(len(g) - len(set(g)) for g in grams)

    with torch.no_grad():
        assert repeats(decoder.sample(z, 30, 0.0)) > 0
        assert repeats(decoder.sample(z, 30, 0.0, no_repeat=3)) == 0
