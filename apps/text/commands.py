"""`lebm text ...`: train, evaluate, sample, reconstruct, interpolate, encode, probe, config."""

from __future__ import annotations

import argparse
import sys
from typing import Literal

import numpy as np
import torch

from lebm.core.cli import picked, print_preset, train_command
from lebm.core.config import deep_merge, from_dict, load_toml, resolve, to_dict
from lebm.core.distributed import pick_device
from lebm.core.errors import DataError
from lebm.core.io import RUN_ENTRIES, claim_dir, save_json, write_atomic
from lebm.core.trainer import TrainConfig

from .api import posterior_means, require_latent
from .cli import REFINE_STEPS, preset
from .data import Corpus, encode, load_corpus, load_tokenizer, train_tokenizer
from .evaluate import evaluate
from .model import TextConfig, TextModel


def settings(args: argparse.Namespace) -> tuple[TextConfig, TrainConfig]:
    toml = deep_merge(preset(args.preset), load_toml(args.config) if args.config else {})
    model_table = toml.get("model", {})
    if args.prior:
        model_table = deep_merge(model_table, {"ebm": {"prior": {"kind": args.prior}}})
    if args.tokenizer:
        model_table = deep_merge(model_table, {"tokenizer": args.tokenizer})
    cfg = from_dict(TextConfig, deep_merge(to_dict(TextConfig()), model_table), where="model.")
    return cfg, resolve(TrainConfig, args, toml.get("train", {}), where="train.")


def corpus_ids(
    model: TextModel, corpus: Corpus, overlong: Literal["skip", "truncate"] | None = None
) -> tuple[torch.Tensor, list[int]]:
    enc = encode(model.tokenizer, corpus.texts, model.config.max_len, overlong or model.config.overlong)
    skipped = {k: v for k, v in enc.counts.items() if v}
    if skipped:
        print(
            f"tokens: {len(enc.kept)} texts kept; " + ", ".join(f"{k} {v}" for k, v in skipped.items()), file=sys.stderr
        )
    return enc.ids, enc.kept


def model_and_data(cfg: TextConfig, tokenizer, corpus: Corpus) -> tuple[TextModel, dict[str, torch.Tensor]]:
    """A fresh model and its training tensors: token ids, and the bags of words when the model has a bag head."""
    if cfg.ebm.bag.size:  # the bag of a sentence is its set of words: one bit per vocabulary entry
        cfg.ebm.bag.size = len(tokenizer)
    model = TextModel(cfg, tokenizer)
    ids, _ = corpus_ids(model, corpus)
    data = {"x": ids}
    if cfg.ebm.bag.size:
        data["bag"] = torch.zeros(len(ids), cfg.ebm.bag.size, dtype=torch.uint8).scatter_(1, ids.long(), 1)
        data["bag"][:, :3] = 0  # <pad>, <bos>, <eos>
    return model, data


def progress_probe(valid: torch.Tensor):
    """Eval callback: NLL, REC, KL, MI and AU on a fixed held-out batch (cheap settings)."""

    def probe(model: TextModel) -> dict[str, float]:
        out = evaluate(model, valid, samples=20, chains=4, log_z_draws=20_000)
        return {k: float(out[k]) for k in ("nll", "ppl", "rec", "kl", "mi", "au") if k in out}

    return probe


def cmd_train(args: argparse.Namespace) -> int:
    claim_dir(args.out, resume=args.resume, overwrite=args.overwrite, owned=RUN_ENTRIES)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, train_cfg = settings(args)
    corpus = load_corpus(args.data, "train")
    print(f"data: {corpus.summary()}", file=sys.stderr)
    saved = args.out / "checkpoint" / "tokenizer"
    if args.resume and saved.is_dir():
        tokenizer = load_tokenizer(saved)
    elif train_cfg.init_from or train_cfg.warm_start:  # the starting model fixes the tokens
        tokenizer = TextModel.from_pretrained(train_cfg.init_from or train_cfg.warm_start).tokenizer
    else:
        tokenizer = train_tokenizer(corpus.texts, cfg.tokenizer, cfg.vocab_size)
    torch.manual_seed(train_cfg.seed)
    model, data = model_and_data(cfg, tokenizer, corpus)
    ids = data["x"]
    valid_source = args.valid or ("bbc" if args.data == "bbc" else None)
    valid = (
        corpus_ids(model, load_corpus(valid_source, "valid"))[0][: args.probe] if valid_source else ids[-args.probe :]
    )
    return train_command(args, model, data, cfg, train_cfg, progress_probe(valid))


