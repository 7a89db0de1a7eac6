import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_circles, make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from lebm.semisup import SymbolVectorClassifier

SMALL = dict(steps=500, latent_dim=4, hidden=(64, 64), prior_hidden=(64, 64), random_state=0)


def two_labels_per_class(y, seed=0):
    rng = np.random.RandomState(seed)
    out = np.full_like(y, -1)
    for k in np.unique(y):
        out[rng.choice(np.where(y == k)[0], 2, replace=False)] = k
    return out


@pytest.mark.parametrize("make", [make_moons, make_circles])
def test_beats_logistic_regression_with_two_labels_per_class(make):
    kw = dict(noise=0.1) if make is make_moons else dict(noise=0.05, factor=0.5)
    X, y = make(1000, random_state=0, **kw)
    X_test, y_test = make(1000, random_state=1, **kw)
    partial = two_labels_per_class(y)
    baseline = LogisticRegression().fit(X[partial >= 0], y[partial >= 0]).score(X_test, y_test)
    # mean over three fits (random_state 0, 1, 2): one fit's accuracy moves by several points with its seed
    # (moons 0.83 / 0.855 / 0.857, circles 0.61 / 0.517 / 0.533 against LR 0.792 / 0.51, measured). Without the
    # calibration's probe fit: the calibrated estimator predicts exactly as this one (the calibration test below)
    ours = np.mean(
        [
            SymbolVectorClassifier(**(SMALL | {"random_state": s, "calibration": 1.0}))
            .fit(X, partial)
            .score(X_test, y_test)
            for s in range(3)
        ]
    )
    assert ours > baseline + 0.04, (ours, baseline)


def test_noise_contrastive_prior_learns_without_prior_chains():
    """The NCE prior (the default) with a KL floor classifies well above chance with two labels per class."""
    X, y = make_moons(600, noise=0.1, random_state=0)
    X_test, y_test = make_moons(600, noise=0.1, random_state=1)
    partial = two_labels_per_class(y)
    clf = SymbolVectorClassifier(**(SMALL | {"prior_objective": "nce", "free_bits": 0.1})).fit(X, partial)
    assert clf.score(X_test, y_test) > 0.7
    proba = clf.predict_proba(X_test)
    assert np.allclose(proba.sum(1), 1) and 0.2 < (proba.argmax(1) == 1).mean() < 0.8  # both classes used


def test_scikit_learn_api_shapes_and_containers():
    X, y = make_moons(300, noise=0.1, random_state=0)
    partial = two_labels_per_class(y)
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 50}))
    assert clone(clf).get_params() == clf.get_params()
    clf.fit(pd.DataFrame(X, columns=["a", "b"]), partial)
    with pytest.warns(UserWarning, match="does not have valid feature names"):  # scikit-learn's own word on it
        proba, labels, latent = clf.predict_proba(X), clf.predict(X), clf.transform(X)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(1), 1)
    assert set(labels) <= {0, 1} and latent.shape == (300, 4)
    assert clf.n_features_in_ == 2 and list(clf.classes_) == [0, 1]
    pipe = make_pipeline(FunctionTransformer(), SymbolVectorClassifier(**(SMALL | {"steps": 20}))).fit(X, partial)
    assert pipe.predict(X).shape == (300,)


def test_likelihood_is_chosen_from_the_data():
    rng = np.random.RandomState(0)
    counts = sp.csr_matrix(rng.poisson(0.3, size=(60, 30)).astype(float))
    y = np.array([0, 1] * 30)
    y[4:] = -1
    fast = SMALL | {"steps": 5}
    assert SymbolVectorClassifier(**fast).fit(counts, y).likelihood_ == "multinomial"
    assert SymbolVectorClassifier(**fast).fit(rng.rand(60, 5), y).likelihood_ == "bernoulli"
    assert SymbolVectorClassifier(**fast).fit(rng.randn(60, 5), y).likelihood_ == "gaussian"
    assert SymbolVectorClassifier(**(fast | {"likelihood": "gaussian"})).fit(counts, y).likelihood_ == "gaussian"
    # the energy-level guard is on for counts, where the prior's energy drifted without it
    assert SymbolVectorClassifier(**fast).fit(counts, y).prior_energy_reg_ == 0.1
    assert SymbolVectorClassifier(**fast).fit(rng.randn(60, 5), y).prior_energy_reg_ == 0.0
    # the encoder's label weight: 1 for counts with few labels, n / (2 n_labeled) clipped to [50, 500] otherwise
    assert SymbolVectorClassifier(**fast).fit(counts, y).label_weight_ == 1.0
    assert SymbolVectorClassifier(**fast).fit(counts, np.array([0, 1] * 30)).label_weight_ == 50.0
    assert SymbolVectorClassifier(**fast).fit(rng.randn(60, 5), y).label_weight_ == 50.0
    with pytest.raises(ValueError, match="prior_energy_reg must be 'auto' or a number >= 0"):
        SymbolVectorClassifier(**(fast | {"prior_energy_reg": -1})).fit(counts, y)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros((4, 2)), np.array([-1, -1, -1, -1]), "no labeled rows"),
        (np.zeros((4, 2)), np.array([1, 1, -1, -1]), "only one class"),
        (np.array([[0.0, np.nan], [1, 1], [2, 2], [3, 3]]), np.array([0, 1, -1, -1]), "NaN"),
        (np.array([[0.0, np.inf], [1, 1], [2, 2], [3, 3]]), np.array([0, 1, -1, -1]), "infinity"),
        (np.zeros((4, 2)), np.array(["cat", "dog", -1, -1], dtype=object), "mixes string labels with -1"),
        (np.zeros((4, 2)), np.array([0, 1, -1]), "rows but y has"),
    ],
)
def test_bad_input_is_refused_clearly(X, y, message):
    with pytest.raises(ValueError, match=message):
        SymbolVectorClassifier(**(SMALL | {"steps": 2})).fit(X, y)


