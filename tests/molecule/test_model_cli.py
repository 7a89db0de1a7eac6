import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from lebm.core import TrainConfig, Trainer
from lebm.core.cli import main
from lebm.core.errors import ModelLoadError
from lebm.molecule.data import canonical, moses_smiles, read_smiles_file
from lebm.molecule.model import DecoderConfig, MoleculeConfig, MoleculeModel
from lebm.molecule.tokens import Vocabulary, to_representation

DATA = Path(__file__).parent / "data"
TINY_MODEL = (
    "[model]\nmax_len = 60\n[model.ebm.prior]\nlatent_dim = 8\nhidden = [16]\n"
    "[model.ebm.prior_chain]\nsteps = 5\n[model.ebm.posterior_chain]\nsteps = 2\n"
    "[model.decoder]\nhidden = 48\nembed = 16\n[model.encoder]\nhidden = 16\nembed = 8\n"
)


def tiny_model(cell="gru", posterior_init="amortised", use_latent=True, representation="smiles"):
    texts = [to_representation(s, representation) for s in moses_smiles("train")[:256]]
    vocab = Vocabulary.build(texts, representation)
    cfg = MoleculeConfig(
        decoder=DecoderConfig(cell=cell, hidden=48, embed=16, use_latent=use_latent),
        max_len=60,
        representation=representation,
    )
    cfg.ebm.prior.latent_dim, cfg.ebm.prior.hidden = 8, [16]
    cfg.encoder.hidden, cfg.encoder.embed = 16, 8  # the default encoder (bi-GRU 256) would dwarf this decoder
    cfg.ebm.prior_chain.steps, cfg.ebm.posterior_chain.steps = 5, 2
    cfg.ebm.posterior_init = posterior_init
    torch.manual_seed(0)
    return MoleculeModel(cfg, vocab), vocab.encode(texts, 60)


@pytest.mark.parametrize(
    "cell, init, representation",
    [("gru", "amortised", "smiles"), ("lstm", "reference", "smiles"), ("gru", "persistent", "selfies")],
)
def test_tiny_model_trains_and_its_loss_falls(cell, init, representation):
    model, x = tiny_model(cell, init, representation=representation)
    trainer = Trainer(model, {"x": x}, TrainConfig(steps=1, batch_size=64, quiet=True, device="cpu"))
    first = trainer.fit()["stats"]["nll_x"]
    trainer.config = TrainConfig(steps=60, batch_size=64, quiet=True, device="cpu", lr_generator=3e-3)
    last = trainer.fit()["stats"]["nll_x"]
    assert last < 0.7 * first, (first, last)
    smiles = model.generate_smiles(20, batch_size=8)
    assert len(smiles) == 20 and all(isinstance(s, str) for s in smiles)
    if representation == "selfies":  # SELFIES always decode to a molecule
        assert all(canonical(s) is not None for s in smiles if s)


def test_charrnn_decoder_ignores_the_latent():
    model, x = tiny_model(use_latent=False)
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    ll = model.generator.log_likelihood
    assert torch.equal(ll(x[:4], z1), ll(x[:4], z2))
    model, _ = tiny_model()
    assert not torch.equal(model.generator.log_likelihood(x[:4], z1), model.generator.log_likelihood(x[:4], z2))


def test_save_load_keeps_vocabulary_and_refuses_a_mismatch(tmp_path):
    model, _ = tiny_model()
    model.save_pretrained(tmp_path / "m")
    loaded = MoleculeModel.from_pretrained(tmp_path / "m")
    assert loaded.vocab.tokens == model.vocab.tokens
    torch.manual_seed(1)
    a = model.generate_smiles(10)
    torch.manual_seed(1)
    assert loaded.generate_smiles(10) == a
    Vocabulary(model.vocab.tokens[:-1]).save(tmp_path / "m" / "vocab.json")
    with pytest.raises(ModelLoadError, match="vocab.json does not match config.json"):
        MoleculeModel.from_pretrained(tmp_path / "m")