def load_model(args: argparse.Namespace) -> TextModel:
    """The model of --model, in eval mode, seeded; an unset --refine-steps becomes the model's default."""
    model = TextModel.from_pretrained(args.model, device=pick_device(args.device))
    model.eval()
    if getattr(args, "refine_steps", 0) is None:
        args.refine_steps = REFINE_STEPS if model.encoder_posterior else 0
    torch.manual_seed(args.seed)
    return model


def write_rows(args: argparse.Namespace, rows) -> int:
    """With -o FILE, the printed rows also as a CSV file (written atomically)."""
    if args.output is not None:
        import pandas as pd

        frame = pd.DataFrame(rows)
        write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def api_model(args: argparse.Namespace):
    """The command's model as the Python API's lebm.text.Model."""
    from .api import Model

    return Model(load_model(args))


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = load_model(args)
    corpus = load_corpus(args.data, args.split)
    ids = corpus_ids(model, corpus, args.overlong)[0]
    ids = ids[: args.max_sentences] if args.max_sentences else ids
    from .api import Model

    out = Model(model).evaluate(ids, **picked(args, "samples", "chains", "batch_size", "seed", "refine_steps", "quiet"))
    out = {"model": str(args.model), "data": args.data, "split": args.split if args.data == "bbc" else None} | out
    print("| " + " | ".join(out) + " |\n|" + "---|" * len(out))
    print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in out.values()) + " |")
    if args.json:
        save_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise DataError(f"-n must be >= 1, got {args.n}")
    texts = api_model(args).sample(args.n, args.seed, args.method, args.temperature, args.top_p, args.beam)
    for text in texts:
        print(text)
    return write_rows(args, {"text": texts})


def texts_from(args: argparse.Namespace) -> list[str]:
    texts = list(args.text or [])
    if args.file:
        texts += load_corpus(str(args.file)).texts
    if not texts:
        raise DataError("give sentences as arguments or --file")
    return texts


def cmd_reconstruct(args: argparse.Namespace) -> int:
    frame = api_model(args).reconstruct(
        texts_from(args), args.seed, args.chains, args.refine_steps, args.method, args.beam
    )
    for text, rec in zip(frame.text, frame.reconstruction):
        print(f"{text}\n  -> {rec}")
    return write_rows(args, frame)


def cmd_interpolate(args: argparse.Namespace) -> int:
    if args.points < 2:
        raise DataError(f"--points must be >= 2, got {args.points}")
    frame = api_model(args).interpolate(
        args.start, args.end, args.points, **picked(args, "method", "beam", "seed", "chains", "refine_steps")
    )
    for t, text in zip(frame.t, frame.text):
        print(f"{t:.2f}  {text}")
    return write_rows(args, frame)


def cmd_encode(args: argparse.Namespace) -> int:
    model = load_model(args)
    require_latent(model, "encoding")
    if args.output.suffix not in (".csv", ".npy"):
        raise DataError(f"--output must end in .csv or .npy, got {args.output.name}")
    corpus = load_corpus(str(args.input))
    from .api import Model

    feats = Model(model).encode(corpus.texts, args.seed, args.chains, args.refine_steps, quiet=args.quiet)
    if args.output.suffix == ".npy":
        write_atomic(args.output, lambda p: np.save(p.open("wb"), feats))
    else:
        import pandas as pd

        frame = pd.DataFrame(feats, columns=[f"z{i}" for i in range(feats.shape[1])])
        frame.insert(0, "label", corpus.labels)
        write_atomic(args.output, lambda p: frame.to_csv(p, index=False))
    print(f"wrote {len(feats)} x {feats.shape[1]} latent features to {args.output}")
    return 0