@pytest.mark.parametrize(
    "setting",
    [
        {"latent_dim": 2.5},
        {"steps": "many"},
        {"hidden": (0,)},
        {"mi_weight": -1},
        {"label_weight": 0},
        {"learning_rate": "fast"},
        {"balance": "yes"},
        {"likelihood": "poisson"},
        {"prior_objective": "mle"},
        {"free_bits": -0.5},
        {"calibration": 0.5},
        {"calibration": "platt"},
    ],
)
def test_invalid_settings_are_named(setting):
    X, y = make_moons(40, random_state=0)
    name = next(iter(setting))
    with pytest.raises(ValueError, match=f"^{name}"):
        SymbolVectorClassifier(**(SMALL | {"steps": 2} | setting)).fit(X, two_labels_per_class(y))


def test_mismatched_columns_at_predict_time():
    X, y = make_moons(100, noise=0.1, random_state=0)
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 2})).fit(X, two_labels_per_class(y))
    with pytest.raises(ValueError, match="X has 3 features, but SymbolVectorClassifier is expecting 2"):
        clf.predict(np.zeros((5, 3)))


def test_dataframe_column_names_are_kept_and_checked(tmp_path):
    import pandas as pd

    X, y = make_moons(100, noise=0.1, random_state=0)
    frame = pd.DataFrame(X, columns=["width", "height"])
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 2})).fit(frame, two_labels_per_class(y))
    assert list(clf.feature_names_in_) == ["width", "height"]
    loaded = SymbolVectorClassifier.load(clf.save(tmp_path / "svc"))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict(X)
    for model in (clf, loaded):
        assert (model.predict(frame) == from_array).all()
        with pytest.raises(ValueError, match="feature names"):
            model.predict(frame[["height", "width"]])


def test_save_load_and_pickle_give_identical_predictions(tmp_path):
    import pickle

    from lebm.core.errors import ModelLoadError

    X, y = make_moons(200, noise=0.1, random_state=0)
    labels = np.where(two_labels_per_class(y) >= 0, np.array(["left", "right"])[y], None)
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 30}))
    with pytest.raises(ValueError, match="no labeled rows|mixes"):
        clf.fit(X, np.where(labels == None, -1, labels))  # noqa: E711  (strings mixed with -1)
    clf.fit(X, two_labels_per_class(y))
    clf.save(tmp_path / "svc")
    loaded = SymbolVectorClassifier.load(tmp_path / "svc")
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params() == clf.get_params()
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X))
    (tmp_path / "svc" / "estimator.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="estimator.json is incompatible"):
        SymbolVectorClassifier.load(tmp_path / "svc")


def test_refined_latents_have_higher_posterior_density():
    """refine_steps: the encoder's mean moves by noise-free Langevin steps towards the mode of p(z | x)."""
    import torch

    X, y = make_moons(300, noise=0.1, random_state=0)
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 100, "refine_steps": 5})).fit(X, two_labels_per_class(y))
    refined = clf.transform(X)
    clf.set_params(refine_steps=0)
    plain = clf.transform(X)
    x = clf._tensor(X)
    log_density = clf.model_.posterior_log_density(x)
    gain = log_density(torch.from_numpy(refined)) - log_density(torch.from_numpy(plain))
    assert not np.allclose(refined, plain)
    assert gain.mean() > 0 and (gain > 0).float().mean() > 0.9, gain
    assert clf.set_params(refine_steps=5).predict_proba(X).shape == (300, 2)


