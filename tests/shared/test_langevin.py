import math

import pytest
import torch
from torch import nn

from lebm.core import ConfigError, DataError, LangevinError, langevin


def gaussian_target(m, c):
    prec = torch.linalg.inv(c)
    return lambda z: -0.5 * torch.einsum("bi,ij,bj->b", z - m, prec, z - m)


def test_long_chains_match_a_2d_gaussian():
    torch.manual_seed(0)
    m = torch.tensor([1.0, -2.0])
    c = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    out = langevin(torch.randn(4000, 2), gaussian_target(m, c), steps=2000, step_size=0.1)
    z = out.z
    assert torch.allclose(z.mean(0), m, atol=0.06), z.mean(0)
    assert torch.allclose(torch.cov(z.T), c, atol=0.08), torch.cov(z.T)
    assert -gaussian_target(m, c)(z).mean() < out.energy_start


def test_the_gradient_at_the_chain_start_is_returned():
    m, c = torch.tensor([1.0, -2.0]), torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    z0 = torch.randn(5, 2)
    out = langevin(z0, gaussian_target(m, c), steps=2, step_size=0.1, clip_grad=1e-3)
    assert torch.allclose(out.grad_start, -(z0 - m) @ torch.linalg.inv(c), atol=1e-5)  # before clipping
    assert langevin(z0, gaussian_target(m, c), steps=0, step_size=0.1).grad_start is None


def test_chains_from_the_reference_visit_both_modes_in_proportion():
    torch.manual_seed(1)
    w, mu, sd = torch.tensor([0.3, 0.7]), torch.tensor([[-1.5, 0.0], [1.5, 0.0]]), 0.7

    def target(z):
        comp = -(z[:, None, :] - mu).pow(2).sum(-1) / (2 * sd * sd) + w.log()
        return torch.logsumexp(comp, dim=1)

    out = langevin(torch.randn(3000, 2), target, steps=3000, step_size=0.2)

    def phi(t):
        return 0.5 * (1 + math.erf(t / math.sqrt(2)))

    expected = 0.3 * phi(-1.5 / sd) + 0.7 * phi(1.5 / sd)  # P(z_1 > 0) under the mixture
    assert abs((out.z[:, 0] > 0).float().mean().item() - expected) < 0.03
    # starting all chains in the light mode still ends near the right proportion: chains mix
    out = langevin(mu[0].repeat(3000, 1), target, steps=3000, step_size=0.2)
    assert abs((out.z[:, 0] > 0).float().mean().item() - expected) < 0.05


def test_noise_free_chain_descends_to_the_mode_and_keeps_history():
    target = gaussian_target(torch.tensor([2.0, 0.0]), torch.eye(2))
    out = langevin(torch.zeros(5, 2), target, steps=200, step_size=[0.5, 0.4], noise=0.0, keep_history=True)
    assert out.history.shape == (201, 5, 2)
    assert torch.equal(out.history[0], torch.zeros(5, 2))
    assert torch.allclose(out.z, torch.tensor([2.0, 0.0]).expand(5, 2), atol=1e-4)
    assert out.grad_norm > 0 and out.resets == 0


def test_step_schedule_is_used_per_step():
    # noise-free, target -z^2/2: z <- z (1 - u^2/2), so the product of the factors is known
    out = langevin(torch.ones(1, 1), lambda z: -0.5 * z.pow(2).sum(1), steps=4, step_size=[1.0, 0.5], noise=0.0)
    expected = (1 - 0.5) * (1 - 0.125) ** 3  # the last schedule value repeats
    assert out.z.item() == pytest.approx(expected)


def test_gradient_clipping_bounds_each_move():
    def target(z):
        return -1e6 * z.pow(2).sum(1)

    out = langevin(torch.ones(3, 2), target, steps=1, step_size=0.1, noise=0.0, clip_grad=2.0)
    assert ((out.z - 1).norm(dim=1) <= 0.5 * 0.1**2 * 2.0 + 1e-6).all()


def test_non_finite_values_raise_or_reset():
    def target(z):  # chains that wander past 3 get NaN
        return torch.where(z[:, 0] > 3, torch.full_like(z[:, 0], float("nan")), -(z - 5).pow(2).sum(1))

    with pytest.raises(LangevinError, match="non-finite values in .* chains at step"):
        langevin(torch.zeros(8, 2), target, steps=50, step_size=0.3, noise=0.0)
    out = langevin(torch.zeros(8, 2), target, steps=50, step_size=0.3, noise=0.0, on_nonfinite="reset")
    assert out.resets > 0 and torch.isfinite(out.z).all()


def test_parameters_get_no_gradient_from_chains():
    net = nn.Linear(2, 1)
    langevin(torch.zeros(4, 2), lambda z: net(z)[:, 0] - z.pow(2).sum(1), steps=3, step_size=0.1)
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(z0=torch.zeros(3)), DataError),
        (dict(z0=torch.tensor([[0.0, float("nan")]])), DataError),
        (dict(steps=-1), ConfigError),
        (dict(step_size=0.0), ConfigError),
        (dict(step_size=[]), ConfigError),
        (dict(noise=-1.0), ConfigError),
        (dict(clip_grad=0.0), ConfigError),
        (dict(on_nonfinite="ignore"), ConfigError),
        (dict(target=lambda z: z), DataError),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error):
    args = dict(z0=torch.zeros(3, 2), target=lambda z: -z.pow(2).sum(1), steps=2, step_size=0.1) | kwargs
    with pytest.raises(error):
        langevin(**args)


def test_ascend_climbs_and_keeps_the_best_state_when_a_step_overshoots():
    """Noise-free steps on log p = -a z^2 / 2: a small step size climbs towards 0; one so large that every step
    overshoots (|1 - u^2 a / 2| > 1) returns the start unchanged instead of a worse state."""
    from lebm.core.kernel import ascend

    z0 = torch.tensor([[2.0], [-1.0]])
    gentle = ascend(z0, lambda z: -0.5 * (z**2).sum(1), steps=10, step_size=0.5)
    assert (gentle.abs() < z0.abs()).all()
    steep = ascend(z0, lambda z: -50.0 * (z**2).sum(1), steps=10, step_size=0.5)
    assert torch.equal(steep, z0)
