"""The latent-EBM core: priors, the Langevin kernel, the learning step, the trainer, model I/O.

    from lebm.core import EnergyPrior, PriorConfig, langevin, LatentEBM, Trainer, TrainConfig

Installed as `lebm.core`; in the source tree the folder's own name `shared` is the same module (legacy.py).
"""

if __name__ != "lebm.core":  # imported by its folder name in the source tree
    from lebm.core.legacy import alias

    alias(__name__, "lebm.core")

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
