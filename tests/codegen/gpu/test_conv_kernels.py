"""The GPU convolution kernels (im2col, col2im, channels-first): PTX that ``ptxas`` accepts for
sm_80 and sm_90 in float32 and float64, and the whole implicit-GEMM convolution with the kernels
run as one thread on the CPU (``single_thread.py``) and cuBLAS's products by a NumPy column-major
gemm (``conv_formulas.py``), against the references of ``tir.conv2d`` and both gradients: every
padding code, strides, dilations, groups, filter_flip, the batch in chunks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_conv import channels_first_kernel, col2im_kernel, im2col_kernel
from tensorir.dialects.tir.conv import (
    conv2d_grad_filters_reference,
    conv2d_grad_input_reference,
    conv2d_reference,
)
from tensorir.runtime.cuda.conv_gemm import (
    ConvShape,
    filter_gradient_products,
    forward_products,
    input_gradient_products,
)

from .conv_formulas import chunks, convolutions, im2col, strided_gemm
from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas
from .single_thread import run_one_thread


@needs_ptxas
@pytest.mark.parametrize("chip", CHIPS)
def test_conv_kernels_assemble(chip: str) -> None:
    kernels = []
    for dtype in FLOATS:
        kernels += [im2col_kernel(f"im2col_{dtype}", dtype), col2im_kernel(f"col2im_{dtype}", dtype),
                    channels_first_kernel(f"channels_first_{dtype}", dtype)]
    ptx = assembled_ptx(kernels, chip)
    assert entries(ptx) == [f"{k}_{d}" for d in FLOATS for k in ("im2col", "col2im", "channels_first")]
    # col2im gathers: no atomics.
    assert "atom." not in ptx


def test_conv_kernels_refuse_other_dtypes() -> None:
    for emit in (im2col_kernel, col2im_kernel, channels_first_kernel):
        with pytest.raises(NotLowerable):
            emit("k", "int32")


_IM2COL = {d: im2col_kernel("im2col", d) for d in FLOATS}
_COL2IM = {d: col2im_kernel("col2im", d) for d in FLOATS}
_CHANNELS_FIRST = {d: channels_first_kernel("channels_first", d) for d in FLOATS}


def _im2col(x: np.ndarray, s: ConvShape, n0: int, nb: int) -> np.ndarray:
    cols = np.full((s.C * s.kh * s.kw, nb * s.P), np.nan, dtype=x.dtype)
    strides = [st // x.itemsize for st in x.strides]
    run_one_thread(_IM2COL[x.dtype.name], "im2col", [x, cols, cols.size, *s.geometry(n0, nb), *strides])
    return cols


@settings(max_examples=10, deadline=None)
@given(case=convolutions(), per=st.integers(1, 2), dtype=st.sampled_from(FLOATS))
def test_implicit_gemm_with_the_kernels_matches_the_references(case: tuple, per: int, dtype: str) -> None:
    x, w, attrs = (a.astype(dtype) if isinstance(a, np.ndarray) else a for a in case)
    s = ConvShape.of(x.shape, w.shape, attrs)
    close = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}
    y = conv2d_reference(x, w, attrs, dtype)
    gy = np.random.default_rng(1).normal(size=y.shape).astype(dtype)
    buffers = {"w": w.ravel().astype(np.float64), "y": np.zeros(y.size)}
    for n0, nb in chunks(s, per):
        buffers["cols"] = _im2col(x, s, n0, nb).ravel().astype(np.float64)
        for product in forward_products(s, n0, nb):
            strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["y"].reshape(y.shape), y, **close)

    dx = np.full(x.shape, np.nan, dtype=dtype)
    buffers = {"w": w.ravel().astype(np.float64), "gy": gy.ravel().astype(np.float64)}
    for n0, nb in chunks(s, per):
        buffers["cols"] = np.zeros(s.C * s.kh * s.kw * nb * s.P)
        for product in input_gradient_products(s, n0, nb):
            strided_gemm(product, buffers)
        cols = buffers["cols"].astype(dtype)
        total = nb * s.C * s.H * s.W
        run_one_thread(_COL2IM[dtype], "col2im", [cols, dx, total, *s.geometry(n0, nb)])
    np.testing.assert_allclose(dx, conv2d_grad_input_reference(gy, w, x.shape, attrs, dtype), **close)

    buffers = {"dw": np.full(w.size, np.nan)}
    for k, (n0, nb) in enumerate(chunks(s, per)):
        buffers["cols"] = _im2col(x, s, n0, nb).ravel().astype(np.float64)
        gyt = np.full((s.F, nb * s.P), np.nan, dtype=dtype)
        run_one_thread(_CHANNELS_FIRST[dtype], "channels_first", [gy, gyt, gyt.size, n0, nb, s.F, s.P])
        buffers["gyt"] = gyt.ravel().astype(np.float64)
        for product in filter_gradient_products(s, nb, first=k == 0):
            strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["dw"].reshape(w.shape),
                               conv2d_grad_filters_reference(x, gy, w.shape, attrs, dtype), **close)


def test_im2col_reads_strided_inputs() -> None:
    """x through element strides (a transposed view made contiguous differently)."""
    attrs = {"padding": (1, 0), "subsample": (1, 2), "filter_dilation": (1, 1), "filter_flip": False,
             "num_groups": 1}
    base = np.random.default_rng(3).normal(size=(5, 4, 2, 3))
    x = np.ascontiguousarray(base).transpose(2, 3, 0, 1)  # (2, 3, 5, 4), not C-contiguous
    s = ConvShape.of(x.shape, (2, 3, 2, 2), attrs)
    cols = np.full((s.C * s.kh * s.kw, s.N * s.P), np.nan)
    strides = [st // x.itemsize for st in x.strides]
    run_one_thread(_IM2COL["float64"], "im2col", [base, cols, cols.size, *s.geometry(0, s.N), *strides])
    np.testing.assert_array_equal(cols, im2col(x, s, 0, s.N))