def test_cross_val_score_runs_with_the_estimator():
    from sklearn.model_selection import cross_val_score

    X, y = make_moons(240, noise=0.1, random_state=0)
    scores = cross_val_score(SymbolVectorClassifier(**(SMALL | {"steps": 100})), X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.7).all()


@pytest.mark.slow  # minutes: run by `make test-slow` (.ci/run, after `make test`)
def test_digits_with_100_labels_reaches_the_stated_floor():
    """Protocol of bench/semisup.py (split random_state 0, labels drawn with RandomState(0)), pixels / 16.
    Measured 89.1% with the defaults (LabelSpreading rbf 95.7%, LR on the labels 89.7% on raw values);
    the floor is 85%."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=0)
    rs = np.random.RandomState(0)
    labeled = np.concatenate([rs.choice(np.flatnonzero(y_train == k), 10, replace=False) for k in range(10)])
    y_semi = np.full(len(y_train), -1)
    y_semi[labeled] = y_train[labeled]
    model = SymbolVectorClassifier(random_state=0).fit(X_train, y_semi)
    assert model.likelihood_ == "bernoulli"
    assert model.score(X_test, y_test) >= 0.85


@pytest.mark.slow  # minutes: run by `make test-slow` (.ci/run, after `make test`)
def test_ten_labels_per_class_on_an_untuned_table_is_not_below_logistic_regression():
    """vehicle (KEEL, 4 classes, never tuned on), bench/semisup.py's protocol on its validation side (the training
    part's unlabeled rows scored), 10 labels per class, draws 0-2: the calibrated estimator is at least as accurate
    as a logistic regression on the same labels on average (measured: 66.2 against 63.8; when the calibration held
    its labels out of the model's first half of training: 60.4 against 62.9) and as accurate as the uncalibrated
    fit (the calibration only tempers the same model)."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from lebm.semisup.datasets import LOADERS

    X, y, _ = LOADERS["vehicle"]()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    X_train = StandardScaler().fit_transform(X_train)
    ours, lr = [], []
    for draw in range(3):
        rs = np.random.RandomState(draw)
        labeled = np.concatenate([rs.choice(np.flatnonzero(y_train == k), 10, replace=False) for k in np.unique(y)])
        partial = np.full(len(y_train), -1)
        partial[labeled] = y_train[labeled]
        scored = partial == -1
        ours.append(
            (SymbolVectorClassifier(random_state=draw).fit(X_train, partial).predict(X_train) == y_train)[scored]
        )
        lr.append(
            (LogisticRegression(max_iter=2000).fit(X_train[labeled], y_train[labeled]).predict(X_train) == y_train)[
                scored
            ]
        )
    assert np.mean(ours) >= np.mean(lr), (np.mean(ours), np.mean(lr))


def test_scores_ignore_unlabeled_rows_and_grid_search_uses_them():
    """score() and the labeled_accuracy scorer count labeled rows only; GridSearchCV on a Pipeline
    with either picks by labeled accuracy; probabilities stay strictly inside (0, 1)."""
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    from lebm.semisup import labeled_accuracy

    X, y = make_moons(300, noise=0.1, random_state=0)
    partial = y.copy()
    partial[np.random.RandomState(1).rand(len(y)) < 0.8] = -1
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 150})).fit(X, partial)
    labeled = partial != -1
    expected = accuracy_score(y[labeled], clf.predict(X[labeled]))
    assert clf.score(X, partial) == pytest.approx(expected) == pytest.approx(labeled_accuracy(clf, X, partial))
    assert clf.score(X, partial) != pytest.approx(accuracy_score(partial, clf.predict(X)))  # -1 rows would count
    proba = clf.predict_proba(X * 50)  # far outside the data: the raw probabilities saturate
    assert (proba > 0).all() and (proba < 1).all() and np.allclose(proba.sum(1), 1)
    with pytest.raises(ValueError, match="at least one labeled row"):
        labeled_accuracy(clf, X, np.full(len(y), -1))

    pipe = make_pipeline(StandardScaler(), SymbolVectorClassifier(**(SMALL | {"steps": 60})))
    for scoring in (None, labeled_accuracy):
        search = GridSearchCV(pipe, {"symbolvectorclassifier__latent_dim": [2, 4]}, cv=2, scoring=scoring)
        search.fit(X, partial)
        assert 0.5 <= search.best_score_ <= 1 and search.best_params_["symbolvectorclassifier__latent_dim"] in (2, 4)
        fold_scores = search.cv_results_["split0_test_score"]
        assert np.isfinite(fold_scores).all()


