"""The bundled models, installed as `lebm.models` (package data: the wheel carries them): `zinc-lebm`, the default
of every molecule command, and `bbc-text`, the default of every text command. Their directories, in the wheel as
in the checkout: MOLECULE and TEXT (the one definition every command, function and test uses)."""

from importlib.resources import files
from pathlib import Path

MOLECULE = Path(str(files(__name__) / "zinc-lebm"))  # ZINC250k; heads qed, sa, logp, mw, tpsa, plogp, plogp_jtvae
TEXT = Path(str(files(__name__) / "bbc-text"))  # BBC news sentences
