"""How much of a sentence a text model's latent carries: greedy reconstructions of BBC test sentences.

For each model: the first N test sentences that fit the model's max_len, their posterior means (the
model's own inference, `lebm text reconstruct`), greedy decoding; the overlap of a sentence is the
share of its distinct words (lower-cased runs of letters and digits, <unk> left out: the same for a
word-level and a BPE tokenizer) that appear in its reconstruction. Prints the distribution (mean, quartiles, share
of sentences with
overlap >= 0.5) and writes JSON.

    python bench/text_reconstruction.py MODEL_DIR [MODEL_DIR ...] [--sentences 500] [--json FILE]
        [--split valid] [--refine-steps 0 10 30]   (posterior refinement at inference time, chosen on valid)
        [--encoder-only]   (a model trained with posterior chains, read through its encoder alone)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

from lebm.text.commands import posterior_means
from lebm.text.data import decode, encode, load_corpus
from lebm.text.model import TextModel


def content_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower().replace("<unk>", " "))) - {"unk"}


def overlaps(
    model: TextModel, texts: list[str], chains: int = 4, refine_steps: int = 0
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    enc = encode(model.tokenizer, texts, model.config.max_len, "skip")
    inputs = decode(model.tokenizer, enc.ids)
    z = posterior_means(model, [texts[i] for i in enc.kept], chains, refine_steps=refine_steps)
    outputs = model.decode_latents(z, "greedy")
    shares = [len(content_words(a) & content_words(b)) / max(len(content_words(a)), 1) for a, b in zip(inputs, outputs)]
    return np.array(shares), list(zip(inputs, outputs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--sentences", type=int, default=500, help="first N BBC test sentences (before skipping)")
    parser.add_argument("--split", default="test", choices=["valid", "test"], help="BBC split of the sentences")
    parser.add_argument(
        "--refine-steps", type=int, nargs="+", default=[0], help="posterior refinement steps (each a row)"
    )
    parser.add_argument(
        "--encoder-only",
        action="store_true",
        help="0 posterior chain steps: the encoder's mean (then refined) instead of the model's chains",
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "text_reconstruction.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts = load_corpus("bbc", args.split).texts[: args.sentences]
    rows = []
    print("| model | refine steps | sentences | mean overlap | quartiles | share >= 0.5 |\n|---|---|---|---|---|---|")
    for directory, steps in ((d, k) for d in args.models for k in args.refine_steps):
        torch.manual_seed(0)
        model = TextModel.from_pretrained(directory).eval()
        if args.encoder_only:
            model.ebm.posterior_chain.steps = 0
        shares, pairs = overlaps(model, texts, refine_steps=steps)
        q = np.percentile(shares, [25, 50, 75])
        row = {
            "model": str(directory),
            "refine_steps": steps,
            "encoder_only": args.encoder_only,
            "split": args.split,
            "sentences": len(shares),
            "mean": float(shares.mean()),
            "quartiles": q.tolist(),
            "share_at_least_half": float((shares >= 0.5).mean()),
            "examples": [f"{a}  ->  {b}" for a, b in pairs[:5]],
        }
        rows.append(row)
        print(
            f"| {directory} | {steps} | {len(shares)} | {row['mean']:.3f} | {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f} | "
            f"{row['share_at_least_half']:.3f} |",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"command": "python bench/text_reconstruction.py " + " ".join(sys.argv[1:]), "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
