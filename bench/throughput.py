"""Generation throughput of latent models against the CharRNN: molecules per second of `generate_smiles`
(prior chain, decoding, SMILES strings), the models taking turns for several rounds so that load on the
machine hits them alike; reported per model, with the median per-round ratio to the CharRNN.

    python bench/throughput.py --charrnn runs/mol-charrnn/model --models bundled=models/zinc-lebm ... [-n 2000]
        [--rounds 5] [--json bench/results/throughput.json]

NAME=MODEL_DIR@K samples with a K-step prior chain instead of the model's own.

    python bench/throughput.py --training [--rounds 8] [--json bench/results/throughput_training.json]

Training: seconds per learning step in fp32 and under bf16 autocast (precision = "bf16"), the two taking turns on the
same batches: the molecule latent recipe (the bundled model's settings) with a GRU 256 and a GRU 512 decoder, the
GRU-512 CharRNN, the text latent preset's LSTM, and a semi-supervised estimator's whole fit on digits; then one
molecule run with one torch thread against two.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lebm.molecule.model import MoleculeModel

sys.path.insert(0, str(Path(__file__).parent))
from timing import alternating_step_seconds


def seconds(model: MoleculeModel, n: int, chain: dict) -> float:
    torch.manual_seed(0)
    start = time.perf_counter()
    model.generate_smiles(n, **chain)
    return time.perf_counter() - start


def molecule_learners(name: str, hidden: int, precisions: tuple[str, ...], batch: int, rows: int) -> dict:
    """NAME/precision -> (Learner, data) for the bundled recipe (or the CharRNN preset) at a decoder width."""
    from lebm.core.config import deep_merge, from_dict, load_toml, to_dict
    from lebm.core.learning import Learner
    from lebm.core.options import TrainConfig
    from lebm.molecule.cli import BUNDLED, preset
    from lebm.molecule.data import zinc250k_smiles
    from lebm.molecule.latent import fingerprint_bags
    from lebm.molecule.model import MoleculeConfig
    from lebm.molecule.tokens import Vocabulary

    table = preset("charrnn") if name == "charrnn" else load_toml(BUNDLED / "train_config.toml")
    model_table = deep_merge(table["model"], {"decoder": {"hidden": hidden}})
    cfg = from_dict(MoleculeConfig, deep_merge(to_dict(MoleculeConfig()), model_table))
    smiles = zinc250k_smiles("train")[:rows]
    vocab = Vocabulary.load(BUNDLED / "vocab.json")
    data = {"x": vocab.encode(smiles, cfg.max_len)}
    if cfg.ebm.bag.size:
        data["bag"] = fingerprint_bags(smiles, cfg.ebm.bag.size)
    for head in cfg.properties:
        data[head] = torch.randn(len(smiles))
    keep = {k: v for k, v in table.get("train", {}).items() if k in to_dict(TrainConfig())}
    out = {}
    for precision in precisions:
        torch.manual_seed(0)
        train = from_dict(TrainConfig, keep | {"batch_size": batch, "warm_start": "", "precision": precision})
        out[f"{name} GRU {hidden}/{precision}"] = (Learner(MoleculeModel(cfg, vocab), train, len(smiles)), data)
    return out


def text_learners(precisions: tuple[str, ...]) -> tuple[dict, int]:
    """The text latent preset (LSTM decoder) on BBC sentences, one learner per precision."""
    from lebm.core.config import deep_merge, from_dict, to_dict
    from lebm.core.learning import Learner
    from lebm.core.options import TrainConfig
    from lebm.text.cli import preset
    from lebm.text.commands import model_and_data
    from lebm.text.data import load_corpus, train_tokenizer
    from lebm.text.model import TextConfig

    corpus = load_corpus("bbc", "train")
    table = preset("latent")
    cfg = from_dict(TextConfig, deep_merge(to_dict(TextConfig()), table["model"]))
    tokenizer = train_tokenizer(corpus.texts, cfg.tokenizer, cfg.vocab_size)
    out, batch = {}, 0
    for precision in precisions:
        torch.manual_seed(0)
        model, data = model_and_data(cfg, tokenizer, corpus)
        train = from_dict(TrainConfig, table.get("train", {}) | {"precision": precision})
        batch = train.batch_size
        out[f"text {cfg.decoder.cell.upper()} {cfg.decoder.hidden}/{precision}"] = (
            Learner(model, train, len(data["x"])),
            data,
        )
    return out, batch


def semisup_fit_seconds(precisions: tuple[str, ...], rounds: int) -> dict[str, float]:
    """Median seconds of a whole SymbolVectorClassifier fit on digits (100 labels, 500 steps) per precision."""
    from sklearn.datasets import load_digits

    from lebm.semisup.estimator import SymbolVectorClassifier

    X, y = load_digits(return_X_y=True)
    y = np.where(np.random.RandomState(0).rand(len(y)) < 100 / len(y), y, -1)
    times: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(rounds):
        for precision in precisions:
            start = time.perf_counter()
            SymbolVectorClassifier(steps=500, random_state=0, precision=precision).fit(X / 16, y)
            times[precision].append(time.perf_counter() - start)
    return {f"semisup fit (digits, 500 steps)/{p}": statistics.median(t) for p, t in times.items()}


def training(args: argparse.Namespace) -> None:
    precisions = ("fp32", "bf16")
    batch, rows = 128, 128 * (args.rounds + 1)
    costs: dict[str, float] = {}
    for name, hidden in (("latent", 256), ("latent", 512), ("charrnn", 512)):
        costs |= alternating_step_seconds(molecule_learners(name, hidden, precisions, batch, rows), batch, args.rounds)
    learners, text_batch = text_learners(precisions)
    costs |= alternating_step_seconds(learners, text_batch, args.rounds)
    costs |= semisup_fit_seconds(precisions, max(1, args.rounds // 4))
    threads = {}
    for n in (1, 2):
        torch.set_num_threads(n)
        step = alternating_step_seconds(molecule_learners("latent", 512, ("bf16",), batch, rows), batch, args.rounds)
        threads[n] = next(iter(step.values()))
    torch.set_num_threads(1)
    rows_out = {}
    print("| what | fp32 s | bf16 s | speed-up |\n|---|---|---|---|")
    for key in [k for k in costs if k.endswith("/fp32")]:
        what = key.rsplit("/", 1)[0]
        fp32, bf16 = costs[key], costs[f"{what}/bf16"]
        rows_out[what] = {"fp32_s": fp32, "bf16_s": bf16, "speedup": fp32 / bf16}
        print(f"| {what} | {fp32:.3f} | {bf16:.3f} | {fp32 / bf16:.2f}x |")
    print(
        f"latent GRU 512, bf16: 1 thread {threads[1]:.3f} s a step, 2 threads {threads[2]:.3f} s "
        f"({threads[1] / threads[2]:.2f}x)"
    )
    result = {
        "command": "python bench/throughput.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "batch_size": batch,
        "rows": rows_out,
        "threads": {"1": threads[1], "2": threads[2]},
    }
    json_path = args.json or Path(__file__).parent / "results" / "throughput_training.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1))


def machine() -> str:
    from lebm.core.distributed import bf16_supported

    bf16 = "native bf16" if bf16_supported(torch.device("cpu")) else "no native bf16"
    return f"{platform.machine()} ({bf16}), Python {platform.python_version()}, torch {torch.__version__}, 1 thread"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charrnn", type=Path)
    parser.add_argument("--models", nargs="+", default=[], help="NAME=MODEL_DIR")
    parser.add_argument("--training", action="store_true", help="training-step costs in fp32 and bf16 instead")
    parser.add_argument("-n", type=int, default=2000, help="molecules per timing")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.training:
        return training(args)
    if args.charrnn is None or not args.models:
        parser.error("generation throughput needs --charrnn and --models (or give --training)")
    args.json = args.json or Path(__file__).parent / "results" / "throughput.json"
    models = {"charrnn": (MoleculeModel.from_pretrained(args.charrnn).eval(), {})}
    for item in args.models:
        name, _, spec = item.partition("=")
        directory, _, steps = spec.partition("@")
        models[name] = (MoleculeModel.from_pretrained(directory).eval(), {"steps": int(steps)} if steps else {})
    for model, chain in models.values():
        model.generate_smiles(100, **chain)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, chain) in models.items():
            times[name].append(seconds(model, args.n, chain))
    rows = {}
    print("| model | mol/s (median) | ratio to CharRNN (median of rounds) |\n|---|---|---|")
    for name in models:
        ratios = [c / t for c, t in zip(times["charrnn"], times[name])]
        rows[name] = {
            "mol_per_s": args.n / statistics.median(times[name]),
            "ratio": statistics.median(ratios),
            "seconds": times[name],
        }
        print(f"| {name} | {rows[name]['mol_per_s']:.0f} | {rows[name]['ratio']:.2f} |")
    result = {
        "command": "python bench/throughput.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