def probe_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, labels: list[int], seeds: int
) -> dict[int, list[float]]:
    """Logistic regression on n labeled rows drawn at random (seed s), accuracy on the test rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    out = {}
    for n in labels:
        if n > len(train_y):
            raise DataError(f"{n} labels asked for, but the probe's training pool has {len(train_y)} rows")
        accs = []
        for s in range(seeds):
            rows = np.random.RandomState(s).permutation(len(train_y))[:n]
            scaler = StandardScaler().fit(train_x[rows])
            clf = LogisticRegression(max_iter=2000).fit(scaler.transform(train_x[rows]), train_y[rows])
            accs.append(float((clf.predict(scaler.transform(test_x)) == test_y).mean()))
        out[n] = accs
    return out


def labeled(corpus: Corpus, limit: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rows = [i for i, lab in enumerate(corpus.labels) if lab is not None]
    if not rows:
        raise DataError("the probe needs labels (label<TAB>text lines)")
    rows = sorted(np.random.RandomState(seed).permutation(rows)[:limit].tolist())
    return [corpus.texts[i] for i in rows], np.array([corpus.labels[i] for i in rows])


def cmd_probe(args: argparse.Namespace) -> int:
    model = load_model(args)
    require_latent(model, "the latent probe")
    train_texts, train_y = labeled(load_corpus(args.data, "train"), args.pool)
    test_texts, test_y = labeled(load_corpus(args.test or args.data, args.split), args.test_size)

    def features(texts: list[str]) -> np.ndarray:
        return posterior_means(model, texts, args.chains, args.quiet, refine_steps=args.refine_steps).numpy()

    result = probe_accuracy(features(train_texts), train_y, features(test_texts), test_y, args.labels, args.seeds)
    print("| labels | accuracy (mean ± std over seeds) |\n|---|---|")
    for n, accs in result.items():
        print(f"| {n} | {np.mean(accs):.4f} ± {np.std(accs):.4f} |")
    if args.json:
        save_json(
            args.json,
            {
                "model": str(args.model),
                "pool": len(train_y),
                "test": len(test_y),
                "accuracy": {str(k): v for k, v in result.items()},
            },
        )
        print(f"wrote {args.json}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Five prior samples, three BBC test sentences reconstructed from the encoder's posterior and after
    short-run refinement, and an eight-point interpolation."""
    model = load_model(args)
    require_latent(model, "the demo")
    print(f"model: {args.model}\n\nfive sentences from the prior (nucleus sampling, top-p 0.9):")
    for text in model.decode_latents(model.sample_prior(5).z.detach(), "sample", top_p=0.9):
        print(f"  {text}")
    test = load_corpus("bbc", "test").texts
    short = [t for t in test if 8 <= len(t.split()) <= 20]
    picked = [short[i] for i in np.random.RandomState(args.seed).permutation(len(short))[:3]]
    z = posterior_means(model, picked, args.chains).to(model.device())
    refined = posterior_means(model, picked, args.chains, refine_steps=args.refine_steps).to(model.device())
    print(
        f"\nthree BBC test sentences, greedy reconstructions from the model's posterior and after "
        f"{args.refine_steps} Langevin refinement steps:"
    )
    for text, rec, ref in zip(picked, model.decode_latents(z, "greedy"), model.decode_latents(refined, "greedy")):
        print(f"  {text}\n    -> {rec}\n    -> {ref}  (refined)")
    w = torch.linspace(0, 1, 8, device=z.device)[:, None]
    print("\neight points on the line between the first two sentences' latents (greedy):")
    for t, text in zip(w[:, 0].tolist(), model.decode_latents((1 - w) * z[0] + w * z[1], "greedy")):
        print(f"  {t:.1f}  {text}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    return print_preset(args.preset, TextConfig, preset(args.preset))