def test_never_one_class_for_every_row():
    """The guard: on a small two-class table with two labels per class, fits never predict one class for every
    row (five seeds, short fits); and an f forced to say class 0 everywhere is retrained on the labeled rows
    until its predictions on them use both classes (the guard reports that it acted)."""
    import torch

    X, y = make_moons(200, noise=0.1, random_state=0)
    partial = two_labels_per_class(y)
    for seed in range(5):
        clf = SymbolVectorClassifier(**(SMALL | {"steps": 40, "random_state": seed})).fit(X, partial)
        assert len(np.unique(clf.predict(X))) == 2, seed
    with torch.no_grad():
        clf.model_.prior.net[-1].bias.copy_(torch.tensor([50.0, -50.0], dtype=torch.float64))
    assert set(clf.predict(X)) == {0}
    x = torch.from_numpy(clf._features(X, fitting=False).astype(np.float64))
    index = np.where(partial >= 0, partial, -1)
    assert clf.model_.separate_classes(x, index)
    labeled = partial >= 0
    assert set(clf.predict(X[labeled])) == {0, 1} and len(np.unique(clf.predict(X))) == 2
    proba = clf.predict_proba(X)
    assert (proba > 0).all() and (proba < 1).all()


def test_probabilities_do_not_depend_on_the_rows_passed_with_them():
    """predict_proba goes through the rows in chunks (memory flat in the number of rows): a table longer than
    one chunk gives each row the probabilities it gets alone."""
    from lebm.semisup.model import ROWS_PER_PASS

    X, y = make_moons(ROWS_PER_PASS + 100, noise=0.1, random_state=0)
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 30})).fit(X, two_labels_per_class(y))
    whole = clf.predict_proba(X)
    rows = [0, ROWS_PER_PASS - 1, ROWS_PER_PASS, len(X) - 1]
    assert np.allclose(whole[rows], np.concatenate([clf.predict_proba(X[[i]]) for i in rows]), atol=1e-12)


def test_calibration_follows_the_held_rows():
    """(T, mix) fitted on held rows: predictions at 0.999 that are right 60% of the time come out near 0.6;
    predictions right every time stay near certain (the virtual error among 200 rows costs little); with no held
    rows the virtual pair alone puts the top probability at about 1/2."""
    import torch

    from lebm.semisup.calibration import calibrate, fit_calibration

    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 200)
    guess = np.where(rng.rand(200) < 0.6, y, 1 - y)
    p = np.where(np.eye(2)[guess] > 0, 0.999, 0.001)
    t, mix = fit_calibration(torch.log(torch.from_numpy(p)), y, 2)
    assert 0.5 < calibrate(p, t, mix).max(1).mean() < 0.7, (t, mix)
    right = np.where(np.eye(2)[y] > 0, 0.999, 0.001)
    t, mix = fit_calibration(torch.log(torch.from_numpy(right)), y, 2)
    assert calibrate(right, t, mix).max(1).min() > 0.97, (t, mix)
    t, mix = fit_calibration(torch.zeros(0, 10), np.zeros(0, np.int64), 10)
    assert 0.45 < calibrate(np.eye(10)[:1] * 0.999 + 1e-4, t, mix).max() < 0.55, (t, mix)


def test_calibration_cross_fits_and_the_model_keeps_every_label():
    """calibration='auto' holds a third of each class's labels (one of two) out of a shorter probe fit and fits the
    temperature on the probe's predictions for them; the model itself trains on every label from the start, so it
    ranks exactly as the uncalibrated fit of the same seed. A fixed temperature is taken as given; one label per
    class leaves nothing to hold out: the virtual pair alone caps the probabilities near 1/2."""
    import torch

    from lebm.semisup.calibration import calibration_rows

    X, y = make_moons(300, noise=0.3, random_state=0)
    partial = two_labels_per_class(y)
    held = calibration_rows(np.where(partial >= 0, partial, -1), 0)
    assert len(held) == 2 and set(y[held]) == {0, 1}
    clf = SymbolVectorClassifier(**(SMALL | {"steps": 60})).fit(X, partial)
    assert 1.0 <= clf.temperature_ <= 100.0 and 0.0 <= clf.mix_ <= 1.0
    fixed = SymbolVectorClassifier(**(SMALL | {"steps": 60, "calibration": 5.0})).fit(X, partial)
    assert fixed.temperature_ == 5.0
    raw = SymbolVectorClassifier(**(SMALL | {"steps": 60, "calibration": 1.0})).fit(X, partial)
    x = torch.from_numpy(X.astype(np.float64))
    assert torch.equal(clf.model_.class_probabilities(x), raw.model_.class_probabilities(x))
    assert (clf.predict(X) == raw.predict(X)).all()
    assert fixed.predict_proba(X).max(1).mean() < raw.predict_proba(X).max(1).mean()  # a softer model (T = 5)
    one = np.full_like(y, -1)
    one[[np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]]] = [0, 1]
    lone = SymbolVectorClassifier(**(SMALL | {"steps": 30})).fit(X, one)
    assert lone.predict_proba(X).max() < 0.6  # no held labels: no claim beyond about even odds
