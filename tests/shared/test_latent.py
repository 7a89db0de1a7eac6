"""The core's options against posterior collapse, the prior objectives, and the latent diagnostics."""

import math

import pytest
import torch

from lebm.core import ConfigError, Trainer
from lebm.core.diagnostics import latent_diagnostics, mmd
from lebm.core.heads import BagConfig, BagHead
from lebm.core.learning import GeneratorSide, LearnConfig, Learner, kl_to_reference
from lebm.core.sequence import DecoderConfig, RNNDecoder

from .conftest import quick_config, small_toy


def vae_toy(**ebm):
    """The small toy with an encoder and 0 posterior steps: the joint (VAE) learning step."""
    model = small_toy(posterior_init="amortised")
    model.ebm.posterior_chain.steps = 0
    for k, v in ebm.items():
        setattr(model.ebm, k, v)
    return model


def test_kl_to_the_reference_has_known_values():
    zero, one = torch.zeros(1, 1), torch.ones(1, 1)
    assert kl_to_reference(zero, zero, 1.0).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_to_reference(one, zero, 1.0).item() == pytest.approx(0.5)  # mean shift 1: 1/2
    assert kl_to_reference(zero, zero, 2.0).item() == pytest.approx(math.log(2) + 1 / 8 - 0.5)


def test_free_bits_stop_the_kl_gradient_of_dimensions_under_the_floor():
    model = vae_toy()
    grads = {}
    for floor in (0.0, 100.0):  # 100 nats per dimension: every dimension is under the floor
        side = GeneratorSide(model, LearnConfig(free_bits=floor))
        mean = torch.zeros(32, 2, requires_grad=True)
        logvar = torch.zeros(32, 2, requires_grad=True)
        (g,) = torch.autograd.grad(side._kl(mean + 0.5, logvar, 1.0, {}), mean)
        grads[floor] = g
    assert grads[0.0].abs().sum() > 0
    assert torch.equal(grads[100.0], torch.zeros_like(grads[100.0]))


def test_the_joint_step_trains_generator_encoder_and_prior_in_one_pass(toy_data):
    model = vae_toy()
    learner = Learner(model, quick_config(), len(toy_data["x"]))
    assert learner.joint
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = learner.step({"x": toy_data["x"][:32], "index": torch.arange(32)})
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"prior", "generator", "encoder"}
    assert "langevin_grad_post" not in stats and stats["kl_ref"] > 0


def test_elbo_energy_zero_leaves_the_encoder_to_the_reference(toy_data):
    x = toy_data["x"][:32]
    mean, logvar = torch.zeros(32, 2, requires_grad=True), torch.zeros(32, 2)
    losses = {}
    for weight in (1.0, 0.0):
        for shift in (0.0, 5.0):  # an energy that rises along z_0
            model = vae_toy()
            energy = model.prior.forward
            model.prior.forward = lambda z, energy=energy, shift=shift: energy(z) + shift * z[:, 0]
            side = GeneratorSide(model, LearnConfig(elbo_energy=weight))
            torch.manual_seed(0)
            loss, _, _ = side._negative_elbo(x, {}, mean, logvar)
            losses[weight, shift] = (loss.item(), torch.autograd.grad(loss, mean)[0][:, 0].mean().item())
    # the exact ELBO pulls q towards high energy: d(-mean_b 5 z_0)/d mean_0 = -5/32 per row
    assert losses[1.0, 5.0][1] == pytest.approx(losses[1.0, 0.0][1] - 5 / 32, abs=1e-5)
    assert losses[0.0, 5.0] == pytest.approx(losses[0.0, 0.0])  # weight 0: the energy plays no part
    with pytest.raises(ConfigError, match="elbo_energy must be in"):
        LearnConfig(elbo_energy=2.0)


