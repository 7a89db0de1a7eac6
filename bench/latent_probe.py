"""Is the semisup latent worth classifying? Logistic regression on our latent means against logistic
regression on the raw inputs, with the same labeled rows (the benchmark protocol of bench/semisup.py: split
random_state 0, labels drawn with RandomState(s); features as bench/semisup.py prepares them for ours).

    python bench/latent_probe.py [--datasets digits penbased magic] [--labels 100] [--seeds 3]
                                 [--params NAME=VALUE ...] [--json bench/results/latent_probe.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from semisup import LABELS, label_draw, views

from lebm.semisup import SymbolVectorClassifier
from lebm.semisup.datasets import LOADERS
from lebm.semisup.params import parse_params


def lr_accuracy(train_x, train_y, test_x, test_y) -> float:
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(max_iter=5000).fit(scaler.transform(train_x), train_y)
    return float(model.score(scaler.transform(test_x), test_y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["digits", "penbased", "magic"])
    parser.add_argument("--labels", type=int, nargs="+", help="label counts (default: the benchmark's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--params", nargs="*", default=[], help="SymbolVectorClassifier NAME=VALUE settings")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "latent_probe.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ours = parse_params(args.params)
    out = {
        "command": "python bench/latent_probe.py " + " ".join(sys.argv[1:]),
        "params": args.params,
        "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, 1 thread",
        "rows": [],
    }
    print("| data | labels | LR on raw | LR on our latent means | ours (predict) | fit s |\n|---|---|---|---|---|---|")
    for name in args.datasets:
        X, y, kind = LOADERS[name]()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        (_, _), (ours_train, ours_test) = views(X_train, X_test, kind)
        for n in args.labels or LABELS[name]:
            raw, latent, own, seconds = [], [], [], []
            for seed in range(args.seeds):
                rows = label_draw(y_train, n, seed)
                y_semi = np.full(len(y_train), -1)
                y_semi[rows] = y_train[rows]
                start = time.perf_counter()
                est = SymbolVectorClassifier(random_state=seed, **ours).fit(ours_train, y_semi)
                seconds.append(time.perf_counter() - start)
                raw.append(lr_accuracy(ours_train[rows], y_train[rows], ours_test, y_test))
                latent.append(
                    lr_accuracy(est.transform(ours_train[rows]), y_train[rows], est.transform(ours_test), y_test)
                )
                own.append(float(est.score(ours_test, y_test)))
            row = {"data": name, "labels": n, "lr_raw": raw, "lr_latent": latent, "ours": own, "fit_seconds": seconds}
            out["rows"].append(row)
            print(
                f"| {name} | {n} | {100 * np.mean(raw):.1f} | {100 * np.mean(latent):.1f} | {100 * np.mean(own):.1f} "
                f"| {np.mean(seconds):.0f} |",
                flush=True,
            )
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
