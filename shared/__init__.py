"""The latent-EBM core: priors, the Langevin kernel, the learning step, the trainer, model I/O.

    from lebm.core import EnergyPrior, PriorConfig, langevin, LatentEBM, Trainer, TrainConfig

Installed as `lebm.core`, its only import name (the folder is named shared/ by the project's layout).
"""

from collections.abc import Callable
from typing import Any

if __name__ != "lebm.core":  # the folder's own name would make a second copy of every module
    raise ImportError(f"import lebm.core, not {__name__}: the folder shared/ is installed as lebm.core")

# name -> the module that defines it, imported at first use (the command line builds its parser without torch)
_EXPORTS = {
    "from_dict": "config",
    "load_toml": "config",
    "to_dict": "config",
    "pick_device": "distributed",
    "seed_everything": "distributed",
    "ConfigError": "errors",
    "DataError": "errors",
    "LangevinError": "errors",
    "LebmError": "errors",
    "ModelLoadError": "errors",
    "GaussianHead": "heads",
    "HeadConfig": "heads",
    "LangevinResult": "kernel",
    "langevin": "kernel",
    "log_density_sum": "kernel",
    "LearnConfig": "options",
    "Learner": "learning",
    "ChainConfig": "model",
    "LatentEBM": "model",
    "LatentEBMConfig": "model",
    "EnergyPrior": "prior",
    "PriorConfig": "prior",
    "TrainConfig": "options",
    "Trainer": "trainer",
}
__all__ = sorted(_EXPORTS)


def lazy_attributes(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's module-level __getattr__: each exported name's module is imported at the name's first use (the
    command line stays free of torch and RDKit until a command runs)."""
    import importlib

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{exports[name]}", package), name)

    return __getattr__


__getattr__ = lazy_attributes(__name__, _EXPORTS)
