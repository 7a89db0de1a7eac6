"""Semi-supervised benchmark: SymbolVectorClassifier against scikit-learn's estimators.

Protocol: train_test_split(test_size=0.25, stratify=y, random_state=0);
n labels = n/K per class drawn from the training part with numpy.random.RandomState(s), s = 0..S-1;
the rest of the training part is unlabeled (y = -1); accuracy of predict on the held-out 25%.

Preprocessing, per dataset kind (stated because it decides the graph methods' fate):
  pixels16 (digits)  baselines on raw 0-16 values (LabelSpreading rbf gamma 0.25), ours on x / 16;
  standardise        every method on standardised features (ours standardises inside);
  pixels255 (MNIST)  every method on x / 255;
  counts (reviews)   baselines on L2-normalised tf-idf, ours on the raw counts (multinomial p(x|z)).
rbf gamma other than digits: 1 / median squared distance between 1,000 training rows.

    python bench/semisup.py [--datasets digits penbased ...] [--seeds 5] [--validation]
                            [--params NAME=VALUE ...] [--cv label_weight=1,auto]  (settings chosen by 3-fold
                                                       cross-validation on the labeled rows, GridSearchCV)
                            [--calibration-at 0.5]     (when the held calibration labels join the training)
    python bench/semisup.py --fit-time        (our fit's CPU seconds on digits and magic, fresh processes)
    python bench/semisup.py --scaling         (fit time and peak memory on 1k / 5k / 19k rows of magic)
    python bench/semisup.py --table bench/results/a.json bench/results/b.json   (one table of finished runs)
Writes bench/results/semisup.json after every cell, and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from lebm.semisup import SymbolVectorClassifier
from lebm.semisup.datasets import LOADERS
from lebm.semisup.estimator import labeled_accuracy
from lebm.semisup.params import parse_params

LABELS = {
    "digits": [10, 50, 100],
    "penbased": [10, 50, 100, 1000],
    "magic": [20, 100, 1000],
    "mnist5k": [10, 100, 1000],
    "rotten_tomatoes": [20, 100, 1000],
    "satimage": [30, 120],
    "segment": [35, 70, 140],
    "spambase": [20, 100],
    # 10 labels per class on tables never tuned on
    "vehicle": [40],
    "vowel": [110],
    "texture": [110],
    "wdbc": [20],
}
METHODS = ["LR (labeled only)", "LabelSpreading knn", "LabelSpreading rbf", "SelfTraining(LR)", "SymbolVector (ours)"]


def views(X_train, X_test, kind):
    """(baseline features, our features) for train and test."""
    if kind == "pixels16":
        return (X_train, X_test), (X_train / 16, X_test / 16)
    if kind == "pixels255":
        return (X_train / 255, X_test / 255), (X_train / 255, X_test / 255)
    if kind == "counts":
        tfidf = TfidfTransformer().fit(X_train)
        return (tfidf.transform(X_train), tfidf.transform(X_test)), (X_train, X_test)
    scaler = StandardScaler().fit(X_train)
    both = (scaler.transform(X_train), scaler.transform(X_test))
    return both, both


def rbf_gamma(X, kind):
    if kind == "pixels16":
        return 0.25
    rows = X[np.random.RandomState(0).permutation(X.shape[0])[:1000]]
    d = pairwise_distances(rows, metric="euclidean") ** 2  # (sqeuclidean refuses sparse rows)
    return float(1 / np.median(d[np.triu_indices(len(d), 1)]))


def make(method, gamma, seed, ours, grid=None):
    """A fresh estimator; `ours` holds SymbolVectorClassifier settings other than its defaults (--params);
    `grid` {name: values} wraps ours in a 3-fold GridSearchCV on the labeled rows (--cv)."""
    if method == "LR (labeled only)":
        return LogisticRegression(max_iter=2000)
    if method == "LabelSpreading knn":
        return LabelSpreading(kernel="knn", n_neighbors=7, max_iter=100)
    if method == "LabelSpreading rbf":
        return LabelSpreading(kernel="rbf", gamma=gamma, max_iter=100)
    if method == "SelfTraining(LR)":
        return SelfTrainingClassifier(LogisticRegression(max_iter=2000))
    if grid:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed)  # stratified on y: -1 rows spread too
        return GridSearchCV(SymbolVectorClassifier(random_state=seed, **ours), grid, scoring=labeled_accuracy, cv=folds)
    return SymbolVectorClassifier(random_state=seed, **ours)


def label_draw(y_train, n_labels, seed):
    """The labeled rows of draw `seed`: n_labels / K per class, numpy.random.RandomState(seed)."""
    rs = np.random.RandomState(seed)
    return np.concatenate(
        [
            rs.choice(np.flatnonzero(y_train == k), n_labels // len(np.unique(y_train)), replace=False)
            for k in np.unique(y_train)
        ]
    )


def split(X, y):
    """(X_train, X_test, y_train, y_test): the protocol's stratified 75 / 25 split."""
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    return X[idx_train], X[idx_test], y[idx_train], y[idx_test]


