"""Precision selection: 'auto' takes bf16 only where the device computes it natively, and autocast is entered per
learning step (a context held across steps would keep using the first step's weights)."""

import pytest
import torch

from lebm.core import ConfigError
from lebm.core.distributed import autocast, cpu_flags, resolve_precision
from lebm.core.options import TrainConfig

CPU = torch.device("cpu")


def test_auto_falls_back_to_fp32_on_a_cpu_without_bf16():
    assert resolve_precision("auto", CPU, flags={"avx2", "fma", "avx512f"})[0] == "fp32"
    assert resolve_precision("auto", CPU, flags={"avx512f", "avx512_bf16"})[0] == "bf16"
    assert resolve_precision("auto", CPU, flags={"amx_bf16"})[0] == "bf16"
    precision, why = resolve_precision("auto", CPU, flags=set())
    assert precision == "fp32" and "no native bf16" in why


def test_explicit_choices_are_kept_and_unknown_ones_refused():
    assert resolve_precision("fp32", CPU, flags={"avx512_bf16"})[0] == "fp32"
    precision, why = resolve_precision("bf16", CPU, flags=set())
    assert precision == "bf16" and "no native bf16" in why
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp16", CPU, flags=set())
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="half")


def test_cpu_flags_reads_the_kernels_list(tmp_path):
    (tmp_path / "x86").write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nprocessor\t: 1\n")
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert {"avx512_bf16", "avx512f"} <= cpu_flags(tmp_path / "x86")
    assert resolve_precision("auto", CPU, flags=cpu_flags(tmp_path / "arm"))[0] == "bf16"
    assert cpu_flags(tmp_path / "missing") == set()


def test_autocast_runs_matrix_products_in_bf16_and_fp32_runs_none():
    a = torch.randn(4, 4)
    with autocast("bf16", CPU):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("fp32", CPU):
        assert (a @ a).dtype == torch.float32
