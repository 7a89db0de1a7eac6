"""The bundled models, installed as `lebm.models` (package data: the wheel carries them): `zinc-lebm`, the default
of every molecule command, and `bbc-text`, the default of every text command."""
