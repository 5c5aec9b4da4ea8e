"""The GPU's label gathers and accumulating ``inc_subtensor`` (atomic adds) assemble for sm_80 and
sm_90, in the widths NVPTX has atomics for."""

from __future__ import annotations

import pytest

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_scatter import gather_rows_kernel, scatter_add_kernel

from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas


@needs_ptxas
@pytest.mark.parametrize("chip", CHIPS)
def test_scatter_and_gather_kernels_assemble(chip: str) -> None:
    kernels = [scatter_add_kernel(f"scatter_{d}_{i}", d, i) for d in (*FLOATS, "int32", "int64")
               for i in ("int32", "int64")]
    kernels += [gather_rows_kernel(f"gather_{d}", d, "int64") for d in (*FLOATS, "bool", "int8")]
    ptx = assembled_ptx(kernels, chip)
    assert len(entries(ptx)) == len(kernels)
    for width in ("f32", "f64", "u32", "u64"):
        assert f"atom.global.add.{width}" in ptx


def test_what_has_no_atomic_add_is_refused() -> None:
    for dtype in ("int8", "bool", "uint16"):
        with pytest.raises(NotLowerable):
            scatter_add_kernel("k", dtype, "int64")
    with pytest.raises(NotLowerable):
        gather_rows_kernel("k", "float32", "float32")
