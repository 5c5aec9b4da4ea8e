"""Shared by the GPU code generation tests: compile kernels to PTX and have ``ptxas`` accept it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.ptx import compile_to_ptx
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas

needs_ptxas = pytest.mark.skipif(
    find_ptxas() is None, reason="ptxas is not installed (a CUDA toolkit, or the nvidia-cuda-nvcc wheel)")
#: The chips the issue asks every kernel family to assemble for.
CHIPS = ("sm_80", "sm_90")
FLOATS = ("float32", "float64")


def assembled_ptx(kernels: Sequence[str], chip: str) -> str:
    """The PTX of ``kernels`` for ``chip``, after ``ptxas -arch=chip`` accepted it (else the test
    fails with ptxas's message)."""
    ptx = compile_to_ptx(gpu_module(kernels), chip)
    cubin, messages = assemble(ptx, chip)
    assert cubin, f"ptxas -arch={chip} refused the PTX:\n{messages}"
    return ptx


def entries(ptx: str) -> list[str]:
    """The names of the kernels (``.visible .entry name(``) in ``ptx``."""
    return [line.split(".entry", 1)[1].strip().rstrip("(") for line in ptx.splitlines() if ".visible .entry" in line]