def test_pretraining_is_an_autoencoder_then_the_generator_is_reset(toy_data):
    cfg = LearnConfig(pretrain_steps=3, kl_warmup_steps=4)
    assert [cfg.kl_weight(s) for s in range(6)] == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75]
    model = vae_toy()
    learner = Learner(model, cfg, len(toy_data["x"]))
    batch = {"x": toy_data["x"][:32], "index": torch.arange(32)}
    for step in range(3):
        learner.step(batch, step)
    trained = [p.clone() for p in model.generator.parameters()]
    encoder = [p.clone() for p in model.encoder.parameters()]
    learner.reset_generator()
    assert all(not torch.equal(a, b) for a, b in zip(trained, model.generator.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(encoder, model.encoder.parameters()))  # the encoder is kept


@pytest.mark.parametrize("stages", [1, 3])
def test_nce_learns_the_log_density_ratio_against_the_reference(stages):
    """Posterior samples from N(m, I): the optimal f is log N(z; m, I) / N(z; 0, I) = m.z - |m|^2 / 2, in one
    stage or as the sum of the stage ratios along the path a z+ + sqrt(1 - a^2) eps."""
    torch.manual_seed(0)
    model = small_toy()
    model.prior.config.stages = stages
    model.prior.net[-1] = torch.nn.Linear(16, stages)
    learner = Learner(model, LearnConfig(prior_objective="nce", lr_prior=3e-3, clip_prior=None), 1)
    m = torch.tensor([1.0, -0.5])
    for _ in range(1500):
        learner.prior_step(torch.randn(256, 2) + m, None)
    z = torch.randn(2000, 2) * 0.7 + m / 2  # where both distributions have mass
    with torch.no_grad():
        f, truth = model.prior(z), z @ m - m.pow(2).sum() / 2
    assert (f - truth).abs().mean() < 0.15, (f - truth).abs().mean()


def test_persistent_prior_chains_live_in_a_buffer_that_checkpoints_carry(tmp_path, toy_data):
    cfg = quick_config(prior_init="persistent", prior_buffer=64, steps=10, checkpoint_every=5)
    model = small_toy()
    learner = Learner(model, cfg, len(toy_data["x"]))
    start = learner.buffer.clone()
    learner.step({"x": toy_data["x"][:32], "index": torch.arange(32)})
    assert (learner.buffer != start).any(dim=1).sum() >= 16  # about half the rows were drawn and moved
    Trainer(small_toy(), toy_data, cfg, out_dir=tmp_path).fit()
    state = torch.load(tmp_path / "checkpoint" / "trainer_state.pt", weights_only=True)
    assert state["learner"]["prior_buffer"].shape == (64, 2)
    with pytest.raises(ConfigError, match="prior_buffer"):
        LearnConfig(prior_buffer=0)


def test_decoder_input_dropout_acts_in_training_only():
    torch.manual_seed(0)
    decoder = RNNDecoder(12, 3, DecoderConfig(hidden=16, embed=8, input_dropout=0.5))
    x = torch.randint(3, 12, (64, 10))
    x[:, 0], x[:, -1] = 1, 2
    z = torch.randn(64, 3)
    decoder.eval()
    assert torch.equal(decoder.log_likelihood(x, z), decoder.log_likelihood(x, z))
    decoder.train()
    assert not torch.equal(decoder.log_likelihood(x, z), decoder.log_likelihood(x, z))
    with pytest.raises(ConfigError, match="input_dropout"):
        DecoderConfig(input_dropout=1.0)


def test_bag_head_is_a_weighted_bernoulli_likelihood():
    torch.manual_seed(0)
    head = BagHead(3, BagConfig(size=5, hidden=[4], weight=2.0))
    z, bag = torch.randn(7, 3), torch.randint(0, 2, (7, 5), dtype=torch.uint8)
    p = head.predict(z)
    manual = (bag * p.log() + (1 - bag) * (1 - p).log()).sum(1) * 2.0
    assert torch.allclose(head.log_likelihood(bag, z), manual, atol=1e-5)


def test_mmd_separates_different_distributions():
    torch.manual_seed(0)
    a, b = torch.randn(300, 4), torch.randn(300, 4)
    assert abs(mmd(a, b)) < 0.01
    assert mmd(a, b + 1.0) > 0.1


def test_a_collapsed_latent_is_reported_during_training(toy_data, caplog):
    model = vae_toy()
    last = model.encoder.net[-1]
    with torch.no_grad():  # q(z | x) no longer depends on x: MI 0, no active unit
        last.weight.zero_()
    cfg = quick_config(steps=8, eval_every=2, lr_generator=1e-12, clip_generator=None)
    Trainer(model, toy_data, cfg).fit()
    assert caplog.text.count("warning: the latent has collapsed") == 1  # logged once (a warning)
    figures = latent_diagnostics(model, toy_data["x"][:64])
    assert figures["au"] == 0 and figures["mi"] < 0.05


def test_diagnostics_are_logged_and_saved_with_the_model(tmp_path, toy_data):
    Trainer(vae_toy(), toy_data, quick_config(steps=20, eval_every=10), out_dir=tmp_path).fit()
    log = [line for line in (tmp_path / "train_log.jsonl").read_text().splitlines() if '"eval"' in line]
    assert len(log) == 2 and all('"mmd_prior"' in line for line in log)
    saved = (tmp_path / "model" / "diagnostics.json").read_text()
    assert '"au"' in saved and '"f_spread"' in saved


def test_snapshots_are_saved_by_training_time(tmp_path, toy_data):
    Trainer(small_toy(), toy_data, quick_config(steps=5, snapshot_minutes=[0.0, 1000.0]), out_dir=tmp_path).fit()
    assert (tmp_path / "snapshot-0min" / "model.safetensors").is_file()
    assert not (tmp_path / "snapshot-1000min").exists()


@pytest.mark.parametrize("kind", ["gru", "cnn"])
def test_sequence_encoder_ignores_padding_and_trains(kind):
    from lebm.core.sequence import EncoderConfig, TokenEncoder

    torch.manual_seed(0)
    encoder = TokenEncoder(12, 3, EncoderConfig(kind=kind, embed=8, hidden=16, kernel=3))
    x = torch.randint(3, 12, (5, 9))
    x[:, 0] = 1
    x[2, 5:] = 0  # a shorter row
    x[2, 4] = 2
    mean, logvar = encoder(x)
    assert mean.shape == logvar.shape == (5, 3)
    padded = torch.cat([x, torch.zeros(5, 4, dtype=torch.long)], dim=1)  # more padding changes nothing
    assert torch.allclose(encoder(padded)[0], mean, atol=1e-6)
    mean.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)


