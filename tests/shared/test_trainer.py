import json

import pytest
import torch

from lebm.core import ConfigError, DataError, ModelLoadError, TrainConfig, Trainer, from_dict
from lebm.core.toy import ToyModel

from .conftest import quick_config, small_toy


class Crash(Exception):
    pass


def crash_after(calls):
    """An eval callback that dies on its `calls`-th call: a run killed mid-way."""
    count = {"n": 0}

    def fn(model):
        count["n"] += 1
        if count["n"] == calls:
            raise Crash()
        return {"probe": float(model.generate(4).sum())}  # uses RNG; the trainer must shield training from it

    return fn


@pytest.mark.parametrize("posterior_init", ["reference", "persistent", "amortised"])
def test_interrupted_and_resumed_run_reaches_the_same_weights(tmp_path, toy_data, posterior_init):
    whole = small_toy(posterior_init=posterior_init)
    Trainer(whole, toy_data, quick_config(eval_every=5), out_dir=tmp_path / "whole", eval_fn=crash_after(0)).fit()

    cfg = quick_config(eval_every=5, checkpoint_every=10)
    with pytest.raises(Crash):  # dies at step 25, after the checkpoint of step 20
        Trainer(
            small_toy(posterior_init=posterior_init), toy_data, cfg, out_dir=tmp_path / "cut", eval_fn=crash_after(5)
        ).fit()
    state = torch.load(tmp_path / "cut" / "checkpoint" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 20
    resumed = small_toy(posterior_init=posterior_init)
    result = Trainer(resumed, toy_data, cfg, out_dir=tmp_path / "cut", resume=True, eval_fn=crash_after(0)).fit()
    assert result["resumed"] and result["step"] == 30
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(whole.state_dict().values(), small_toy().state_dict().values()))

    loaded = ToyModel.from_pretrained(tmp_path / "cut" / "model")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), resumed.state_dict().values()))
    log = [json.loads(line) for line in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "eval" not in r]
    assert steps[0]["step"] == 10 and "nll_x" in steps[0] and any("eval" in r for r in log)


def test_resume_refuses_a_different_model_or_seed(tmp_path, toy_data):
    Trainer(small_toy(), toy_data, quick_config(steps=5), out_dir=tmp_path).fit()
    with pytest.raises(ModelLoadError, match="different model config .*prior.kind"):
        Trainer(small_toy("gaussian"), toy_data, quick_config(steps=10), out_dir=tmp_path, resume=True).fit()
    with pytest.raises(ModelLoadError, match="seed = 0, this run has 1"):
        Trainer(small_toy(), toy_data, quick_config(steps=10, seed=1), out_dir=tmp_path, resume=True).fit()
    (tmp_path / "checkpoint" / "trainer_state.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="trainer_state.pt is corrupt"):
        Trainer(small_toy(), toy_data, quick_config(steps=10), out_dir=tmp_path, resume=True).fit()


def test_gaussian_prior_trains_without_a_prior_optimiser(toy_data):
    model = small_toy("gaussian")
    before = [p.clone() for p in model.generator.parameters()]
    stats = Trainer(model, toy_data, quick_config(steps=5)).fit()["stats"]
    assert "loss_prior" not in stats and stats["nll_x"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))


@pytest.mark.parametrize(
    "data, message",
    [
        ({"x": torch.full((10, 8), float("nan"))}, "NaN or infinite values in 10 rows"),
        ({"y": torch.zeros(10, 8)}, "no 'x' entry"),
        ({"x": torch.zeros(0, 8)}, "empty"),
        ({"x": torch.zeros(10, 8), "w": torch.zeros(9)}, "'w' has 9 rows"),
    ],
)
def test_bad_training_data(data, message):
    with pytest.raises(DataError, match=message):
        Trainer(small_toy(), data, quick_config())


def test_wrong_data_shape_is_named():
    with pytest.raises(DataError, match=r"x must have shape \[batch, 8\]"):
        Trainer(small_toy(), {"x": torch.zeros(40, 5)}, quick_config(steps=1)).fit()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"lr_prior": -1.0}, "learning rates"),
        ({"betas": [0.9]}, "betas"),
        ({"batch_size": "big"}, "expected int"),
        ({"stepz": 3}, "unknown option 'stepz'"),
        ({"clip_prior": 0.0}, "clip_prior"),
    ],
)
def test_invalid_training_options(options, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, options)


def test_device_option_is_checked():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the error path needs a machine without it")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Trainer(small_toy(), {"x": torch.zeros(40, 8)}, quick_config(device="cuda")).fit()


