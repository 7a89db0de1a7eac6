import json

import numpy as np
import pytest
import torch

from lebm.core.cli import main

TINY = """[model]
vocab_size = 300
max_len = 40
[model.ebm.prior]
latent_dim = 4
hidden = [16]
[model.ebm.prior_chain]
steps = 5
[model.ebm.posterior_chain]
steps = 3
[model.decoder]
embed = 16
hidden = 32
dropout = 0.0
[model.encoder]
embed = 8
hidden = 8
[train]
steps = 40
batch_size = 16
lr_generator = 3e-3
log_every = 1
"""
LINES = [
    "sport\tthe team won the match .",
    "sport\tthe team lost the game .",
    "tech\tthe new phone has a fast chip .",
    "tech\ta new chip makes the phone fast .",
    "sport\tfans cheered the team .",
    "tech\tthe software update is out .",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("text")
    (tmp / "tiny.toml").write_text(TINY)
    (tmp / "train.txt").write_text("\n".join(LINES * 8) + "\n\n")
    runs = {}
    for preset, prior in [("paper", "ebm"), ("lm", None)]:
        out = tmp / f"run_{preset}"
        args = [
            "text",
            "train",
            "--preset",
            preset,
            "--config",
            str(tmp / "tiny.toml"),
            "--data",
            str(tmp / "train.txt"),
            "--out",
            str(out),
            "--quiet",
            "--probe",
            "6",
            "--threads",
            "1",
        ] + (["--prior", prior] if prior else [])
        assert main(args) == 0
        runs[preset] = out
    return tmp, runs


def test_training_loss_falls_and_figures_are_logged(trained):
    _, runs = trained
    log = [json.loads(line) for line in (runs["paper"] / "train_log.jsonl").read_text().splitlines()]
    nll = [r["nll_x"] for r in log if "nll_x" in r]
    assert np.mean(nll[-5:]) < 0.7 * np.mean(nll[:5])
    final = [r["eval"] for r in log if "eval" in r][-1]
    assert {"nll", "ppl", "rec", "kl", "mi", "au"} <= set(final)
    assert (runs["paper"] / "model" / "tokenizer" / "tokenizer.json").is_file()


def test_resume_reuses_the_saved_tokenizer(trained):
    tmp, runs = trained
    args = [
        "text",
        "train",
        "--preset",
        "paper",
        "--prior",
        "ebm",
        "--config",
        str(tmp / "tiny.toml"),
        "--data",
        str(tmp / "train.txt"),
        "--out",
        str(runs["paper"]),
        "--quiet",
        "--probe",
        "6",
        "--resume",
        "--steps",
        "42",
    ]
    assert main(args) == 0
    log = [json.loads(line) for line in (runs["paper"] / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "nll_x" in r][-2:] == [41, 42]


def test_evaluate_prints_and_writes_figures(trained, capsys):
    tmp, runs = trained
    assert (
        main(
            [
                "text",
                "evaluate",
                "--model",
                str(runs["paper"] / "model"),
                "--data",
                str(tmp / "train.txt"),
                "--samples",
                "10",
                "--chains",
                "2",
                "--json",
                str(tmp / "ev.json"),
            ]
        )
        == 0
    )
    out = json.loads((tmp / "ev.json").read_text())
    from lebm.text.data import load_tokenizer

    tok = load_tokenizer(runs["paper"] / "model" / "tokenizer")
    texts = [t.split("\t")[1] for t in LINES]
    assert (
        out["sentences"] == 48 and out["words"] == sum(len(t.split()) + 1 for t in texts) * 8
    )  # <eos> counts as a word
    assert out["tokens"] == sum(len(ids) + 1 for ids in tok(texts, add_special_tokens=False)["input_ids"]) * 8
    assert 1 < out["ppl"] < 200 and out["kl"] > 0 and 0 <= out["au"] <= 4
    captured = capsys.readouterr()
    assert "| nll |" in captured.out.replace("| nll | ppl", "| nll |") and str(tmp / "ev.json") in captured.out
    assert "likelihood" in captured.err and "\r" not in captured.err  # progress as lines on a pipe
    assert (
        main(
            [
                "text",
                "evaluate",
                "--model",
                str(runs["paper"] / "model"),
                "--data",
                str(tmp / "train.txt"),
                "--samples",
                "2",
                "--chains",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert capsys.readouterr().err == ""
    assert main(["text", "evaluate", "--model", str(runs["lm"] / "model"), "--data", str(tmp / "train.txt")]) == 0


def test_sample_reconstruct_interpolate_encode_probe(trained, capsys):
    tmp, runs = trained
    model = str(runs["paper"] / "model")
    for method in ("greedy", "sample", "beam"):
        assert main(["text", "sample", "--model", model, "-n", "3", "--method", method, "--top-p", "0.9"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["text", "reconstruct", "--model", model, "the team won the match ."]) == 0
    assert "->" in capsys.readouterr().out
    assert main(["text", "interpolate", "--model", model, "the team won .", "a new phone .", "--points", "4"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert (
        main(["text", "encode", "--model", model, "--input", str(tmp / "train.txt"), "--output", str(tmp / "f.npy")])
        == 0
    )
    assert np.load(tmp / "f.npy").shape == (48, 4)
    assert (
        main(["text", "encode", "--model", model, "--input", str(tmp / "train.txt"), "--output", str(tmp / "f.csv")])
        == 0
    )
    assert (tmp / "f.csv").read_text().splitlines()[0].startswith("label,z0")
    assert (
        main(
            [
                "text",
                "probe",
                "--model",
                model,
                "--data",
                str(tmp / "train.txt"),
                "--test",
                str(tmp / "train.txt"),
                "--labels",
                "10",
                "20",
                "--seeds",
                "2",
                "--json",
                str(tmp / "probe.json"),
            ]
        )
        == 0
    )
    acc = json.loads((tmp / "probe.json").read_text())["accuracy"]
    assert set(acc) == {"10", "20"} and all(0 <= a <= 1 for v in acc.values() for a in v)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "-n", "0"], "-n must be >= 1"),
        (["interpolate", "a", "b", "--points", "1"], "--points must be >= 2"),
        (["encode", "--input", "{data}", "--output", "{tmp}/f.txt"], "must end in .csv or .npy"),
        (["reconstruct"], "give sentences"),
        (["evaluate", "--data", "{tmp}/missing.txt"], "does not exist"),
        (["evaluate", "--data", "{tmp}/empty.txt"], "is empty"),
        (["probe", "--data", "{tmp}/unlabeled.txt", "--test", "{data}"], "needs labels"),
        (["probe", "--data", "{data}", "--test", "{data}", "--labels", "500"], "500 labels asked for"),
    ],
)
def test_command_errors_are_one_line(trained, capsys, argv, message):
    tmp, runs = trained
    (tmp / "empty.txt").write_text("")
    (tmp / "unlabeled.txt").write_text("no label here\nnone here either\n")
    argv = [a.format(tmp=tmp, data=tmp / "train.txt") for a in argv]
    assert main(["text", argv[0], "--model", str(runs["paper"] / "model"), *argv[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_language_model_has_no_latent_commands(trained, capsys):
    _, runs = trained
    assert main(["text", "sample", "--model", str(runs["lm"] / "model")]) == 2
    assert "plain language model" in capsys.readouterr().err


def test_broken_model_directories(trained, tmp_path, capsys):
    import shutil

    _, runs = trained
    broken = tmp_path / "m"
    shutil.copytree(runs["paper"] / "model", broken)
    (broken / "tokenizer" / "tokenizer.json").write_text("{not json")
    assert main(["text", "sample", "--model", str(broken)]) == 2
    assert "cannot load the tokenizer" in capsys.readouterr().err
    assert main(["text", "sample", "--model", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_invalid_options(trained, capsys):
    tmp, _ = trained
    (tmp / "bad.toml").write_text("[model]\ntokenizer = 'chars'\n")
    assert (
        main(
            [
                "text",
                "train",
                "--config",
                str(tmp / "bad.toml"),
                "--data",
                str(tmp / "train.txt"),
                "--out",
                str(tmp / "bad"),
            ]
        )
        == 2
    )
    assert "tokenizer" in capsys.readouterr().err
    assert not (tmp / "bad").exists()


def test_latent_preset_trains_with_a_bag_of_words_head(trained):
    import torch

    from lebm.text.model import TextModel

    tmp, _ = trained
    (tmp / "latent.toml").write_text(
        TINY.replace("[model.ebm.posterior_chain]\nsteps = 3", "[model.ebm.posterior_chain]\nsteps = 0")
    )
    out = tmp / "run_latent"
    assert (
        main(
            [
                "text",
                "train",
                "--preset",
                "latent",
                "--config",
                str(tmp / "latent.toml"),
                "--data",
                str(tmp / "train.txt"),
                "--out",
                str(out),
                "--quiet",
                "--probe",
                "6",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "nll_x" in r]
    assert "nll_bag" in steps[0] and "kl_ref" in steps[0] and "f_spread" in steps[0]
    assert np.mean([r["nll_bag"] for r in steps[-5:]]) < np.mean([r["nll_bag"] for r in steps[:5]])
    model = TextModel.from_pretrained(out / "model")
    assert model.heads["bag"].config.size == model.config.vocab_size
    assert model.ebm.posterior_chain.steps == 0 and model.prior.config.kind == "ebm"
    assert torch.isfinite(model.prior(torch.randn(8, 4))).all()


def test_latent_preset_warm_started_from_a_language_model(trained):
    """[train] warm_start = an LM's model directory: the run takes the LM's tokenizer and decoder (z's weights at
    zero), so its first steps already score the sentences about as well as the trained LM, far better than a
    cold start."""
    from lebm.text.model import TextModel

    tmp, runs = trained
    latent = TINY.replace("[model.ebm.posterior_chain]\nsteps = 3", "[model.ebm.posterior_chain]\nsteps = 0").replace(
        "steps = 40", "steps = 5"
    )
    (tmp / "warm.toml").write_text(latent + f"warm_start = {json.dumps(str(runs['lm'] / 'model'))}\n")
    (tmp / "cold.toml").write_text(latent)
    first = {}
    for name in ("warm", "cold"):
        out = tmp / f"run_{name}"
        assert (
            main(
                [
                    "text",
                    "train",
                    "--preset",
                    "latent",
                    "--config",
                    str(tmp / f"{name}.toml"),
                    "--data",
                    str(tmp / "train.txt"),
                    "--out",
                    str(out),
                    "--quiet",
                    "--probe",
                    "6",
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        first[name] = next(r["nll_x"] for r in log if "nll_x" in r)
    lm = TextModel.from_pretrained(runs["lm"] / "model")
    warm = TextModel.from_pretrained(tmp / "run_warm" / "model")
    assert warm.tokenizer.get_vocab() == lm.tokenizer.get_vocab()
    assert first["warm"] < 0.6 * first["cold"], first


def test_encoding_says_when_it_cuts_a_long_text(trained, capsys):
    _, runs = trained
    long = " ".join(["the team won the match ."] * 12)  # 72 words; the model takes 40 tokens
    assert main(["text", "reconstruct", "--model", str(runs["paper"] / "model"), "the team won .", long]) == 0
    err = capsys.readouterr().err
    assert "1 of 2 texts are longer than the model's 40 tokens" in err and "(texts 2)" in err
    assert main(["text", "reconstruct", "--model", str(runs["paper"] / "model"), "the team won ."]) == 0
    assert "longer than" not in capsys.readouterr().err


def test_gpt2_decoder_trains_and_round_trips(trained, capsys):
    """`decoder.cell = "gpt2"` (transformers' GPT-2, random initialisation) trains with the latent preset: its
    loss falls, the directory loads back to the same log-likelihoods, and the usual commands run on it."""
    import torch

    from lebm.core.transformer import TransformerDecoder
    from lebm.text.model import TextModel

    tmp, _ = trained
    config = TINY.replace("[model.ebm.posterior_chain]\nsteps = 3", "[model.ebm.posterior_chain]\nsteps = 0")
    (tmp / "gpt2.toml").write_text(config.replace("[model.decoder]\n", '[model.decoder]\ncell = "gpt2"\nlayers = 2\n'))
    out = tmp / "run_gpt2"
    assert (
        main(
            [
                "text",
                "train",
                "--preset",
                "latent",
                "--config",
                str(tmp / "gpt2.toml"),
                "--data",
                str(tmp / "train.txt"),
                "--out",
                str(out),
                "--quiet",
                "--probe",
                "6",
                "--threads",
                "1",
                "--steps",
                "60",
            ]
        )
        == 0
    )
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    nll = [r["nll_x"] for r in log if "nll_x" in r]
    assert np.mean(nll[-5:]) < 0.7 * np.mean(nll[:5])
    model = TextModel.from_pretrained(out / "model")
    assert isinstance(model.generator, TransformerDecoder) and len(model.generator.gpt.transformer.h) == 2
    model.save_pretrained(tmp / "gpt2_copy")
    copy = TextModel.from_pretrained(tmp / "gpt2_copy")
    x = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 2, 0]])
    z = torch.randn(2, 4)
    assert torch.equal(model.generator.log_likelihood(x, z), copy.generator.log_likelihood(x, z))
    capsys.readouterr()
    assert (
        main(
            [
                "text",
                "reconstruct",
                "--model",
                str(out / "model"),
                "the team won the match .",
                "--method",
                "beam",
                "--beam",
                "3",
            ]
        )
        == 0
    )
    assert "->" in capsys.readouterr().out


def test_max_minutes_bounds_the_whole_command_and_leaves_a_checkpoint(trained):
    """With an evaluation that costs seconds (150-step posterior chains), a `--max-minutes` run stops before its
    steps are done, still runs its final evaluation at the stopped step, and resumes from its checkpoint (the
    trainer's test bounds the whole run's time on an injected clock)."""
    tmp, _ = trained
    (tmp / "slow.toml").write_text(
        TINY.replace("[model.ebm.posterior_chain]\nsteps = 3", "[model.ebm.posterior_chain]\nsteps = 150")
    )
    out, budget = tmp / "run_budget", 0.5
    args = [
        "text",
        "train",
        "--preset",
        "paper",
        "--config",
        str(tmp / "slow.toml"),
        "--data",
        str(tmp / "train.txt"),
        "--out",
        str(out),
        "--quiet",
        "--probe",
        "48",
        "--threads",
        "1",
        "--steps",
        "1000000",
    ]
    assert main([*args, "--max-minutes", str(budget)]) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    stopped = max(r["step"] for r in log)
    assert stopped > 0 and [r for r in log if "eval" in r][-1]["step"] == stopped  # the final evaluation ran
    assert main([*args, "--resume", "--steps", str(stopped + 3)]) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "nll_x" in r][-1] == stopped + 3


def test_demo_runs_from_the_bundled_model(capsys):
    """`lebm text demo` with no arguments: the bundled BBC model's five samples, three BBC test sentences each
    reconstructed from the posterior and after refinement, and an eight-point interpolation whose ends differ; the
    other commands use the bundled model without --model too."""
    from lebm.text.cli import BUNDLED

    assert (BUNDLED / "model.safetensors").is_file()
    assert main(["text", "demo", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    samples = out.split("from the prior")[1].split("three BBC")[0].strip().splitlines()[1:]
    assert len(samples) == 5 and all(line.strip() for line in samples)
    assert out.count("    -> ") == 6 and out.count("(refined)") == 3
    path = [line.split(None, 1)[1] for line in out.split("eight points")[1].strip().splitlines()[1:]]
    assert len(path) == 8 and path[0] != path[-1]
    assert "<unk>" not in out and "\ufffd" not in out  # subword tokens: nothing unknown, no broken bytes
    assert main(["text", "reconstruct", "--device", "cpu", "the bank raised interest rates again this year ."]) == 0
    assert capsys.readouterr().out.strip()


def test_zero_refinement_steps_reproduce_the_plain_outputs(tmp_path, capsys):
    """--refine-steps 0 is the model's own inference: reconstruct's default; encode's features are then the
    encoder's means exactly, while encode's default (refinement for an encoder model) moves them."""
    from lebm.text.cli import BUNDLED
    from lebm.text.data import encode
    from lebm.text.model import TextModel

    sentences = ["the bank raised interest rates again this year .", "the team won the match ."]
    (tmp_path / "in.txt").write_text("\n".join(sentences) + "\n")
    outputs, features = [], []
    for i, extra in enumerate(([], ["--refine-steps", "0"])):
        assert main(["text", "reconstruct", "--device", "cpu", sentences[0], *extra]) == 0
        outputs.append(capsys.readouterr().out)
        out = tmp_path / f"f{i}.npy"
        assert (
            main(
                ["text", "encode", "--device", "cpu", "--input", str(tmp_path / "in.txt"), "--output", str(out), *extra]
            )
            == 0
        )
        capsys.readouterr()
        features.append(np.load(out))
    assert outputs[0] == outputs[1] and outputs[0].strip()
    model = TextModel.from_pretrained(BUNDLED).eval()
    assert model.encoder_posterior
    with torch.no_grad():
        means = model.encoder(encode(model.tokenizer, sentences, model.config.max_len, "truncate").ids.long())[0]
    assert features[1].shape == (2, model.prior.latent_dim)
    np.testing.assert_allclose(features[1], means.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(features[0], features[1])
