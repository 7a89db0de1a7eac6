"""`lebm semisup ...`: fit on a CSV (label column: empty or -1 = unlabeled), predict, evaluate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import overload

import numpy as np
import pandas as pd

from lebm.core.errors import ConfigError, DataError, LebmError, ModelLoadError
from lebm.core.io import claim_dir, load_json, write_atomic

from .estimator import SymbolVectorClassifier
from .params import parse_params

UNLABELED = {"", "-1", "nan", "NaN"}


@overload
def read_table(path: Path, label_column: str) -> tuple[pd.DataFrame, pd.Series]: ...
@overload
def read_table(path: Path, label_column: None) -> tuple[pd.DataFrame, None]: ...
def read_table(path: Path, label_column: str | None) -> tuple[pd.DataFrame, pd.Series | None]:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[])
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path} could not be read: {str(e).splitlines()[0]}") from None
    if frame.empty:
        raise DataError(f"{path} has no rows")
    if label_column is None:
        return frame, None
    if label_column not in frame.columns:
        raise DataError(f"{path} has no label column {label_column!r} (columns: {', '.join(frame.columns)})")
    return frame.drop(columns=[label_column]), frame[label_column].astype(str).str.strip()


class Columns:
    """Numeric columns as they are, categorical ones one-hot encoded; remembered for predict time."""

    def __init__(self, numeric: list[str], categories: dict[str, list[str]]):
        self.numeric, self.categories = numeric, categories

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Columns:
        numeric, categories = [], {}
        for name in frame.columns:
            values = pd.to_numeric(frame[name].replace("", np.nan), errors="coerce")
            if values.notna().sum() == frame[name].ne("").sum():  # every filled cell is a number
                numeric.append(name)
            else:
                categories[name] = sorted(frame[name].astype(str).unique())
        return cls(numeric, categories)

    def transform(self, frame: pd.DataFrame, path: Path) -> np.ndarray:
        missing = [c for c in [*self.numeric, *self.categories] if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the column {missing[0]!r} the model was fitted with")
        parts = []
        if self.numeric:
            numeric = frame[self.numeric].replace("", np.nan).apply(pd.to_numeric, errors="coerce")
            bad = numeric.isna().any(axis=1) | ~np.isfinite(numeric.to_numpy(dtype=float)).all(axis=1)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(f"{path} row {row + 2}: a numeric feature is empty, not a number, or infinite")
            parts.append(numeric.to_numpy(dtype=np.float64))
        for name, cats in self.categories.items():
            unseen = ~frame[name].astype(str).isin(cats)
            if unseen.any():
                values = ", ".join(repr(v) for v in sorted(frame.loc[unseen, name].astype(str).unique())[:5])
                print(
                    f"warning: {path}: column {name!r} has {int(unseen.sum())} row(s) with a category not seen in "
                    f"training ({values}); they get none of the column's known categories",
                    file=sys.stderr,
                )
            parts.append((frame[name].astype(str).to_numpy()[:, None] == np.array(cats)[None, :]).astype(np.float64))
        return np.hstack(parts)

    def to_json(self) -> dict:
        return {"numeric": self.numeric, "categories": self.categories}


def cmd_fit(args: argparse.Namespace) -> int:
    claim_dir(args.out, overwrite=args.overwrite, resumable=False)  # saving swaps the whole directory
    frame, labels = read_table(args.data, args.label_column)
    columns = Columns.fit(frame)
    X = columns.transform(frame, args.data)
    known = ~labels.isin(UNLABELED)
    classes = sorted(labels[known].unique())
    y = np.full(len(labels), -1)
    y[known.to_numpy()] = [classes.index(v) for v in labels[known]]
    try:
        settings = parse_params(args.param)
    except ValueError as e:
        raise ConfigError(f"--param {e}") from None
    for name, flag in (("steps", "--steps"), ("random_state", "--seed"), ("verbose", "--quiet")):
        if name in settings:
            raise ConfigError(f"--param {name}: set it with {flag}")
    clf = SymbolVectorClassifier(**settings, steps=args.steps, random_state=args.seed, verbose=not args.quiet)
    try:
        clf.fit(X, y)
    except LebmError:  # an invalid setting (ConfigError) names itself
        raise
    except ValueError as e:  # scikit-learn style input errors, as one line
        raise DataError(f"{args.data}: {e}") from None
    clf.save(args.out, extra={"columns.json": columns.to_json() | {"class_names": classes}})
    print(f"fitted on {len(X)} rows ({int(known.sum())} labeled, {len(classes)} classes); wrote {args.out}")
    return 0


def load(model: Path) -> tuple[SymbolVectorClassifier, Columns, list[str]]:
    clf = SymbolVectorClassifier.load(model)
    info = load_json(model / "columns.json")
    try:
        return clf, Columns(info["numeric"], info["categories"]), info["class_names"]
    except KeyError as e:
        raise ModelLoadError(f"{model / 'columns.json'} lacks {e}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    clf, columns, names = load(args.model)
    frame, _ = read_table(args.data, None)
    proba = clf.predict_proba(columns.transform(frame.drop(columns=[args.label_column], errors="ignore"), args.data))
    out = pd.DataFrame(proba, columns=[f"p_{names[int(c)]}" for c in clf.classes_])
    out.insert(0, "predicted", [names[int(c)] for c in clf.classes_[proba.argmax(1)]])
    write_atomic(args.output, lambda p: out.to_csv(p, index=False))
    print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    clf, columns, names = load(args.model)
    frame, labels = read_table(args.data, args.label_column)
    known = ~labels.isin(UNLABELED)
    unknown = sorted(set(labels[known]) - set(names))
    if unknown:
        raise DataError(
            f"{args.data}: column {args.label_column!r} holds labels the model was not fitted with: "
            f"{', '.join(map(repr, unknown[:5]))}{', ...' if len(unknown) > 5 else ''} "
            f"(its classes: {', '.join(map(repr, names))})"
        )
    if not known.any():
        raise DataError(f"{args.data}: column {args.label_column!r} has no labeled rows to evaluate on")
    from sklearn.metrics import brier_score_loss, log_loss

    proba = clf.predict_proba(columns.transform(frame, args.data))[known.to_numpy()]
    predicted = np.array([names[int(c)] for c in clf.classes_[proba.argmax(1)]])
    truth = labels[known].to_numpy()
    onehot = (truth[:, None] == np.array([names[int(c)] for c in clf.classes_])[None, :]).astype(float)
    figures = {
        "rows": int(known.sum()),
        "accuracy": float((predicted == truth).mean()),
        # multi-class Brier score: mean over rows of the summed squared error of the probability vector
        "brier": float(((proba - onehot) ** 2).sum(1).mean()),
        "log_loss": float(log_loss(onehot.argmax(1), proba, labels=list(range(proba.shape[1])))),
    }
    if proba.shape[1] == 2:  # scikit-learn's binary Brier score (half the multi-class one), for comparison
        figures["brier_binary"] = float(brier_score_loss(onehot[:, 1], proba[:, 1]))
    print(json.dumps(figures))
    return 0