def run_cell(name, n_labels, seeds, data, ours, validation=False, grid=None):
    """One benchmark cell. validation: the training part's unlabeled rows are scored instead of the held-out
    25% (the test split stays unread): the side on which to choose settings."""
    X, y, kind = data
    X_train, X_test, y_train, y_test = split(X, y)
    (b_train, b_test), (o_train, o_test) = views(X_train, X_test, kind)
    gamma = rbf_gamma(b_train, kind)
    acc = {m: [] for m in METHODS}
    secs = {m: [] for m in METHODS}
    briers = {m: [] for m in METHODS}
    confident = {m: [] for m in METHODS}  # [share of rows with top probability > 0.99, their accuracy]
    temperatures = []  # our fitted calibration temperature, per draw
    chosen = []  # --cv: the setting chosen on each draw
    tempered = {str(t): [] for t in TEMPERATURES}  # our Brier with p^(1/T) renormalised: what a temperature could do
    for s in range(seeds):
        labeled = label_draw(y_train, n_labels, s)
        y_semi = np.full(len(y_train), -1)
        y_semi[labeled] = y_train[labeled]
        scored = np.setdiff1d(np.arange(len(y_train)), labeled) if validation else None
        y_eval = y_train[scored] if validation else y_test
        for m in METHODS:
            model = make(m, gamma, s, ours, grid)
            X_fit, X_eval = (o_train, o_test) if m.endswith("(ours)") else (b_train, b_test)
            X_eval = X_fit[scored] if validation else X_eval
            start = time.perf_counter()
            if m == "LR (labeled only)":
                model.fit(X_fit[labeled], y_train[labeled])
            else:
                model.fit(X_fit, y_semi)
            secs[m].append(time.perf_counter() - start)
            acc[m].append(float((model.predict(X_eval) == y_eval).mean()))
            proba = model.predict_proba(X_eval)
            briers[m].append(brier(proba, y_eval, model.classes_))
            sure = np.nan_to_num(np.asarray(proba, dtype=np.float64)).max(1) > 0.99
            right = model.classes_[np.asarray(proba).argmax(1)] == y_eval
            confident[m].append([float(sure.mean()), float(right[sure].mean()) if sure.any() else float("nan")])
            if m.endswith("(ours)"):
                temperatures.append(float(getattr(getattr(model, "best_estimator_", model), "temperature_", 1.0)))
                for t in TEMPERATURES:
                    tempered[str(t)].append(brier(temper(proba, t), y_eval, model.classes_))
            if grid and m.endswith("(ours)"):
                chosen.append(model.best_params_)
    return {
        "dataset": name,
        "labels": n_labels,
        "kind": kind,
        "seeds": seeds,
        "rbf_gamma": gamma,
        "scored": "validation (unlabeled training rows)" if validation else "test",
        "accuracy": acc,
        "fit_seconds": secs,
        "brier": briers,
        "confident": confident,
        "temperature": temperatures,
        "cv_chosen": chosen,
        "our_brier_at_temperature": tempered,
    }


TEMPERATURES = (1, 1.5, 2, 3, 5, 10, 100)


