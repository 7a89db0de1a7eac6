"""The text app: sentence models trained without an encoder; imports the core from `lebm.core`, never another app.

    >>> import lebm.text as text
    >>> model = text.load_model()                                  # the bundled BBC News model
    >>> frame = model.reconstruct(["the bank raised interest rates"])
    >>> list(frame.columns)
    ['text', 'reconstruction']

Everything is imported at first use (the command line stays free of torch until a command runs).
"""

from lebm.core import lazy_attributes

_EXPORTS = {"load_model": "api", "Model": "api"}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_attributes(__name__, _EXPORTS)
