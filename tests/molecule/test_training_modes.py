"""bf16 training lands where fp32 training does, and --init-from goes on from a saved model's loss."""

import json

import pytest
import torch

from lebm.core.cli import main
from lebm.molecule.data import moses_smiles
from lebm.molecule.model import MoleculeModel

TINY = (
    "[model]\nmax_len = 60\n[model.ebm.prior]\nlatent_dim = 8\nhidden = [32]\n[model.encoder]\nhidden = 32\n"
    "embed = 16\n[model.ebm.bag]\nsize = 0\n[model.decoder]\nhidden = 128\nembed = 32\n"
    "[model.head]\nhidden = [32]\n"
)


def train(tmp, name, preset, steps, *flags):
    (tmp / "tiny.toml").write_text(TINY)
    out = tmp / name
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                "moses",
                "--preset",
                preset,
                "--max-molecules",
                "3000",
                "--config",
                str(tmp / "tiny.toml"),
                "--out",
                str(out),
                "--steps",
                str(steps),
                "--batch-size",
                "64",
                "--quiet",
                "--probe",
                "10",
                "--probe-recon",
                "0",
                "--threads",
                "1",
                "--log-every",
                "1",
                "--diagnose",
                "0",
                *flags,
            ]
        )
        == 0
    )
    return out


def log_nll(run):
    return [r["nll_x"] for r in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if "nll_x" in r]


@torch.no_grad()
def heldout_nll(model_dir):
    model = MoleculeModel.from_pretrained(model_dir)
    model.eval()
    smiles = [s for s in moses_smiles("test")[:500] if not model.vocab.unknown(s)]
    x = model.vocab.encode(smiles, model.config.max_len)
    return -model.generator.log_likelihood(x, torch.zeros(len(x), model.prior.config.latent_dim)).mean().item()


def test_a_short_bf16_run_lands_within_two_percent_of_fp32(tmp_path):
    nll = {p: heldout_nll(train(tmp_path, p, "charrnn", 150, "--precision", p) / "model") for p in ("fp32", "bf16")}
    assert nll["fp32"] < 45  # it learned (an untrained decoder: about 150 nats)
    assert abs(nll["bf16"] - nll["fp32"]) <= 0.02 * nll["fp32"], nll


def test_init_from_starts_every_part_and_goes_on_at_the_saved_loss(tmp_path):
    first = train(tmp_path, "first", "latent", 120, "--properties", "qed", "--lr-generator", "3e-3")
    second = train(tmp_path, "second", "latent", 3, "--properties", "qed", "--init-from", str(first / "model"))
    saved, started = log_nll(first), log_nll(second)
    assert started[0] < 0.6 * saved[0]  # far below a fresh model's first loss...
    assert started[0] == pytest.approx(sum(saved[-10:]) / 10, rel=0.1)  # ...at the saved model's own
    fresh = MoleculeModel.from_pretrained(first / "model")
    for p in fresh.parameters():
        p.data.zero_()
    fresh.init_from(first / "model")
    own = MoleculeModel.from_pretrained(first / "model").state_dict()
    assert all(torch.equal(v, own[k]) for k, v in fresh.state_dict().items())


def test_init_from_refuses_another_architecture(tmp_path):
    first = train(tmp_path, "first", "charrnn", 2)
    (tmp_path / "wide.toml").write_text(TINY.replace("hidden = 128", "hidden = 64"))
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                "moses",
                "--preset",
                "charrnn",
                "--max-molecules",
                "3000",
                "--config",
                str(tmp_path / "wide.toml"),
                "--out",
                str(tmp_path / "other"),
                "--steps",
                "1",
                "--quiet",
                "--init-from",
                str(first / "model"),
            ]
        )
        == 2
    )


def test_bf16_steps_learn_inside_another_autocast_context():
    """Autocast keeps its bf16 weight copies until the outermost context exits: the learner clears them after every
    step, so a caller's own (here disabled) autocast context around the loop does not freeze the weights it uses."""
    from lebm.core.config import deep_merge, from_dict, to_dict
    from lebm.core.learning import Learner
    from lebm.core.options import LearnConfig
    from lebm.molecule.model import MoleculeConfig
    from lebm.molecule.tokens import Vocabulary

    smiles = moses_smiles("train")[:2000]
    vocab = Vocabulary.build(smiles)
    x = vocab.encode(smiles, 60)
    table = {
        "max_len": 60,
        "decoder": {"hidden": 64, "embed": 16, "use_latent": False},
        "ebm": {
            "prior": {"kind": "gaussian", "hidden": []},
            "posterior_chain": {"steps": 0},
            "posterior_init": "reference",
            "bag": {"size": 0},
        },
    }
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = MoleculeModel(from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), table)), vocab)
        learner = Learner(model, LearnConfig(precision=precision, lr_generator=3e-3), len(x))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
            losses[precision] = [
                learner.step(
                    {
                        "x": x[torch.arange(64 * s, 64 * s + 64) % len(x)],
                        "index": torch.arange(64 * s, 64 * s + 64) % len(x),
                    },
                    s,
                )["nll_x"]
                for s in range(40)
            ]
    assert losses["bf16"][-1] < 0.7 * losses["bf16"][0]
    assert losses["bf16"][-1] == pytest.approx(losses["fp32"][-1], rel=0.05)