def test_train_generate_evaluate_commands(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY_MODEL)
    out = tmp_path / "run"
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                str(DATA / "tiny.csv"),
                "--smiles-column",
                "smiles",
                "--config",
                str(tmp_path / "tiny.toml"),
                "--out",
                str(out),
                "--steps",
                "6",
                "--batch-size",
                "32",
                "--quiet",
                "--probe",
                "10",
                "--rejects",
                str(tmp_path / "rejects.csv"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "302 molecules kept; skipped: 1 duplicate, 1 empty, 1 too long, 2 unparseable" in captured.err
    assert len(pd.read_csv(tmp_path / "rejects.csv")) == 5
    assert (out / "config.toml").read_text().startswith("[model]")
    assert (
        main(
            [
                "molecule",
                "generate",
                "--model",
                str(out / "model"),
                "-n",
                "30",
                "-o",
                str(tmp_path / "g.csv"),
                "--image",
                str(tmp_path / "grid.png"),
            ]
        )
        == 0
    )
    frame = pd.read_csv(tmp_path / "g.csv")
    assert list(frame.columns) == ["smiles", "valid", "canonical_smiles", "qed", "sa", "logp", "mw"]
    assert len(frame) == 30
    assert (
        main(
            [
                "molecule",
                "evaluate",
                str(tmp_path / "g.csv"),
                "--reference",
                str(DATA / "tiny.smi"),
                "--train",
                str(DATA / "tiny.csv"),
                "--smiles-column",
                "smiles",
                "-k",
                "10",
                "--json",
                str(tmp_path / "m.json"),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["Valid"] == pytest.approx(frame.valid.mean())


def test_encode_and_reconstruct_commands(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY_MODEL + "[model.ebm.bag]\nsize = 64\n")
    out = tmp_path / "run"
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                str(DATA / "tiny.csv"),
                "--config",
                str(tmp_path / "tiny.toml"),
                "--out",
                str(out),
                "--steps",
                "4",
                "--batch-size",
                "32",
                "--quiet",
                "--probe",
                "5",
                "--probe-recon",
                "5",
                "--log-every",
                "1",
            ]
        )
        == 0
    )
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    final = next(r["eval"] for r in reversed(log) if "eval" in r)
    assert {"recon_tanimoto", "recon_exact", "kl", "mi", "au", "f_spread", "mmd_prior", "mmd_ref"} <= set(final)
    assert "nll_bag" in log[0]
    model = str(out / "model")
    smiles = pd.read_csv(DATA / "tiny.csv").smiles.dropna().tolist()[:20]
    (tmp_path / "in.smi").write_text("\n".join([*smiles, "not_a_smiles"]) + "\n")
    assert main(["molecule", "encode", str(tmp_path / "in.smi"), "--model", model, "-o", str(tmp_path / "z.csv")]) == 0
    frame = pd.read_csv(tmp_path / "z.csv")
    assert list(frame.columns) == ["smiles"] + [f"z{i}" for i in range(8)] and len(frame) == 20
    assert "1 unparseable" in capsys.readouterr().err
    # a salt is standardised (and says so); a stereo centre the model has no token for is named
    (tmp_path / "drugs.smi").write_text(f"{smiles[0]}.Cl\nC[C@H](N)C(=O)O\n{smiles[0]}\n")
    assert (
        main(["molecule", "encode", str(tmp_path / "drugs.smi"), "--model", model, "-o", str(tmp_path / "d.csv")]) == 0
    )
    err = capsys.readouterr().err
    assert "1 unknown token [C@H]" in err and "1 largest fragment kept" in err, err
    assert pd.read_csv(tmp_path / "d.csv").smiles.tolist() == [canonical(smiles[0])] * 2  # row per kept input
    assert main(["molecule", "encode", str(tmp_path / "in.smi"), "--model", model, "-o", str(tmp_path / "z.npy")]) == 0
    import numpy as np

    assert np.allclose(np.load(tmp_path / "z.npy"), frame.iloc[:, 1:].to_numpy(), atol=1e-5)
    assert (
        main(["molecule", "reconstruct", str(tmp_path / "in.smi"), "--model", model, "-o", str(tmp_path / "r.csv")])
        == 0
    )
    rec = pd.read_csv(tmp_path / "r.csv")
    assert list(rec.columns) == ["smiles", "decoded", "valid", "tanimoto", "exact"] and len(rec) == 20
    assert rec.tanimoto.between(0, 1).all()
    assert "mean Tanimoto" in capsys.readouterr().out
    (tmp_path / "bad.smi").write_text("xx\n")
    assert main(["molecule", "reconstruct", str(tmp_path / "bad.smi"), "--model", model]) == 2
    assert "no molecule the model can encode" in capsys.readouterr().err


def test_fingerprint_bags_and_tanimoto(tmp_path):
    from lebm.molecule.latent import fingerprint_bags, tanimoto

    smiles = moses_smiles("train")[:50]
    fresh = fingerprint_bags(smiles, 96, cache=tmp_path)
    assert len(list(tmp_path.glob("fingerprints-96-*.npy"))) == 1
    assert torch.equal(fingerprint_bags(smiles, 96, cache=tmp_path), fresh)  # read back from the cache

    bags = fingerprint_bags(["CCO", "CCO", "c1ccccc1", "nonsense"], 128)
    assert bags.shape == (4, 128) and bags.dtype == torch.uint8
    assert torch.equal(bags[0], bags[1]) and not torch.equal(bags[0], bags[2])
    assert bags[3].sum() == 0 and bags[0].sum() > 0
    assert tanimoto("CCO", "OCC") == 1.0 and tanimoto("CCO", None) == 0.0 and 0 < tanimoto("CCO", "CCN") < 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["molecule", "train", "--data", "missing.csv", "--out", "o"], "missing.csv does not exist"),
        (
            ["molecule", "train", "--data", str(DATA / "tiny.csv"), "--smiles-column", "SMI", "--out", "o"],
            "has no column 'SMI'",
        ),
        (["molecule", "generate", "--model", "nowhere", "-o", "g.csv"], "model directory nowhere does not exist"),
        (["molecule", "generate", "-n", "0", "-o", "g.csv"], "-n must be >= 1"),
        (["molecule", "evaluate", "gone.csv"], "gone.csv does not exist"),
        (["molecule", "evaluate", str(DATA / "tiny.csv"), "--column", "nope"], "has no column 'nope'"),
    ],
)
def test_cli_errors_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["latent", "fast", "paper", "charrnn"])
def test_config_command_prints_the_preset_as_documented_toml(name, capsys):
    import tomllib

    from lebm.core.config import deep_merge, from_dict, to_dict
    from lebm.molecule.cli import preset

    assert main(["molecule", "config", "--preset", name]) == 0
    text = capsys.readouterr().out
    assert "# dimension d of the latent vector z" in text
    printed = tomllib.loads(text)
    expected = from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), preset(name)["model"]))
    assert from_dict(MoleculeConfig, printed["model"]) == expected


