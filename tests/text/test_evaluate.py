import math

import pytest
import torch

from lebm.core.diagnostics import active_units, log_normaliser, mutual_information, posterior_fit
from lebm.core.model import ChainConfig, LatentEBMConfig
from lebm.core.prior import PriorConfig
from lebm.core.sequence import DecoderConfig
from lebm.text.evaluate import evaluate, importance_nll, spread
from lebm.text.model import TextConfig, TextModel


def tiny_model(kind: str, latent: bool = True) -> TextModel:
    torch.manual_seed(0)
    ebm = LatentEBMConfig(
        prior=PriorConfig(latent_dim=1, kind=kind, hidden=[8]),
        posterior_chain=ChainConfig(steps=30, step_size=0.3, noise=1.0),
    )
    cfg = TextConfig(
        ebm=ebm, decoder=DecoderConfig(cell="lstm", embed=4, hidden=8, use_latent=latent), vocab_size=6, max_len=3
    )
    model = TextModel(cfg).eval()
    with torch.no_grad():  # make p(x | z) depend strongly on z, and the EBM prior far from flat
        if latent:
            model.generator.init.weight.mul_(6)
        model.generator.rnn.weight_ih_l0.mul_(3)
        model.generator.out.weight.mul_(4)
        for p in model.prior.parameters():
            p.mul_(2)
    return model


def exact_log_px(model: TextModel, x: torch.Tensor) -> torch.Tensor:
    """log p(x) by quadrature over the 1-D latent (trapezoid on [-9, 9])."""
    grid = torch.linspace(-9, 9, 6001)[:, None]
    log_ref = -0.5 * grid[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)
    f = model.prior(grid) if model.prior.config.kind == "ebm" else torch.zeros(len(grid))
    dz = float(grid[1] - grid[0])
    log_z = torch.logsumexp(f + log_ref, 0) + math.log(dz)
    with torch.no_grad():
        ll = torch.stack([model.generator.log_likelihood(row.repeat(len(grid), 1), grid) for row in x])
    return torch.logsumexp(ll + f + log_ref, 1) + math.log(dz) - log_z


@pytest.mark.parametrize("kind", ["gaussian", "ebm"])
def test_importance_sampled_nll_matches_exact_integration(kind):
    model = tiny_model(kind)
    x = torch.tensor([[1, 4, 5, 2, 0], [1, 3, 2, 0, 0], [1, 5, 5, 5, 2]])
    exact = -exact_log_px(model, x)
    torch.manual_seed(1)
    mean, logvar, _ = posterior_fit(model, x, chains=16)
    estimate = importance_nll(model, x, mean, logvar, samples=3000, log_z=log_normaliser(model, 200_000))
    assert torch.allclose(estimate, exact, atol=0.03), (estimate, exact)
    # the latent must matter in this check: p(x) differs clearly from p(x | z = 0)
    with torch.no_grad():
        at_zero = -model.generator.log_likelihood(x, torch.zeros(3, 1))
    assert (at_zero - exact).abs().max() > 0.3


def test_language_model_nll_is_exact_and_ppl_counts_eos():
    model = tiny_model("gaussian", latent=False)
    x = torch.tensor([[1, 4, 5, 2, 0], [1, 3, 2, 0, 0]])
    out = evaluate(model, x)
    with torch.no_grad():
        nll = -model.generator.log_likelihood(x, torch.zeros(2, 1))
    assert out["tokens"] == 5 and out["nll"] == pytest.approx(float(nll.mean()), rel=1e-5)
    assert out["ppl"] == pytest.approx(math.exp(float(nll.sum()) / 5), rel=1e-5)
    assert "kl" not in out


