import math

import pytest
import torch
from torch import nn

from lebm.core import ConfigError, DataError, EnergyPrior, GaussianHead, HeadConfig, PriorConfig, from_dict
from lebm.core.toy import ToyModel, toy_config


def test_gaussian_prior_is_the_reference():
    prior = EnergyPrior(PriorConfig(latent_dim=3, kind="gaussian", ref_std=0.5))
    z = torch.randn(7, 3)
    assert list(prior.parameters()) == []
    assert torch.allclose(prior.energy(z), z.pow(2).sum(1) / (2 * 0.25))
    assert torch.allclose(prior.grad_energy(z), z / 0.25)
    draws = prior.sample_reference(20000)
    assert draws.std().item() == pytest.approx(0.5, rel=0.03)


def test_ebm_energy_gradient_matches_finite_differences():
    torch.manual_seed(0)
    prior = EnergyPrior(PriorConfig(latent_dim=2, hidden=[16], activation="tanh")).double()
    z = torch.randn(4, 2, dtype=torch.float64)
    g = prior.grad_energy(z)
    eps = 1e-6
    for i in range(2):
        dz = torch.zeros_like(z)
        dz[:, i] = eps
        fd = (prior.energy(z + dz) - prior.energy(z - dz)) / (2 * eps)
        assert torch.allclose(g[:, i], fd, atol=1e-6)
    assert prior(z).shape == (4,)


def test_coupled_head_energy_logits_and_class_likelihood():
    torch.manual_seed(0)
    prior = EnergyPrior(PriorConfig(latent_dim=3, kind="coupled", num_classes=4, hidden=[8]))
    z = torch.randn(5, 3)
    logits = prior.logits(z)
    assert logits.shape == (5, 4)
    assert torch.allclose(prior.energy(z), -torch.logsumexp(logits, 1) + z.pow(2).sum(1) / 2)
    y = torch.tensor([0, 3, -1, 2, 1])
    ll = prior.class_log_likelihood(y, z)
    expected = torch.log_softmax(logits, 1)[torch.arange(5), y.clamp(min=0)]
    assert torch.allclose(ll[y >= 0], expected[y >= 0]) and ll[2] == 0
    with pytest.raises(DataError, match="class labels"):
        prior.class_log_likelihood(torch.tensor([0, 4, 0, 0, 0]), z)
    with pytest.raises(ConfigError, match="coupled"):
        EnergyPrior(PriorConfig(latent_dim=3)).logits(z)


@pytest.mark.parametrize(
    "options",
    [
        dict(latent_dim=0),
        dict(ref_std=0.0),
        dict(kind="coupled", num_classes=1),
        dict(kind="ebm", num_classes=3),
        dict(hidden=[0]),
        dict(kind="ebn"),
        dict(activation="softmax"),
        dict(widths=[3]),
    ],
)
def test_invalid_prior_options(options):
    with pytest.raises(ConfigError):
        from_dict(PriorConfig, options)
    if "widths" not in options:
        with pytest.raises(ConfigError):
            PriorConfig(**options)


def test_wrong_latent_shape_is_named():
    prior = EnergyPrior(PriorConfig(latent_dim=3))
    with pytest.raises(DataError, match=r"shape \[batch, 3\]"):
        prior.energy(torch.zeros(2, 4))


def test_conditional_sampling_hits_the_known_posterior():
    """Gaussian prior N(0, I), head y = z_0 + N(0, v): p(z_0 | y*) = N(y* / (1 + v), v / (1 + v))."""
    torch.manual_seed(0)
    model = ToyModel(toy_config("gaussian"))
    head = GaussianHead(2, HeadConfig(hidden=[], variance=0.05))
    with torch.no_grad():
        head.net[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        head.net[0].bias.zero_()
    model.heads["y"] = head
    out = model.sample_conditional(4000, {"y": 2.0}, steps=800, step_size=0.05)
    z0 = out.z[:, 0]
    assert z0.mean().item() == pytest.approx(2.0 / 1.05, abs=0.02)
    assert z0.var().item() == pytest.approx(0.05 / 1.05, rel=0.12)
    assert out.z[:, 1].var().item() == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ConfigError, match="no property head named 'qed'"):
        model.sample_conditional(3, {"qed": 0.9})


def test_head_ignores_unknown_values():
    head = GaussianHead(2, HeadConfig(hidden=[4]))
    ll = head.log_likelihood(torch.tensor([0.5, math.nan]), torch.zeros(2, 2))
    assert ll[1] == 0 and ll[0] < 0
    assert isinstance(head.net[0], nn.Linear)