def test_metrics_on_too_few_molecules_carry_a_warning(tmp_path, capsys):
    smiles = read_smiles_file(DATA / "tiny.csv")[:40]
    pd.DataFrame({"SMILES": smiles}).to_csv(tmp_path / "few.csv", index=False)  # upper-case header
    assert (
        main(
            [
                "molecule",
                "evaluate",
                str(tmp_path / "few.csv"),
                "--reference",
                "moses-test-fcd",
                "--train",
                "none",
                "-k",
                "10",
                "1000",
                "--json",
                str(tmp_path / "few.json"),
                "--quiet",
            ]
        )
        == 0
    )
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "warning" in lines["Unique@1k"] and "fewer than k = 1000" in lines["Unique@1k"]
    assert "warning" in lines["FCD/Test"] and "warning" not in lines["Unique@10"] and "warning" not in lines["Valid"]
    assert "wrote" in lines and str(tmp_path / "few.json") in lines["wrote"]
    saved = json.loads((tmp_path / "few.json").read_text())
    assert set(saved["warnings"]) == {"Unique@1k", "FCD/Test"}


def test_generate_shows_progress_as_lines_unless_quiet(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY_MODEL)
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                str(DATA / "tiny.csv"),
                "--config",
                str(tmp_path / "tiny.toml"),
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "2",
                "--batch-size",
                "32",
                "--quiet",
                "--probe",
                "5",
            ]
        )
        == 0
    )
    capsys.readouterr()
    args = [
        "molecule",
        "generate",
        "--model",
        str(tmp_path / "run" / "model"),
        "-n",
        "20",
        "--batch-size",
        "5",
        "-o",
        str(tmp_path / "g.csv"),
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "generate" in err and "4/4" in err and "\r" not in err
    assert main([*args, "--quiet"]) == 0
    assert "generate" not in capsys.readouterr().err
