"""The molecule app: SMILES/SELFIES models, MOSES metrics, design; imports the core from `lebm.core`, never another app.

    >>> import lebm.molecule as mol
    >>> model = mol.load_model()                                   # the bundled ZINC250k model
    >>> frame = model.generate(10, seed=0)                         # a DataFrame of molecules and properties
    >>> figures = mol.evaluate(frame.smiles, reference=["CCO", "CCN", "CCC"], train=None, k=[5])
    >>> sorted(figures)[:4]
    ['FCD/Test', 'Filters', 'Frag/Test', 'IntDiv']

Everything is imported at first use (the command line stays free of torch and RDKit until a command runs).
"""

_EXPORTS = {
    "load_model": "api",
    "Model": "api",
    "evaluate": "metrics",
    "optimize": "api",
    "design": "api",
    "DesignResult": "api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lebm.molecule' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
