"""scikit-learn's own estimator checks on SymbolVectorClassifier.

Excluded, with the reason:
- check_classifiers_classes: it uses -1 as an ordinary class label, while -1 marks unlabeled rows
  here (scikit-learn's semi-supervised convention, as in LabelSpreading / SelfTrainingClassifier).
"""

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from lebm.semisup import SymbolVectorClassifier

FAST = dict(steps=5, latent_dim=2, hidden=(8,), prior_hidden=(8,), prior_steps=3, random_state=0)
# check_classifiers_train asks for real accuracy on easy blobs: that check gets a trained instance
TRAINED = dict(steps=300, latent_dim=2, hidden=(32,), prior_hidden=(32,), prior_steps=10, random_state=0)
EXPECTED = {"check_classifiers_classes": "-1 marks unlabeled rows (semi-supervised convention), not a class"}


@parametrize_with_checks([SymbolVectorClassifier(**FAST)], expected_failed_checks=lambda est: EXPECTED)
def test_scikit_learn_checks(estimator, check):
    if getattr(check, "func", check).__name__ == "check_classifiers_train":
        estimator.set_params(**TRAINED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_dataframe_column_names_check():
    """Not among the checks parametrize_with_checks yields in scikit-learn 1.9; run on its own."""
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    check_dataframe_column_names_consistency("SymbolVectorClassifier", SymbolVectorClassifier(**FAST))
