"""Semi-supervised classification by symbol-vector coupling on the latent-EBM core."""

from .estimator import SymbolVectorClassifier

__all__ = ["SymbolVectorClassifier"]
