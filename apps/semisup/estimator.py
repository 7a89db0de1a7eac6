"""SymbolVectorClassifier: a scikit-learn semi-supervised classifier on the latent-EBM core."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from lebm.core.errors import ModelLoadError
from lebm.core.io import load_json, save_json, write_dir_atomic
from lebm.core.model import ChainConfig, LatentEBMConfig
from lebm.core.prior import PriorConfig
from lebm.core.trainer import TrainConfig, Trainer

from . import calibration as calib
from .calibration import calibrate, calibration_rows, fitted_calibration
from .model import Likelihood, SemisupConfig, SemisupModel
from .params import check_params


def choose_likelihood(X: np.ndarray, sparse: bool) -> Likelihood:
    """counts (non-negative integers, e.g. bag-of-words) -> multinomial; values in [0, 1] -> bernoulli;
    anything else -> gaussian on standardised features."""
    if X.min() >= 0 and np.all(np.round(X) == X) and (sparse or X.max() > 1):
        return "multinomial"
    if X.min() >= 0 and X.max() <= 1:
        return "bernoulli"
    return "gaussian"


PROBABILITY_FLOOR = 1e-9  # predict_proba never says exactly 0 or 1


def labeled_accuracy(estimator, X, y, sample_weight=None) -> float:
    """Accuracy of `estimator.predict(X)` on the rows whose label is not -1: a scorer for semi-supervised
    y (`GridSearchCV(..., scoring=labeled_accuracy)`, also on a Pipeline ending in any classifier).
    scikit-learn's `scoring="accuracy"` would count each -1 row as an error."""
    y = column_or_1d(y)
    labeled = np.ones(len(y), bool) if y.dtype.kind in "OUS" else y != -1
    if not labeled.any():
        raise ValueError("labeled_accuracy needs at least one labeled row (every label is -1)")
    X = X[labeled] if not hasattr(X, "iloc") else X.iloc[np.flatnonzero(labeled)]
    weight = None if sample_weight is None else np.asarray(sample_weight)[labeled]
    return float(np.average(estimator.predict(X) == y[labeled], weights=weight))


class SymbolVectorClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Semi-supervised classification by symbol-vector coupling (Pang et al. 2020).

    fit(X, y) with y = -1 marking unlabeled rows. The prior p(y, z) ~ exp(f_y(z)) N(0, I) couples a
    class symbol with a latent vector; p(x | z) is chosen from the data (`likelihood="auto"`); q(z | x)
    is an inference network trained by the ELBO. Prediction: argmax_y f_y(mean of q(z | x)).

    balance: repeat the labeled rows so that they fill about half of every training batch (the
    authors draw equal labeled and unlabeled batches). Off by default: on digits it helped with 100
    labels (88.0 vs 84.7, seed 0) but collapsed to one class with 10 labels (see BENCHMARKS.md).
    prior_energy_reg: weight of mean f(z)^2 on the prior's positive and negative samples (the core's
    guard against the energy level drifting); "auto" = 0.1 for counts (multinomial), else 0. On Rotten
    Tomatoes with 1,000 labels the energy drifted upwards without it and f stayed near chance in 4 of 5
    draws (53.1 / 53.0 / 53.3% on draws 0 / 2 / 3; with 0.1: 66.6 / 63.8 / 67.2%).
    prior_objective: how the prior's energy is learned: "nce" (noise-contrastive against N(0, I): no prior
    chains, several times faster) or "contrastive" (maximum likelihood with prior Langevin chains, the paper's).
    class_learning_rate: the class terms (log p(y | z) on the labeled rows of each batch, and the class-use
    term) train f with their own unclipped Adam at this rate (0: inside the prior's loss, weighted by
    label_weight and clipped with it, as before). With nce, 1e-3 and mi_weight 0.3, digits with 10 labels
    (draw 0) went from 59.3 to 76.0% (BENCHMARKS.md).
    predict_proba averages softmax(f(z)) over 64 draws of q(z | x) (fixed draws: deterministic), then calibrates.
    calibration: "auto" cross-fits: a probe fit of half the steps with a third of each class's labels held out
    (classes with two or more); its predictions on the held rows fit a temperature T >= 1 on the log-probabilities
    and a mix with the uniform distribution, with one virtual error at the most confident prediction (Laplace's
    rule: few held labels cannot support near-certain probabilities). The model itself trains on every label for
    all the steps (1.5x the fit time); its temperature is raised so that it is no more confident on the unlabeled
    rows than the calibrated probe was. With one label per class nothing is held out and the virtual pair alone keeps
    the top probability near 1/2. A number: that temperature, nothing held out. predict ranks by the
    uncalibrated probabilities (the calibration keeps their order).
    free_bits: KL floor per latent dimension in the ELBO (0 = off), against a collapsed q(z | x).
    precision: "fp32", "bf16" or "auto" (bf16 where the device computes it natively): the arithmetic of the
    training passes (lebm.core's `precision`); prediction always runs in float64.
    mi_weight: weight of the authors' class-use term H(mean p(y|z)) - mean H(p(y|z)) (0 = off); 0.3 by
    default (with the class terms' own rate; BENCHMARKS.md has the measurements).
    label_weight: weight of log p(y | z) on labeled rows in the encoder's ELBO (the class terms that train f
    have their own rate); "auto" = 1 for counts (multinomial p(x|z)) with labels on fewer than 10% of the
    rows, else 5 with balanced batches, else n_rows / (2 n_labeled) in [50, 500]. Chosen on the benchmark's
    validation side (unlabeled training rows, 3 draws; BENCHMARKS.md): on Rotten Tomatoes with 20 and 100
    labels (0.5% and 3% of the rows) the large weight placed the few labeled reviews far from their
    unlabeled neighbours (44.5% at 91, 53.1% at 1; 49.9% at 50, 56.9% at 1), with 1,000 labels (27%) it
    helped (67.7% at 50, 62.9% at 1), as on digits with 50 labels (92.2% at 50, 90.8% at 1); on penbased
    100 and MNIST-5k 10 the two were level.
    """

    def __init__(
        self,
        latent_dim=16,
        hidden=(256, 256),
        prior_hidden=(128, 128),
        likelihood="auto",
        label_weight="auto",
        balance=False,
        mi_weight=0.3,
        steps=2000,
        batch_size=256,
        prior_steps=40,
        prior_step_size=0.4,
        refine_steps=0,
        learning_rate=1e-3,
        prior_learning_rate=1e-4,
        prior_energy_reg="auto",
        prior_objective="nce",
        free_bits=0.0,
        class_learning_rate=1e-3,
        calibration="auto",
        random_state=None,
        device="cpu",
        precision="fp32",
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.prior_hidden = prior_hidden
        self.likelihood = likelihood
        self.label_weight = label_weight
        self.balance = balance
        self.mi_weight = mi_weight
        self.steps = steps
        self.batch_size = batch_size
        self.prior_steps = prior_steps
        self.prior_step_size = prior_step_size
        self.refine_steps = refine_steps
        self.learning_rate = learning_rate
        self.prior_learning_rate = prior_learning_rate
        self.prior_energy_reg = prior_energy_reg
        self.prior_objective = prior_objective
        self.free_bits = free_bits
        self.class_learning_rate = class_learning_rate
        self.calibration = calibration
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose

    # --- input handling -------------------------------------------------------------------------
    def _features(self, X, fitting: bool) -> np.ndarray:
        # sets (fitting) or checks n_features_in_ and, for DataFrames, feature_names_in_
        X = validate_data(
            self,
            X,
            reset=fitting,
            accept_sparse=("csr", "csc", "coo"),
            dtype=np.float32,
            ensure_all_finite=True,
            ensure_min_samples=2 if fitting else 1,
        )
        sparse = sp.issparse(X)
        X = X.toarray() if sparse else X
        if fitting:
            self.likelihood_ = choose_likelihood(X, sparse) if self.likelihood == "auto" else self.likelihood
            self.mean_ = X.mean(0) if self.likelihood_ == "gaussian" else np.zeros(X.shape[1], np.float32)
            self.scale_ = X.std(0) + 1e-6 if self.likelihood_ == "gaussian" else np.ones(X.shape[1], np.float32)
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _labels(self, y) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "OUS":
            if any(v in (-1, "-1") for v in y):
                raise ValueError(
                    "y mixes string labels with -1: unlabeled rows can be marked with -1 only when "
                    "labels are integers (encode the classes as integers first)"
                )
            labeled = np.ones(len(y), bool)
        else:
            labeled = y != -1
        check_classification_targets(y[labeled])
        if not labeled.any():
            raise ValueError("y has no labeled rows (every row is -1): at least one label per class is needed")
        self.classes_ = np.unique(y[labeled])
        if len(self.classes_) < 2:
            raise ValueError(f"y has labels of only one class ({self.classes_[0]!r}): two or more are needed")
        index = np.full(len(y), -1, np.int64)
        index[labeled] = np.searchsorted(self.classes_, y[labeled])
        return index

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # --- scikit-learn API -------------------------------------------------------------------------
    def fit(self, X, y):
        check_params(self)
        index = self._labels(y)
        X = self._features(X, fitting=True)
        if len(X) != len(index):
            raise ValueError(f"X has {len(X)} rows but y has {len(index)}")
        labeled = np.flatnonzero(index >= 0)
        repeats = max(1, (len(index) - len(labeled)) // len(labeled)) if self.balance else 1
        weight = self._label_weight(len(index), len(labeled), repeats)
        self.prior_energy_reg_ = self._energy_reg()
        rows = np.concatenate([np.arange(len(index)), np.repeat(labeled, repeats - 1)])
        seed = 0 if self.random_state is None else int(np.random.RandomState(self.random_state).randint(2**31))
        held = calibration_rows(index, seed) if self.calibration == "auto" else np.zeros(0, np.int64)
        unlabeled = np.flatnonzero(index < 0)
        unlabeled = np.random.RandomState(seed).choice(unlabeled, min(len(unlabeled), 2048), replace=False)
        at_probe: list[torch.Tensor] = []
        if len(held):  # the calibration probe: a shorter fit that never sees the held rows' labels
            steps = max(1, int(calib.CALIBRATION_AT * self.steps))
            probe = self._trained(X, rows, np.where(np.isin(rows, held), -1, index[rows]), seed, weight, steps)
            with torch.no_grad():
                at_probe = [
                    probe.averaged_log_probabilities(*probe.encoder(torch.from_numpy(X[part].astype(np.float64))))
                    if len(part)
                    else torch.zeros(0, len(self.classes_), dtype=torch.float64)
                    for part in (held, unlabeled)
                ]
        self.model_ = self._trained(X, rows, index[rows], seed, weight, self.steps)
        if self.calibration == "auto":
            self.temperature_, self.mix_ = fitted_calibration(self.model_, X, index, held, unlabeled, at_probe)
        else:
            self.temperature_, self.mix_ = float(self.calibration), 0.0
        self.label_weight_ = weight
        self.separated_ = self.model_.separate_classes(torch.from_numpy(X.astype(np.float64)), index)
        return self

    def _trained(
        self, X: np.ndarray, rows: np.ndarray, labels: np.ndarray, seed: int, weight: float, steps: int
    ) -> SemisupModel:
        """A model trained for `steps` on X[rows] with `labels` (-1: unlabeled), returned on the CPU in float64 and
        in evaluation mode (predictions do not depend on the batch)."""
        torch.manual_seed(seed)
        model = SemisupModel(self._model_config(X.shape[1]))
        train = replace(self._train_config(seed, weight, len(X)), steps=steps)
        Trainer(model, {"x": torch.from_numpy(X[rows]), "label": torch.from_numpy(labels)}, train).fit()
        return model.cpu().double().eval()

    def _model_config(self, data_dim: int) -> SemisupConfig:
        ebm = LatentEBMConfig(
            prior=PriorConfig(
                latent_dim=self.latent_dim,
                kind="coupled",
                num_classes=len(self.classes_),
                hidden=list(self.prior_hidden),
                activation="leaky_relu",
            ),
            prior_chain=ChainConfig(steps=self.prior_steps, step_size=self.prior_step_size),
            posterior_chain=ChainConfig(steps=self.refine_steps, step_size=0.1),
            posterior_init="amortised",
        )
        return SemisupConfig(ebm=ebm, data_dim=data_dim, likelihood=self.likelihood_, hidden=list(self.hidden))

    def _train_config(self, seed: int, label_weight: float, rows: int) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            batch_size=min(self.batch_size, rows),
            seed=seed,
            lr_generator=self.learning_rate,
            lr_prior=self.prior_learning_rate,
            label_weight=label_weight,
            class_mi_weight=self.mi_weight,
            prior_energy_reg=self.prior_energy_reg_,
            prior_objective=self.prior_objective,
            free_bits=float(self.free_bits),
            lr_class=float(self.class_learning_rate),
            quiet=not self.verbose,
            device=self.device,
            precision=self.precision,
            diagnose=256 if self.verbose else 0,
        )

    def _label_weight(self, rows: int, labeled: int, repeats: int) -> float:
        """The encoder's weight of log p(y | z): the setting, or "auto" as the class docstring states it."""
        if self.label_weight != "auto":
            return float(self.label_weight)
        if self.likelihood_ == "multinomial" and labeled < 0.1 * rows:
            return 1.0
        return 5.0 if repeats > 1 else float(np.clip(rows / (2 * labeled), 50, 500))

    def _energy_reg(self) -> float:
        if self.prior_energy_reg != "auto":
            return float(self.prior_energy_reg)
        return 0.1 if self.likelihood_ == "multinomial" else 0.0

    def _tensor(self, X) -> torch.Tensor:
        check_is_fitted(self, "model_")
        return torch.from_numpy(self._features(X, fitting=False).astype(np.float64))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, each strictly inside (0, 1) (floored at PROBABILITY_FLOOR, rows renormalised)."""
        x = self._tensor(X)
        p = self.model_.class_probabilities(x, self.refine_steps).numpy().astype(np.float64)
        p = np.maximum(calibrate(p, getattr(self, "temperature_", 1.0), getattr(self, "mix_", 0.0)), PROBABILITY_FLOOR)
        return p / p.sum(1, keepdims=True)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the labeled rows of y (rows marked -1 are ignored): what GridSearchCV and
        cross_val_score use when no `scoring` is given, so a search is not judged on rows nobody labeled.
        Beware `scoring="accuracy"`: scikit-learn's own scorer counts every -1 row as an error; pass
        `scoring=labeled_accuracy` instead."""
        return labeled_accuracy(self, X, y, sample_weight)

    def predict(self, X) -> np.ndarray:
        x = self._tensor(X)  # checks fitting first
        best = self.model_.class_probabilities(x, self.refine_steps).numpy().argmax(1)  # calibration keeps the order
        return self.classes_[best]

    def transform(self, X) -> np.ndarray:
        """Latent means: the mean of q(z | x) for every row."""
        x = self._tensor(X)
        return self.model_.latent_means(x, self.refine_steps).numpy().astype(np.float64)

    # --- model directories ----------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict[str, dict] | None = None) -> Path:
        """The fitted estimator as one directory: the core's model files + estimator.json (no pickle), and
        `extra` {file name: JSON object} written with them (the directory appears whole or not at all)."""
        check_is_fitted(self, "model_")
        state = {
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str,
            "likelihood": self.likelihood_,
            "label_weight": self.label_weight_,
            "prior_energy_reg": self.prior_energy_reg_,
            "temperature": self.temperature_,
            "mix": self.mix_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "feature_names": getattr(self, "feature_names_in_", np.array([])).tolist(),
        }

        def fill(tmp: Path) -> None:
            self.model_.write_files(tmp)
            save_json(tmp / "estimator.json", state)
            for name, content in (extra or {}).items():
                save_json(tmp / name, content)

        return write_dir_atomic(directory, fill)

    @classmethod
    def load(cls, directory: str | Path) -> SymbolVectorClassifier:
        state = load_json(Path(directory) / "estimator.json")
        try:
            params = state["params"] | {k: tuple(state["params"][k]) for k in ("hidden", "prior_hidden")}
            est = cls(**params)
            est.classes_ = np.array(state["classes"], dtype=np.dtype(state["classes_dtype"]))
            est.likelihood_, est.label_weight_ = state["likelihood"], state["label_weight"]
            est.prior_energy_reg_ = float(state.get("prior_energy_reg", 0.0))  # directories of earlier versions lack it
            est.temperature_ = float(state.get("temperature", 1.0))  # and these
            est.mix_ = float(state.get("mix", 0.0))
            est.mean_ = np.array(state["mean"], np.float32)
            est.scale_ = np.array(state["scale"], np.float32)
            if state.get("feature_names"):  # fitted on a DataFrame (directories of earlier versions lack the key)
                est.feature_names_in_ = np.array(state["feature_names"], dtype=object)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"{Path(directory) / 'estimator.json'} is incompatible ({e})") from None
        est.n_features_in_ = len(est.mean_)
        est.model_ = SemisupModel.from_pretrained(directory).double().eval()
        return est
