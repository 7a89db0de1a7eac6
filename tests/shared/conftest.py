import pytest
import torch

from lebm.core import TrainConfig
from lebm.core.toy import ToyModel, make_data, toy_config


def small_toy(prior="ebm", posterior_init="reference"):
    cfg = toy_config(prior, posterior_init)
    cfg.hidden = [16]
    cfg.ebm.prior.hidden = [16]
    cfg.ebm.prior_chain.steps = 5
    cfg.ebm.posterior_chain.steps = 5
    torch.manual_seed(0)
    return ToyModel(cfg)


@pytest.fixture
def toy_data():
    x, _ = make_data(300, seed=0)
    return {"x": x}


def quick_config(**kw):
    return TrainConfig(**({"steps": 30, "batch_size": 32, "quiet": True, "device": "cpu"} | kw))
