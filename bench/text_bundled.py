"""What a user of the bundled text model sees: clean outputs, interpolations, evaluation time.

For a model directory (default: the bundled models/bbc-text):
- outputs with an unknown token or byte-fallback garbage (<unk>, U+FFFD) among N prior samples
  (temperature 1), the greedy reconstructions of the first BBC sentences of a split (posterior and refined),
  and the interpolations below;
- interpolations: P pairs of consecutive sentences of the split, 8 points each (greedy, the posterior means
  of `lebm text interpolate`); a pair passes with >= 6 distinct sentences, each ending in punctuation;
- `lebm text evaluate` on 1,000 sentences with its default refinement: wall-clock minutes (one thread).
Prints a Markdown table and writes JSON.

    python bench/text_bundled.py [--model models/bbc-text] [--split test] [--samples 1000] [--pairs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import string
import subprocess
import sys
import time
from pathlib import Path

import torch

from lebm.text.commands import posterior_means
from lebm.text.data import load_corpus
from lebm.text.model import TextModel

ROOT = Path(__file__).resolve().parents[1]


def garbage(text: str) -> bool:
    return "<unk>" in text or "\ufffd" in text


def ends_in_punctuation(line: str) -> bool:
    return line.strip()[-1:] in string.punctuation


def interpolation_passes(lines: list[str]) -> bool:
    return len(set(lines)) >= 6 and all(map(ends_in_punctuation, lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "bbc-text")
    parser.add_argument("--split", default="test", choices=["valid", "test"])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sentences", type=int, default=300, help="sentences reconstructed")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--refine-steps", type=int, default=10, help="refinement of the refined reconstructions")
    parser.add_argument("--evaluate-sentences", type=int, default=1000, help="0: skip the timing")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "text_bundled.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TextModel.from_pretrained(args.model).eval()
    texts = [
        t for t in load_corpus("bbc", args.split).texts if len(model.tokenizer.tokenize(t)) <= model.config.max_len
    ]
    samples = model.decode_latents(model.sample_prior(args.samples).z.detach(), "sample")
    picked = texts[: args.sentences]
    plain = model.decode_latents(posterior_means(model, picked, 4).to(model.device()), "greedy")
    refined = model.decode_latents(
        posterior_means(model, picked, 4, refine_steps=args.refine_steps).to(model.device()), "greedy"
    )
    ends = posterior_means(model, texts[: 2 * args.pairs], 4).to(model.device())
    w = torch.linspace(0, 1, 8, device=ends.device)[:, None, None]
    paths = ((1 - w) * ends[0::2][None] + w * ends[1::2][None]).transpose(0, 1)  # [pairs, 8, d]
    lines = model.decode_latents(paths.reshape(-1, ends.shape[1]), "greedy")
    interpolations = [lines[i : i + 8] for i in range(0, len(lines), 8)]
    row = {
        "model": str(args.model),
        "split": args.split,
        "bad_samples": sum(map(garbage, samples)),
        "samples": len(samples),
        "bad_reconstructions": sum(map(garbage, plain + refined)),
        "reconstructions": len(plain + refined),
        "bad_interpolation_lines": sum(map(garbage, lines)),
        "interpolation_lines": len(lines),
        "pairs": len(interpolations),
        "pairs_passing": sum(map(interpolation_passes, interpolations)),
        "distinct_per_pair": sum(len(set(p)) for p in interpolations) / len(interpolations),
        "ending_in_punctuation": sum(map(ends_in_punctuation, lines)) / len(lines),
        "example_interpolation": interpolations[0],
        "example_samples": samples[:5],
    }
    if args.evaluate_sentences:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lebm",
                "text",
                "evaluate",
                "--model",
                str(args.model),
                "--split",
                args.split,
                "--max-sentences",
                str(args.evaluate_sentences),
                "--device",
                "cpu",
                "--quiet",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        row["evaluate_minutes"] = (time.perf_counter() - start) / 60
    print(
        "| model | samples with <unk>/U+FFFD | reconstructions with | interpolation lines with | pairs passing "
        "| distinct / 8 | ending in punctuation | evaluate 1,000 (min) |\n|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| {args.model} | {row['bad_samples']} / {row['samples']} | {row['bad_reconstructions']} / "
        f"{row['reconstructions']} | {row['bad_interpolation_lines']} / {row['interpolation_lines']} | "
        f"{row['pairs_passing']} / {row['pairs']} | {row['distinct_per_pair']:.2f} | "
        f"{row['ending_in_punctuation']:.3f} | {row.get('evaluate_minutes', float('nan')):.2f} |"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"command": "python bench/text_bundled.py " + " ".join(sys.argv[1:]), "rows": [row]}, indent=1)
    )


if __name__ == "__main__":
    main()