def temper(proba, t):
    """p^(1/t), rows renormalised: temperature t on the log-probabilities (t > 1 softens)."""
    q = np.asarray(proba, dtype=np.float64) ** (1 / t)
    return q / q.sum(1, keepdims=True)


def brier(proba, y, classes):
    """Multi-class Brier score: mean over rows of sum_k (p_k - [y = k])^2 (0 best, 2 worst)."""
    proba = np.nan_to_num(np.asarray(proba, dtype=np.float64))  # LabelSpreading can give 0/0 rows
    return float(((proba - (y[:, None] == classes[None])) ** 2).sum(1).mean())


def timed(model, X, y, **facts):
    """Fit model on (X, y) in this process: facts + wall seconds of the fit (fit_seconds), CPU seconds of the
    process during it (time.process_time, so other jobs on the cores count little) and the process's peak RSS."""
    cpu, wall = time.process_time(), time.perf_counter()
    model.fit(X, y)
    return facts | {
        "fit_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(method, n, ours, queue):
    """Fit one method on n rows of magic (standardised, 100 labels) in this fresh process; report time and peak RSS."""
    torch.set_num_threads(1)
    X, y, _ = LOADERS["magic"]()
    rs = np.random.RandomState(0)
    rows = rs.permutation(len(y))[:n]
    X, y = StandardScaler().fit_transform(X[rows]), y[rows]
    y_semi = np.full(n, -1)
    labeled = np.concatenate([rs.choice(np.flatnonzero(y == k), 50, replace=False) for k in (0, 1)])
    y_semi[labeled] = y[labeled]
    queue.put(timed(make(method, rbf_gamma(X, "standardise"), 0, ours), X, y_semi, method=method, rows=n))


def timed_fit(name, n_labels, ours, queue):
    """Fit ours on a benchmark cell's training part, draw 0, in this fresh process, one thread."""
    torch.set_num_threads(1)
    X, y, kind = LOADERS[name]()
    X_train, _, y_train, _ = split(X, y)
    X_fit = views(X_train, X_train[:1], kind)[1][0]
    y_semi = np.full(len(y_train), -1)
    labeled = label_draw(y_train, n_labels, 0)
    y_semi[labeled] = y_train[labeled]
    queue.put(
        timed(
            make("SymbolVector (ours)", None, 0, ours), X_fit, y_semi, dataset=name, labels=n_labels, rows=len(y_train)
        )
    )


def in_fresh_process(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def scaling(sizes, ours):
    out = []
    for n in sizes:
        for method in ("LabelSpreading rbf", "LabelSpreading knn", "SymbolVector (ours)"):
            result = in_fresh_process(measure, method, n, ours)
            print(f"| {n} | {method} | {result['fit_seconds']:.1f} | {result['peak_rss_mb']:.0f} |", flush=True)
            out.append(result)
    return out


FIT_TIME_CELLS = [
    ("digits", 10),
    ("digits", 50),
    ("digits", 100),
    ("magic", 100),
]  # targets: digits <= 30 s, magic <= 2 min


def fit_times(ours):
    out = []
    for name, n_labels in FIT_TIME_CELLS:
        r = in_fresh_process(timed_fit, name, n_labels, ours)
        print(
            f"| {name} | {n_labels} | {r['rows']} | {r['cpu_seconds']:.1f} | {r['fit_seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |",
            flush=True,
        )
        out.append(r)
    return out


def table(cells):
    """Accuracy (mean ± std, %) per method; ours minus the best baseline and minus LR on the labeled rows;
    Brier scores of LR and ours; our mean fit seconds (cells of older runs lack Brier scores: '-')."""
    ours, lr = "SymbolVector (ours)", "LR (labeled only)"
    lines = [
        "| data | labels | " + " | ".join(METHODS) + " | ours - best baseline | ours - LR | Brier LR / ours "
        "| our fit s | ours: rows > 0.99 (right) | our T |",
        "|---|---|" + "---|" * (len(METHODS) + 6),
    ]
    for c in cells:
        means = {m: 100 * np.mean(v) for m, v in c["accuracy"].items()}
        best = max(v for m, v in means.items() if not m.endswith("(ours)"))
        row = " | ".join(f"{means[m]:.1f} ± {100 * np.std(c['accuracy'][m]):.1f}" for m in METHODS)
        score = f"{np.mean(c['brier'][lr]):.3f} / {np.mean(c['brier'][ours]):.3f}" if "brier" in c else "-"
        sure = np.array(c["confident"][ours]) if c.get("confident") else None
        sure = "-" if sure is None else f"{100 * sure[:, 0].mean():.1f}% ({100 * np.nanmean(sure[:, 1]):.1f}%)"
        temps = f"{np.mean(c['temperature']):.2g}" if c.get("temperature") else "-"
        lines.append(
            f"| {c['dataset']} | {c['labels']} | {row} | {means[ours] - best:+.1f} | {means[ours] - means[lr]:+.1f} "
            f"| {score} | {np.mean(c['fit_seconds'][ours]):.0f} | {sure} | {temps} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument(
        "--labels", type=int, nargs="+", help="only these label counts (default: all of each dataset's)"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--validation",
        action="store_true",
        help="score the training part's unlabeled rows, never the test split (for choosing settings)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scaling", action="store_true", help="only time fits on 1k / 5k / 19k rows of magic")
    parser.add_argument(
        "--fit-time",
        action="store_true",
        help="only time our fits (fresh process, one thread, draw 0) on digits and magic",
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "semisup.json")
    parser.add_argument(
        "--params",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="SymbolVectorClassifier settings instead of its defaults, e.g. prior_learning_rate=3e-4",
    )
    parser.add_argument(
        "--cv",
        nargs="+",
        default=[],
        metavar="NAME=V1,V2",
        help="choose these settings of ours by 3-fold cross-validation on the labeled rows "
        "(GridSearchCV, scoring=labeled_accuracy), e.g. label_weight=1,auto",
    )
    parser.add_argument(
        "--calibration-at",
        type=float,
        help="share of the steps after which the held calibration labels join the training "
        "(lebm.semisup.calibration.CALIBRATION_AT; default: the estimator's)",
    )
    parser.add_argument(
        "--table",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="only print the table of these result files (a later file's cell replaces an earlier one's)",
    )
    args = parser.parse_args()
    if args.table:
        cells = {(c["dataset"], c["labels"]): c for f in args.table for c in json.loads(f.read_text())["cells"]}
        order = {name: i for i, name in enumerate(LABELS)}
        print(table(sorted(cells.values(), key=lambda c: (order[c["dataset"]], c["labels"]))))
        return
    torch.set_num_threads(args.threads)
    if args.calibration_at is not None:
        from lebm.semisup import calibration

        calibration.CALIBRATION_AT = args.calibration_at
    try:
        ours = parse_params(args.params)
    except ValueError as e:
        parser.error(f"--params: {e}")
    try:
        grid = {
            name: [parse_params([f"{name}={v}"])[name] for v in values.split(",")]
            for name, _, values in (item.partition("=") for item in args.cv)
        }
    except ValueError as e:
        parser.error(f"--cv: {e}")
    result = {
        "command": " ".join(["python", "bench/semisup.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()} {mp.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}",
        "our_params": ours,
        "cv_grid": grid,
        "cells": [],
        "scaling": [],
    }

    def save():
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(args.json)

    if args.fit_time:
        print("| data | labels | training rows | fit CPU s | fit wall s | peak RSS MB |\n|---|---|---|---|---|---|")
        result["fit_time"] = fit_times(ours)
        save()
        return
    if args.scaling:
        print("| rows | method | fit seconds | peak RSS MB |\n|---|---|---|---|")
        result["scaling"] = scaling([1000, 5000, 19020], ours)
        save()
        return
    for name in args.datasets:
        data = LOADERS[name]()
        if sp.issparse(data[0]):
            data = (data[0].tocsr(), data[1], data[2])
        for n_labels in [n for n in LABELS[name] if args.labels is None or n in args.labels]:
            result["cells"].append(run_cell(name, n_labels, args.seeds, data, ours, args.validation, grid))
            save()
            print(table(result["cells"][-1:]).splitlines()[-1], flush=True)
    print(table(result["cells"]))


if __name__ == "__main__":
    main()
