"""Semi-supervised classification by symbol-vector coupling on the latent-EBM core."""

__all__ = ["SymbolVectorClassifier", "labeled_accuracy"]


def __getattr__(name: str):  # imported at first use: the command line's parser stays free of torch and sklearn
    if name not in __all__:
        raise AttributeError(f"module 'lebm.semisup' has no attribute {name!r}")
    from . import estimator

    return getattr(estimator, name)
