"""Semi-supervised classification by symbol-vector coupling on the latent-EBM core."""

from .estimator import SymbolVectorClassifier, labeled_accuracy

__all__ = ["SymbolVectorClassifier", "labeled_accuracy"]