def test_log_normaliser_around_the_posteriors_finds_mass_the_reference_misses():
    """f(z) = a.z - |a|^2 / 2 makes exp(f) N(0, I) = N(a, I), so log Z = 0; with |a| = 6 reference draws almost
    never reach the mass and underestimate log Z by many nats."""
    from lebm.core.diagnostics import log_normaliser

    torch.manual_seed(0)
    model = small_toy()
    a = torch.tensor([6.0, 0.0])
    model.prior.net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.prior.net.weight.copy_(a[None])
        model.prior.net.bias.fill_(-a.pow(2).sum() / 2)
    assert log_normaliser(model, 2000) < -2.0
    near = (a + 0.3 * torch.randn(50, 2), torch.full((50, 2), math.log(0.5)))
    assert abs(log_normaliser(model, 20_000, around=near)) < 0.05


def test_refinement_never_lowers_the_posterior_density_it_climbs(toy_data):
    """posterior_fit(refine_steps=K) on a model whose posterior is the encoder alone (0 chain steps): the refined
    mean has a joint density log p(x | z) + log p(z) at least that of the encoder's mean on every row, higher on
    most (it climbs), and the fit keeps the encoder's variance."""
    from lebm.core.diagnostics import posterior_fit

    model = small_toy(posterior_init="amortised")
    model.ebm.posterior_chain.steps = 0
    Trainer(model, toy_data, quick_config(steps=40)).fit()
    model.eval()
    x = toy_data["x"][:64]
    target = model.posterior_log_density(x, None)
    plain_mean, plain_logvar, plain = posterior_fit(model, x, chains=4)
    mean, logvar, refined = posterior_fit(model, x, chains=4, refine_steps=30)
    assert refined.shape == plain.shape == (4, 64, model.prior.latent_dim)
    assert torch.equal(logvar, plain_logvar)
    with torch.no_grad():
        gain = target(mean) - target(plain_mean)
    assert (gain >= 0).all(), gain.min()
    assert (gain > 1e-4).float().mean() > 0.5 and gain.mean() > 3 * gain.std() / 8, gain