class Clock:
    """A clock that moves only when read (by `tick` seconds) or told to (`advance`): the time budget's test does
    not depend on how fast this machine is."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_time_budget_keeps_room_for_the_final_evaluation_and_save(tmp_path, toy_data):
    """max_minutes bounds the whole run, final evaluation and save included, even when an evaluation costs far
    more than a step (here 5 s against about 0.1 s on an injected clock): the run stops early enough, the final
    evaluation runs at the stopped step, and the checkpoint holds that step."""
    clock = Clock(tick=0.05)

    def slow_evaluation(model):
        clock.advance(5.0)
        return {"probe": 0.0}

    cfg = quick_config(steps=10**6, max_minutes=0.5, eval_every=10**6)  # evaluations: the first and the final
    trainer = Trainer(small_toy(), toy_data, cfg, out_dir=tmp_path, eval_fn=slow_evaluation, clock=clock)
    result = trainer.fit()
    assert clock.now <= 30.0, clock.now
    assert 50 < result["step"] < 10**6 and clock.now > 25.0  # the budget was used, not abandoned early
    evals = [r for r in map(json.loads, (tmp_path / "train_log.jsonl").read_text().splitlines()) if "eval" in r]
    assert evals[-1]["step"] == result["step"]
    assert torch.load(tmp_path / "checkpoint" / "trainer_state.pt", weights_only=True)["step"] == result["step"]


def test_elbo_term_trains_the_encoder_alone(toy_data):
    from lebm.core.learning import GeneratorSide, LearnConfig

    model = small_toy(posterior_init="amortised")
    side = GeneratorSide(model, LearnConfig())
    mean, logvar = model.encoder(toy_data["x"][:16])
    side._negative_elbo(toy_data["x"][:16], {}, mean, logvar)[0].backward()
    assert all(p.grad is None for p in [*model.generator.parameters(), *model.prior.parameters()])
    assert all(p.requires_grad for p in [*model.generator.parameters(), *model.prior.parameters()])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_energy_regulariser_keeps_the_energy_level_down(toy_data):
    levels = {}
    for reg in (0.0, 1.0):
        model = small_toy()
        stats = Trainer(model, toy_data, quick_config(steps=150, lr_prior=3e-3, prior_energy_reg=reg)).fit()["stats"]
        levels[reg] = abs(stats["f_post"]) + abs(stats["f_prior"])
    assert levels[1.0] < 0.5 * levels[0.0], levels


@pytest.mark.parametrize("kl_weight", [1.0, 0.3])
def test_elbo_at_the_chain_start_equals_the_explicit_elbo(toy_data, kl_weight):
    """Reusing the posterior chain's first gradient gives the ELBO's value and encoder gradient exactly."""
    from lebm.core.learning import GeneratorSide, LearnConfig

    model, x = small_toy(posterior_init="amortised"), toy_data["x"][:16]
    side = GeneratorSide(model, LearnConfig())
    results = []
    for reuse in (False, True):
        model.zero_grad(set_to_none=True)
        mean, logvar = model.encoder(x)
        torch.manual_seed(3)
        if reuse:
            z0 = (mean + (0.5 * logvar).exp() * torch.randn_like(mean)).detach().requires_grad_(True)
            log_joint = model.posterior_log_density(x)(z0)
            (grad0,) = torch.autograd.grad(log_joint.sum(), z0)
            loss = side._negative_elbo_at_start(mean, logvar, z0.detach(), grad0, log_joint.mean().item(), kl_weight)
        else:
            loss = side._negative_elbo(x, {}, mean, logvar, kl_weight=kl_weight)[0]
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.encoder.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(grads_a, grads_b))
    assert all(p.grad is None for p in [*model.generator.parameters(), *model.prior.parameters()])


def test_keep_best_keeps_the_model_of_the_best_evaluation(tmp_path, toy_data):
    from safetensors.torch import load_file

    scores, seen = iter([0.2, 0.9, 0.5, 0.1]), []

    def score(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"valid": next(scores)}

    cfg = quick_config(steps=30, eval_every=10, keep_best="valid")
    Trainer(small_toy(), toy_data, cfg, out_dir=tmp_path, eval_fn=score).fit()
    best = load_file(tmp_path / "best" / "model.safetensors")
    assert len(seen) == 3  # steps 10, 20 and the final evaluation at 30
    assert all(torch.equal(best[k], seen[1][k]) for k in best)
    assert not all(torch.equal(best[k], seen[2][k]) for k in best)
    scores, seen = iter([0.2, 0.9, 0.5, 0.1]), []  # "-valid": the lowest wins (the first, 0.2)
    Trainer(
        small_toy(),
        toy_data,
        quick_config(steps=30, eval_every=10, keep_best="-valid"),
        out_dir=tmp_path / "low",
        eval_fn=score,
    ).fit()
    best = load_file(tmp_path / "low" / "best" / "model.safetensors")
    assert all(torch.equal(best[k], seen[0][k]) for k in best)
    with pytest.raises(ConfigError, match="reports only"):
        Trainer(
            small_toy(),
            toy_data,
            quick_config(steps=10, keep_best="fcd"),
            out_dir=tmp_path / "b",
            eval_fn=lambda m: {"valid": 1.0},
        ).fit()
    with pytest.raises(ConfigError, match="needs an evaluation"):
        Trainer(small_toy(), toy_data, quick_config(steps=10, keep_best="valid"), out_dir=tmp_path / "c").fit()
