"""The latent-EBM core: priors, the Langevin kernel, the learning step, the trainer, model I/O.

    from lebm.core import EnergyPrior, PriorConfig, langevin, LatentEBM, Trainer, TrainConfig

Installed as `lebm.core`, its only import name (the folder is named shared/ by the project's layout).
"""

if __name__ != "lebm.core":  # the folder's own name would make a second copy of every module
    raise ImportError(f"import lebm.core, not {__name__}: the folder shared/ is installed as lebm.core")

from .config import from_dict, load_toml, to_dict
from .distributed import pick_device, seed_everything
from .errors import ConfigError, DataError, LangevinError, LebmError, ModelLoadError
from .heads import GaussianHead, HeadConfig
from .langevin import LangevinResult, langevin, log_density_sum
from .learning import LearnConfig, Learner
from .model import ChainConfig, LatentEBM, LatentEBMConfig
from .prior import EnergyPrior, PriorConfig
from .trainer import TrainConfig, Trainer

__all__ = [
    "ChainConfig", "ConfigError", "DataError", "EnergyPrior", "GaussianHead", "HeadConfig", "LangevinError",
    "LangevinResult", "LatentEBM", "LatentEBMConfig", "LearnConfig", "Learner", "LebmError", "ModelLoadError",
    "PriorConfig", "TrainConfig", "Trainer", "from_dict", "langevin", "load_toml", "log_density_sum",
    "pick_device", "seed_everything", "to_dict",
]
