"""The GPU's argmax/argmin: the pair order (NaN first, then the extreme value, then the earliest
index) run on the CPU against NumPy's answer, and the kernels assemble for sm_80 and sm_90."""

from __future__ import annotations

import ctypes
import functools

import numpy as np
import pytest

from tensorir.codegen.cpu import compile_mlir, memref_args, range_kernel
from tensorir.codegen.gpu.lower_argmax import ARG_REDUCTIONS, argmax_rows_kernel, combine_arg

from .ptxas_check import CHIPS, assembled_ptx, entries, needs_ptxas

_MEMREF = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
_TYPES = {"float32": "f32", "float64": "f64", "int32": "i32", "uint8": "i8"}


@functools.cache
def _combine(dtype: str, largest: bool):  # noqa: ANN202 - a ctypes function
    t = _TYPES[dtype]
    text = range_kernel("combine", [t, "i64", t, "i64"], [t, "i64"],
                        lambda e, v: combine_arg(e, v[:2], v[2:], dtype, largest))
    module = compile_mlir(text)
    function = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, *(_MEMREF * 6))(module.address("combine"))
    return module, function


def _tree_reduce(values: np.ndarray, dtype: str, largest: bool, rng: np.random.Generator) -> int:
    """Combine (value, index) pairs in a random tree, as the threads and warps of a block do."""
    _module, function = _combine(dtype, largest)
    v, i = values.copy(), np.arange(values.size, dtype=np.int64)
    while v.size > 1:
        order = rng.permutation(v.size)
        v, i = v[order], i[order]
        half = v.size // 2
        a_v, a_i, b_v, b_i = v[:half].copy(), i[:half].copy(), v[half:2 * half].copy(), i[half:2 * half].copy()
        out_v, out_i = np.empty_like(a_v), np.empty_like(a_i)
        function(0, half, *[x for array in (a_v, a_i, b_v, b_i, out_v, out_i) for x in memref_args(array)])
        v, i = np.concatenate([out_v, v[2 * half:]]), np.concatenate([out_i, i[2 * half:]])
    return int(i[0])


@pytest.mark.parametrize("largest", [True, False], ids=["argmax", "argmin"])
@pytest.mark.parametrize("dtype", list(_TYPES))
def test_pair_order_gives_numpys_answer(dtype: str, largest: bool) -> None:
    rng = np.random.default_rng(7)
    reference = np.argmax if largest else np.argmin
    for trial in range(30):
        n = int(rng.integers(1, 70))
        if dtype.startswith("float"):
            values = rng.choice(np.array([-np.inf, -1.0, 0.0, 2.5, np.inf], dtype=dtype), n)
            if trial % 3 == 0:
                values[rng.integers(0, n, 2)] = np.nan  # the first NaN wins
        else:
            # Many ties (the first index wins); 180 is negative if read as a signed byte.
            values = rng.choice(np.array([0, 60, 120, 180]), n).astype(dtype)
        assert _tree_reduce(values, dtype, largest, rng) == reference(values), values


@needs_ptxas
@pytest.mark.parametrize("chip", CHIPS)
def test_argmax_kernels_assemble(chip: str) -> None:
    kernels = [argmax_rows_kernel(f"{op[4:]}_{dtype}", op, dtype)
               for op in ARG_REDUCTIONS for dtype in ("float32", "float64", "int8", "uint16", "int64", "bool")]
    ptx = assembled_ptx(kernels, chip)
    assert len(entries(ptx)) == len(kernels) and "shfl.sync.bfly" in ptx
