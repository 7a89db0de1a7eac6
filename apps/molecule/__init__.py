"""The molecule app: SMILES/SELFIES models, MOSES metrics, design; imports the core from `lebm.core`, never another app.

    >>> import lebm.molecule as mol
    >>> model = mol.load_model()                                   # the bundled ZINC250k model
    >>> frame = model.generate(10, seed=0)                         # a DataFrame of molecules and properties
    >>> figures = mol.evaluate(frame.smiles, reference=["CCO", "CCN", "CCC"], train=None, k=[5])
    >>> sorted(figures)[:4]
    ['FCD/Test', 'Filters', 'Frag/Test', 'IntDiv']

Everything is imported at first use (the command line stays free of torch and RDKit until a command runs).
"""

from lebm.core import lazy_attributes

_EXPORTS = {
    "load_model": "api",
    "Model": "api",
    "evaluate": "metrics",
    "optimize": "api",
    "design": "api",
    "DesignResult": "api",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_attributes(__name__, _EXPORTS)
