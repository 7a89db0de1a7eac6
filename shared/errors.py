"""Errors the suite raises on bad input. Each carries one line that names what is wrong."""


class LebmError(Exception):
    """Base class: the command line prints `error: <message>` and exits with status 2."""


class ConfigError(LebmError, ValueError):
    """An invalid option or configuration value."""


class DataError(LebmError, ValueError):
    """Bad input data: wrong shape, NaN or infinite values, missing file or column."""


class ModelLoadError(LebmError, OSError):
    """A model directory or checkpoint that is missing, corrupt or incompatible."""


class LangevinError(LebmError, FloatingPointError):
    """A Langevin chain produced non-finite values."""
