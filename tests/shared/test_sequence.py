import torch

from lebm.core.sequence import EOS, PAD, DecoderConfig, RNNDecoder


def decoder(tie: bool = False) -> RNNDecoder:
    torch.manual_seed(0)
    dec = RNNDecoder(12, 3, DecoderConfig(cell="lstm", embed=8, hidden=16, tie=tie)).eval()
    with torch.no_grad():
        dec.out.weight.mul_(3)
    return dec


def score(dec: RNNDecoder, ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return dec.log_likelihood(ids, z)


def test_beam_of_one_and_tiny_top_p_are_greedy():
    dec, z = decoder(), torch.randn(6, 3)
    greedy = dec.sample(z, max_len=10, temperature=0)
    beam = dec.beam_search(z, max_len=10, beam=1)
    assert torch.equal(greedy, beam[:, : greedy.shape[1]])
    torch.manual_seed(1)
    nucleus = dec.sample(z, max_len=10, temperature=1.0, top_p=1e-6)  # keeps only the most likely token
    assert torch.equal(greedy, nucleus)


def test_wider_beam_never_scores_worse_and_sequences_end():
    dec, z = decoder(tie=True), torch.randn(8, 3)
    narrow, wide = dec.beam_search(z, 10, beam=1), dec.beam_search(z, 10, beam=6)
    finished = (wide == EOS).any(1)
    assert (score(dec, wide, z)[finished] >= score(dec, narrow, z)[finished] - 1e-4).all()
    for row in wide[finished]:
        end = int((row == EOS).nonzero()[0])
        assert (row[end + 1:] == PAD).all()


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
                assert (row[end + 1:] == PAD).all() and (row[1:end] != PAD).all()
