"""Symbol-vector coupling in the core: a coupled prior learns classes from a few labels."""

from dataclasses import replace

import pytest
import torch

from lebm.core import TrainConfig, Trainer
from lebm.core.toy import ToyModel, make_data, toy_config


def train_coupled(labels: torch.Tensor, x: torch.Tensor) -> ToyModel:
    cfg = toy_config("ebm")
    cfg = replace(cfg, ebm=replace(cfg.ebm, prior=replace(cfg.ebm.prior, kind="coupled", num_classes=4)))
    torch.manual_seed(0)
    model = ToyModel(cfg)
    # 1% of the rows are labeled: the class term is upweighted, as the authors do (weight 200 there)
    Trainer(
        model,
        {"x": x, "label": labels},
        TrainConfig(steps=300, batch_size=128, lr_prior=1e-3, quiet=True, device="cpu", label_weight=20.0),
    ).fit()
    return model


def accuracy(model: ToyModel, x: torch.Tensor, mode: torch.Tensor) -> float:
    torch.manual_seed(1)
    z = model.infer_posterior(x).z
    return float((model.prior.logits(z).argmax(1) == mode).float().mean())


@pytest.mark.slow  # minutes: run by `make test-slow` (.ci/run, after `make test`)
def test_ten_labels_per_class_give_the_modes_their_names():
    x, mode = make_data(4000, seed=0)
    x_test, mode_test = make_data(1000, seed=1)
    labels = torch.full_like(mode, -1)
    for k in range(4):
        labels[(mode == k).nonzero()[:10, 0]] = k  # 40 labels, 3,960 unlabeled rows
    assert accuracy(train_coupled(labels, x), x_test, mode_test) > 0.9
    # the names come from the labels: permuted labels give permuted predictions
    permuted = torch.where(labels >= 0, (labels + 1) % 4, labels)
    assert accuracy(train_coupled(permuted, x), x_test, (mode_test + 1) % 4) > 0.9


def test_labels_need_a_coupled_prior():
    import pytest

    from lebm.core import DataError

    x, mode = make_data(200, seed=0)
    model = ToyModel(toy_config("ebm"))
    with pytest.raises(DataError, match="not a coupled prior"):
        Trainer(model, {"x": x, "label": mode}, TrainConfig(steps=1, quiet=True, device="cpu")).fit()


def test_class_information_is_log_k_when_confident_and_balanced_and_zero_when_unsure():
    import math

    from lebm.core.prior import class_information

    confident = torch.eye(4).repeat(5, 1) * 50  # every class used equally, each row certain
    assert float(class_information(confident)) == pytest.approx(math.log(4), abs=1e-4)
    assert float(class_information(torch.zeros(20, 4))) == pytest.approx(0.0, abs=1e-6)  # every row uniform
    one_class = torch.zeros(20, 4)
    one_class[:, 0] = 50  # confident but all in one class
    assert float(class_information(one_class)) == pytest.approx(0.0, abs=1e-4)


def test_the_class_step_skips_a_batch_without_labels_unless_the_class_use_term_is_on():
    from lebm.core.learning import LearnConfig, Learner

    cfg = toy_config("ebm")
    cfg = replace(cfg, ebm=replace(cfg.ebm, prior=replace(cfg.ebm.prior, kind="coupled", num_classes=4)))
    model = ToyModel(cfg)
    z, unlabeled, labeled = torch.randn(64, 2), torch.full((64,), -1), torch.arange(64) % 4
    for mi, label, moves in ((0.0, unlabeled, False), (0.0, labeled, True), (0.3, unlabeled, True)):
        learner = Learner(model, LearnConfig(lr_class=1e-2, class_mi_weight=mi), n_data=64)
        before = [p.detach().clone() for p in model.prior.parameters()]
        out = learner.class_step(z, label)
        changed = any(not torch.equal(a, b) for a, b in zip(before, model.prior.parameters()))
        assert changed == moves and ("loss_class" in out) == moves