def test_mutual_information_on_known_posteriors():
    torch.manual_seed(0)
    n = 400
    apart = torch.tensor([[-8.0], [8.0]]).repeat(n // 2, 1)  # two far-apart tight posteriors: MI = log 2
    tight = torch.full_like(apart, math.log(0.1**2))
    assert mutual_information(apart, tight, draws=4) == pytest.approx(math.log(2), abs=0.02)
    same = torch.zeros(n, 3)  # every x has the same posterior: MI = 0
    assert mutual_information(same, torch.zeros(n, 3), draws=4) == pytest.approx(0.0, abs=1e-5)
    # Gaussian channel: z = m + noise, m ~ N(0, 1) per dim, noise var v: MI = d/2 log(1 + 1/v) (large n)
    means, v = torch.randn(2000, 2), 0.25
    mi = mutual_information(means, torch.full_like(means, math.log(v)), draws=2)
    assert mi == pytest.approx(math.log(1 + 1 / v), abs=0.15)


def test_active_units_counts_dimensions_with_varying_means():
    torch.manual_seed(0)
    means = torch.cat([torch.randn(500, 3), 0.05 * torch.randn(500, 2)], dim=1)  # var 1 vs 0.0025
    assert active_units(means) == 3
    assert active_units(means, threshold=0.001) == 5


def test_more_importance_samples_never_worsen_the_bound_on_average():
    """E[-log mean_s w_s] cannot rise with the number of samples S (Burda et al. 2016), and it stays above
    the exact NLL: averaged over sentences and repeats, S = 1, 8, 64 give non-increasing NLLs, all >= exact."""
    model = tiny_model("ebm")
    torch.manual_seed(0)
    x = torch.cat([torch.ones(60, 1, dtype=torch.long), torch.randint(3, 6, (60, 2)), torch.full((60, 1), 2)], 1)
    mean, logvar, _ = posterior_fit(model, x, chains=16)
    log_z = log_normaliser(model, 200_000)
    exact = float(-exact_log_px(model, x).mean().detach())
    torch.manual_seed(1)
    averages = [
        float(torch.stack([importance_nll(model, x, mean, logvar, s, log_z) for _ in range(30)]).mean())
        for s in (1, 8, 64)
    ]
    assert averages[0] > averages[1] > averages[2] >= exact - 0.01, (averages, exact)
    assert averages[0] - averages[2] > 0.02  # the sample count matters in this check


def test_evaluate_reports_standard_errors_and_its_proposal():
    model = tiny_model("gaussian")
    x = torch.tensor([[1, 4, 5, 2, 0], [1, 3, 2, 0, 0], [1, 5, 5, 5, 2], [1, 3, 3, 2, 0]])
    out = evaluate(model, x, samples=10, chains=4, batch_size=2)
    assert out["nll_se"] > 0 and out["ppl_se"] > 0 and "N(m" in out["proposal"] and out["is_samples"] == 10
    # known values: NLL 1, 2, 3 over one token each -> SE 1 / sqrt(3), PPL e^2 with SE e^2 / sqrt(3)
    known = spread(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert known["nll"] == 2.0 and abs(known["nll_se"] - 3**-0.5) < 1e-9
    assert abs(known["ppl"] - math.exp(2)) < 1e-9 and abs(known["ppl_se"] - math.exp(2) / 3**0.5) < 1e-9


def test_words_are_counted_alike_whatever_the_tokenizer():
    """ppl_word's denominator: a sentence decoded by the word-level tokenizer (lower-cased, punctuation split) and by
    byte-level BPE (the text as written) has the word count of the original, so models with either tokenizer compare."""
    from lebm.text.data import decode, encode, train_tokenizer
    from lebm.text.evaluate import word_count

    texts = [
        "The bank raised interest rates, again, this year.",
        "Profits rose 5% to $3.2bn - a record!",
        '"It\'s over," he said.',
    ]
    for kind in ("word", "bpe"):
        tok = train_tokenizer(texts * 3, kind, vocab_size=400 if kind == "bpe" else 100)
        back = decode(tok, encode(tok, texts, 60).ids)
        assert [word_count(t) for t in back] == [word_count(t) for t in texts], (kind, back)
    assert word_count("the <unk> rose .") == 4
