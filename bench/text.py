"""Text benchmark: LSTM language model, Gaussian VAE (KL annealing), short-run inference with the
Gaussian prior (paper preset), with the latent EBM prior, and the fast preset; same sizes, same
wall-clock training budget each, on the embedded BBC News corpus.

Every model is trained by `lebm text train` (1 CPU thread, --max-minutes), then scored by
`lebm text evaluate` (importance-sampled NLL, PPL, REC, KL, MI, AU on the first N test sentences) and
`lebm text probe` (logistic regression on posterior means with 100 / 1,000 labels, refined), greedy
reconstruction word overlap (bench/text_reconstruction.py) from the model's posterior and, for an encoder model,
after --refine-steps refinement steps (with that refinement's NLL bound beside), and sample quality: 1,000 samples
(temperature 1, no nucleus) per
model scored by the LSTM LM of the same comparison (NLL per token: lower is more fluent), beside the LM's own
samples and real test sentences, with distinct-2 (distinct word bigrams / bigrams: diversity). Every arm
uses the same tokenizer (--tokenizer, --vocab). Prints Markdown tables, ten prior samples and a ten-point
interpolation, and writes JSON.

    python bench/text.py [--minutes 8] [--models lm vae paper paper-ebm fast] [--out runs/bench_text]
                         [--tokenizer bpe --vocab 4000 --max-len 64] [--refine-steps 10]
    python bench/text.py --models latent-warm --minutes 50 --warm-start LM_MODEL_DIR   (the decoder starts
                         from a language model trained first; its minutes count towards the comparison)
    python bench/text.py --quality-only --models lm latent --out DIR   (sample quality of finished runs)
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from text_bundled import garbage
from text_reconstruction import overlaps
from timing import alternating_step_seconds

MODELS = {
    "lm": ("lm", None),
    "vae": ("vae", None),
    "latent": ("latent", None),
    "latent-warm": ("latent", None),
    "paper": ("paper", "gaussian"),
    "paper-ebm": ("paper", "ebm"),
    "fast": ("fast", "gaussian"),
    "fast-ebm": ("fast", "ebm"),
    "latent-ncp": ("latent", None),
    "latent-fb1": ("latent", None),
    "latent-fb1-bag4": ("latent", None),
    "latent-fb1-gpt2": ("latent", None),
    "latent-fb1-bag4-wd5": ("latent", None),
    "latent-fb3-bag4": ("latent", None),
    "latent-fb5-bag4": ("latent", None),
    "latent-chain2": ("latent", None),
}
# arms: settings on top of the preset (decoder options, [train] options, further tables); latent-ncp measured
# what the latent preset now is (it had input dropout 0.3 and the exact ELBO before); the fb1 arms ask the
# latent for more (a KL floor of 1 nat per dimension, a shorter KL warm-up; bag head weight 4; half of the
# decoder's previous-word inputs dropped, so that the words must come from z; fb3 / fb5: a floor of 3 / 5 nats
# per dimension, 96 / 160 nats in all, so that z carries several words' worth); latent-chain2: short-run inference
# in training, 2 posterior Langevin steps from the encoder's draw (as the fast preset) on top of the latent preset
ARMS = {
    "latent-ncp": ("input_dropout = 0.0\n", "elbo_energy = 0.0\n", ""),
    "latent-fb1": ("", "free_bits = 1.0\nkl_warmup_steps = 2000\n", ""),
    "latent-fb1-bag4": ("", "free_bits = 1.0\nkl_warmup_steps = 2000\n", "[model.ebm.bag]\nweight = 4.0\n"),
    "latent-fb3-bag4": ("", "free_bits = 3.0\nkl_warmup_steps = 2000\n", "[model.ebm.bag]\nweight = 4.0\n"),
    "latent-fb5-bag4": ("", "free_bits = 5.0\nkl_warmup_steps = 2000\n", "[model.ebm.bag]\nweight = 4.0\n"),
    "latent-chain2": ("", "", "[model.ebm.posterior_chain]\nsteps = 2\nnoise = 0.2\n"),
    "latent-fb1-bag4-wd5": (
        "input_dropout = 0.5\n",
        "free_bits = 1.0\nkl_warmup_steps = 2000\n",
        "[model.ebm.bag]\nweight = 4.0\n",
    ),
    # the GPT-2 decoder (2 layers, width 256 = the LSTM's state, 4 heads, z as a prefix, dropout 0.1)
    "latent-fb1-gpt2": (
        'cell = "gpt2"\nlayers = 2\nheads = 4\ndropout = 0.1\n',
        "free_bits = 1.0\nkl_warmup_steps = 2000\n",
        "",
    ),
}
PAIR = ("The company said profits rose sharply in the last quarter.", "The team won the match with a late goal.")


def lebm(*args: str) -> str:
    cmd = [sys.executable, "-m", "lebm", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def step_costs(args: argparse.Namespace) -> None:
    """Median seconds per learning step of the latent preset and the LSTM LM at the bench's sizes, the two taking
    turns on the same batches in one process (load on the machine hits both alike); JSON beside --json."""
    from lebm.core.config import deep_merge, from_dict, to_dict
    from lebm.core.learning import Learner
    from lebm.core.trainer import TrainConfig
    from lebm.text.cli import preset
    from lebm.text.commands import model_and_data
    from lebm.text.data import load_corpus, train_tokenizer
    from lebm.text.model import TextConfig

    torch.set_num_threads(1)
    corpus = load_corpus("bbc", "train")
    sizes = {"vocab_size": args.vocab, "decoder": {"embed": args.embed, "hidden": args.hidden}}
    learners, batch = {}, None
    for name in ("latent", "lm"):
        table = preset(name)
        cfg = from_dict(TextConfig, deep_merge(deep_merge(to_dict(TextConfig()), table["model"]), sizes))
        train = from_dict(TrainConfig, table.get("train", {}))
        batch = batch or train.batch_size
        torch.manual_seed(0)
        model, data = model_and_data(cfg, train_tokenizer(corpus.texts, cfg.tokenizer, cfg.vocab_size), corpus)
        learners[name] = (Learner(model, train, len(data["x"])), data)
    cost = alternating_step_seconds(learners, batch, args.cost_steps)
    result = {
        "command": "python bench/text.py " + " ".join(sys.argv[1:]),
        "batch_size": batch,
        "step_seconds": cost,
        "ratio": cost["latent"] / cost["lm"],
    }
    print(f"| preset | s / step (batch {batch}) |\n|---|---|")
    for name, seconds in cost.items():
        print(f"| {name} | {seconds:.4f} |")
    print(f"latent / lm per example: {result['ratio']:.2f}x")
    path = args.json.with_name(args.json.stem + "_cost.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))


def sample_quality(runs: dict[str, Path], lm_dir: Path, n: int, test_texts: list[str]) -> dict[str, dict[str, float]]:
    """Per-token NLL under the comparison's LM and distinct-2 of n samples of every model, of the LM's own
    samples and of real test sentences."""
    from lebm.text.data import encode
    from lebm.text.evaluate import WORD
    from lebm.text.model import TextModel

    lm = TextModel.from_pretrained(lm_dir).eval()

    def score(texts: list[str]) -> dict[str, float]:
        ids = encode(lm.tokenizer, texts, lm.config.max_len, "truncate").ids.long()
        with torch.no_grad():
            nll = torch.cat(
                [-lm.generator.log_likelihood(x, torch.zeros(len(x), lm.prior.latent_dim)) for x in ids.split(200)]
            )
        tokens = (ids != 0).sum(1) - 1
        words = [WORD.findall(t.lower()) for t in texts]
        bigrams = [pair for w in words for pair in itertools.pairwise(w)]
        return {
            "nll_per_token": float(nll.sum() / tokens.sum()),
            "distinct_2": len(set(bigrams)) / max(len(bigrams), 1),
            "unknown": sum(map(garbage, texts)) / len(texts),
        }

    torch.manual_seed(0)
    out = {"real test sentences": score(test_texts[:n])}
    for name, run in runs.items():
        model = TextModel.from_pretrained(run / "model").eval()
        z = model.sample_prior(n).z.detach() if model.latent else torch.zeros(n, model.prior.latent_dim)
        with torch.no_grad():
            out[name] = score([t or "." for t in model.decode_latents(z, "sample")])
    return out


def quality_table(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Sample quality of the trained runs args.out / model (the LM's among them) as a table; with --quality-only
    also written to --json."""
    from lebm.text.data import load_corpus

    quality = sample_quality(
        {name: args.out / name for name in args.models},
        args.out / "lm" / "model",
        args.quality_samples,
        load_corpus("bbc", args.split).texts,
    )
    print(
        "| samples of | NLL per token under the LM | distinct-2 | with <unk> or undecodable bytes |\n|---|---|---|---|"
    )
    for name, q in quality.items():
        print(f"| {name} | {q['nll_per_token']:.3f} | {q['distinct_2']:.3f} | {q['unknown']:.3f} |")
    if args.quality_only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "command": "python bench/text.py " + " ".join(sys.argv[1:]),
                    "samples": args.quality_samples,
                    "sample_quality": quality,
                },
                indent=1,
            )
        )
    return quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-clock budget per model")
    parser.add_argument(
        "--models", nargs="+", default=["lm", "vae", "paper", "paper-ebm", "fast"], choices=list(MODELS)
    )
    parser.add_argument("--tokenizer", choices=["bpe", "word"], default="bpe")
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--max-len", type=int, default=64, help="tokens per sentence (longer ones are skipped)")
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=10,
        help="posterior refinement steps of the refined columns and of the probe",
    )
    parser.add_argument("--overlap-sentences", type=int, default=300, help="test sentences reconstructed")
    parser.add_argument("--quality-samples", type=int, default=1000, help="samples per model scored by the LM")
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--test-sentences", type=int, default=300)
    parser.add_argument(
        "--split",
        choices=["valid", "test"],
        default="test",
        help="BBC split scored (valid: for choosing settings such as the vocabulary size)",
    )
    parser.add_argument("--samples", type=int, default=50, help="importance samples per sentence")
    parser.add_argument("--kl-warmup", type=int, default=300, help="VAE: KL annealing steps (fit to the budget)")
    parser.add_argument(
        "--warm-start",
        type=Path,
        help="latent arms start their decoder from this language model "
        "directory (its training time is not in --minutes)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_text"))
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "text.json")
    parser.add_argument(
        "--cost",
        action="store_true",
        help="only time training steps: latent preset vs LSTM LM (steps taking turns in one process); no training runs",
    )
    parser.add_argument("--cost-steps", type=int, default=20)
    parser.add_argument(
        "--quality-only",
        action="store_true",
        help="only the sample quality of the runs already in --out (lm among --models)",
    )
    args = parser.parse_args()
    if args.cost:
        return step_costs(args)
    if args.quality_only:
        return quality_table(args)
    args.out.mkdir(parents=True, exist_ok=True)

    def sizes(name: str) -> Path:
        decoder, train, tables = ARMS.get(name, ("", "", ""))
        if args.warm_start and name != "lm":  # the decoder starts from a language model's (counted in --minutes)
            train += f"warm_start = {json.dumps(str(args.warm_start))}\n"
        path = args.out / ("sizes.toml" if name not in ARMS and not args.warm_start else f"sizes-{name}.toml")
        path.write_text(
            f'[model]\ntokenizer = "{args.tokenizer}"\nvocab_size = {args.vocab}\n'
            f"max_len = {args.max_len}\n[model.decoder]\nembed = {args.embed}\n"
            f"hidden = {args.hidden}\n{decoder}[train]\neval_every = 0\ncheckpoint_every = 500\n"
            f"steps = 1000000\n{train}{tables}"
        )
        return path

    result = {
        "command": "python bench/text.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, 1 thread",
        "minutes": args.minutes,
        "rows": [],
    }
    for name in args.models:
        preset, prior = MODELS[name]
        run = args.out / name
        train = (
            [
                "text",
                "train",
                "--preset",
                preset,
                "--config",
                str(sizes(name)),
                "--out",
                str(run),
                "--threads",
                "1",
                "--max-minutes",
                str(args.minutes),
                "--quiet",
                "--device",
                "cpu",
                "--resume",
            ]
            + (["--prior", prior] if prior else [])
            + (["--kl-warmup-steps", str(args.kl_warmup)] if name == "vae" else [])
        )
        start = time.perf_counter()
        lebm(*train)
        log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
        steps = [r for r in log if "nll_x" in r]
        model = str(run / "model")
        lebm(
            "text",
            "evaluate",
            "--model",
            model,
            "--max-sentences",
            str(args.test_sentences),
            "--samples",
            str(args.samples),
            "--chains",
            "4",
            "--device",
            "cpu",
            "--split",
            args.split,
            "--refine-steps",
            "0",
            "--json",
            str(run / "evaluate.json"),
        )
        ev = json.loads((run / "evaluate.json").read_text())
        row = {**ev, "model": name, "train_steps": steps[-1]["step"], "train_seconds": steps[-1]["seconds"]}
        if name != "lm":
            from lebm.text.data import load_corpus
            from lebm.text.model import TextModel

            trained = TextModel.from_pretrained(model).eval()
            refine = args.refine_steps if trained.encoder_posterior else 0  # a chain model keeps its own chains
            if args.split == "test":  # the probe scores the test split
                lebm(
                    "text",
                    "probe",
                    "--model",
                    model,
                    "--pool",
                    "1000",
                    "--test-size",
                    "500",
                    "--labels",
                    "100",
                    "1000",
                    "--seeds",
                    "3",
                    "--chains",
                    "1",
                    "--device",
                    "cpu",
                    "--refine-steps",
                    str(refine),
                    "--json",
                    str(run / "probe.json"),
                )
                probe = json.loads((run / "probe.json").read_text())["accuracy"]
                row |= {f"probe_{k}": sum(v) / len(v) for k, v in probe.items()}
            texts = load_corpus("bbc", args.split).texts[: args.overlap_sentences]
            torch.manual_seed(0)
            row["overlap"] = float(overlaps(trained, texts)[0].mean())
            if refine:
                lebm(
                    "text",
                    "evaluate",
                    "--model",
                    model,
                    "--max-sentences",
                    str(args.test_sentences),
                    "--samples",
                    str(args.samples),
                    "--chains",
                    "4",
                    "--device",
                    "cpu",
                    "--refine-steps",
                    str(refine),
                    "--split",
                    args.split,
                    "--json",
                    str(run / "evaluate_refined.json"),
                )
                refined = json.loads((run / "evaluate_refined.json").read_text())
                torch.manual_seed(0)
                row |= {
                    "refined_nll": refined["nll"],
                    "refined_ppl": refined["ppl"],
                    "refine_steps": refine,
                    "refined_overlap": float(overlaps(trained, texts, refine_steps=refine)[0].mean()),
                }
            row["samples"] = lebm("text", "sample", "--model", model, "-n", "10", "--device", "cpu").splitlines()
            row["interpolation"] = lebm(
                "text", "interpolate", "--model", model, *PAIR, "--points", "10", "--device", "cpu"
            ).splitlines()
        row["wall_seconds"] = time.perf_counter() - start
        result["rows"].append(row)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in row.items() if k not in ("samples", "interpolation")}), flush=True)
    if "lm" in args.models and args.quality_samples:
        result["sample_quality"] = quality_table(args)
    # training tokens per second: predicted tokens per sentence (from the test evaluation) x batch x steps
    cols = [
        "model",
        "nll",
        "ppl",
        "ppl_word",
        "rec",
        "kl",
        "mi",
        "au",
        "probe_100",
        "probe_1000",
        "overlap",
        "refined_overlap",
        "refined_ppl",
        "train tokens/s",
    ]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in result["rows"]:
        r["train_tokens_per_s"] = r["train_steps"] * 32 * r["tokens"] / r["sentences"] / r["train_seconds"]
        cells = (
            [r["model"]] + [f"{r[k]:.3g}" if k in r else "-" for k in cols[1:-1]] + [f"{r['train_tokens_per_s']:.0f}"]
        )
        print("| " + " | ".join(cells) + " |")
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
