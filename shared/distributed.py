"""Devices, their arithmetic precision, and multi-process training under `torchrun` (gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from .errors import ConfigError


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' takes CUDA when present, else the CPU; 'cpu', 'cuda' and 'cuda:N' are taken as asked."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 /proc/cpuinfo flags, or the Arm feature


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as the kernel lists them (x86 'flags', Arm 'Features'); empty where unreadable."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.split(":")[0].strip() in ("flags", "Features")), "")
    return set(line.partition(":")[2].split())


def bf16_supported(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether the device computes bfloat16 natively: CUDA by torch's check, a CPU by its feature flags."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return bool(set(BF16_CPU_FLAGS) & (cpu_flags() if flags is None else flags))


def resolve_precision(name: str, device: torch.device, flags: set[str] | None = None) -> tuple[str, str]:
    """('bf16' or 'fp32', why) for the `precision` option: 'auto' takes bf16 where the device computes it natively."""
    supported = bf16_supported(device, flags)
    what = "CUDA device" if device.type == "cuda" else device.type.upper()
    if name == "fp32":
        return "fp32", "as asked"
    if name == "bf16":
        return "bf16", "as asked" if supported else f"as asked, though this {what} has no native bf16 (slow)"
    if name != "auto":
        raise ConfigError(f"precision must be auto, bf16 or fp32, got {name!r}")
    return (
        ("bf16", f"auto: this {what} computes bf16") if supported else ("fp32", f"auto: this {what} has no native bf16")
    )


def widened(t: torch.Tensor) -> torch.Tensor:
    """`t` in fp32 when autocast left it in a half type (bf16, fp16); fp32 and fp64 tensors unchanged."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


@contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Matrix products in bf16 inside the block (weights, gradients and optimiser state stay fp32), or nothing. Enter
    it around one forward pass at a time: autocast keeps its bf16 copies of the weights until the outermost autocast
    context exits, so this one clears them on leaving, even inside another (a user's, or a disabled one), else the
    next step would compute with the old weights."""
    if precision != "bf16":
        yield
        return
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    finally:
        torch.clear_autocast_cache()


@dataclass
class Dist:
    """This process's place in the run: rank, world size, and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group that `torchrun` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world <= 1:
        return Dist(device=dev)
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), device=dev)


def all_gather_cat(d: Dist, t: torch.Tensor) -> torch.Tensor:
    """Concatenate equally shaped tensors from all ranks along dim 0."""
    if not d.active:
        return t
    parts = [torch.empty_like(t) for _ in range(d.world)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def gather_objects(d: Dist, obj: Any) -> list[Any]:
    """A list with every rank's `obj` (rank order)."""
    if not d.active:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors and plain values (safe to save)."""
    py = random.getstate()
    npy = cast(tuple[Any, ...], np.random.get_state(legacy=True))  # (name, keys, pos, has_gauss, cached)
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [npy[0], torch.from_numpy(npy[1].astype(np.int64)), int(npy[2]), int(npy[3]), float(npy[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
