"""Shared by the GPU code generation tests: compile kernels to PTX and have ``ptxas`` accept it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.ptx import compile_to_ptx

PTXAS = shutil.which("ptxas")
needs_ptxas = pytest.mark.skipif(
    PTXAS is None, reason="ptxas is not on PATH (the CUDA toolkit, or the nvidia-cuda-nvcc wheel's nvidia/cu13/bin)")
#: The chips the issue asks every kernel family to assemble for.
CHIPS = ("sm_80", "sm_90")
FLOATS = ("float32", "float64")


def assembled_ptx(kernels: Sequence[str], chip: str, tmp_path: Path) -> str:
    """The PTX of ``kernels`` for ``chip``, after ``ptxas -arch=chip`` accepted it (else the test
    fails with ptxas's message and the offending lines)."""
    ptx = compile_to_ptx(gpu_module(kernels), chip)
    path = tmp_path / f"kernels_{chip}.ptx"
    path.write_text(ptx)
    assert PTXAS is not None
    proc = subprocess.run([PTXAS, f"-arch={chip}", str(path), "-o", str(tmp_path / f"kernels_{chip}.cubin")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"ptxas -arch={chip} refused the PTX:\n{proc.stderr}"
    return ptx


def entries(ptx: str) -> list[str]:
    """The names of the kernels (``.visible .entry name(``) in ``ptx``."""
    return [line.split(".entry", 1)[1].strip().rstrip("(") for line in ptx.splitlines() if ".visible .entry" in line]
