"""The GPU pooling kernels: PTX that ``ptxas`` accepts for sm_80 and sm_90 (every kind, mode and
float dtype), and their numbers against the references, run as one thread on the CPU
(``single_thread.py``): forward in all four modes, the gradient, max_pool2d_select; padding,
strides, ignore_border, ties. The device run is ``pytest -m gpu``'s."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_pool import pool_kernel
from tensorir.dialects.tir.conv import (
    POOL_MODES,
    max_pool2d_select_reference,
    pool2d_grad_reference,
    pool2d_reference,
)
from tensorir.runtime.cuda.pool_steps import pool_sizes

from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas
from .single_thread import run_one_thread

_KINDS = [("forward", mode) for mode in POOL_MODES] + [("grad", mode) for mode in POOL_MODES] + [("select", "max")]


@needs_ptxas
@pytest.mark.parametrize("chip", CHIPS)
def test_pool_kernels_assemble(chip: str) -> None:
    kernels = [pool_kernel(f"{kind}_{mode}_{d}", kind, mode, d, d) for kind, mode in _KINDS for d in FLOATS]
    kernels.append(pool_kernel("grad_max_mixed", "grad", "max", "float64", "float32"))
    ptx = assembled_ptx(kernels, chip)
    assert len(entries(ptx)) == len(kernels)
    # x read through the read-only cache; the averages divide in float64.
    assert "ld.global.nc.f32" in ptx or "ld.global.nc.b32" in ptx
    average = ptx.split(".entry forward_average_inc_pad_float32(", 1)[1].split(".entry", 1)[0]
    assert "div.rn.f64" in average and "cvt.rn.f32.f64" in average


def test_pool_kernels_refuse_what_they_do_not_take() -> None:
    with pytest.raises(NotLowerable):
        pool_kernel("k", "forward", "max", "int32", "int32")
    with pytest.raises(NotLowerable):
        pool_kernel("k", "select", "sum", "float32", "float32")
    with pytest.raises(NotLowerable):
        pool_kernel("k", "backward", "max", "float32", "float32")


@st.composite
def poolings(draw: st.DrawFn) -> tuple[np.ndarray, dict, str]:
    ws = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    ignore_border = draw(st.booleans())
    pad = (draw(st.integers(0, ws[0] - 1)), draw(st.integers(0, ws[1] - 1))) if ignore_border else (0, 0)
    attrs = {"ws": ws, "stride": stride, "pad": pad, "ignore_border": ignore_border,
             "mode": draw(st.sampled_from(POOL_MODES))}
    dtype = draw(st.sampled_from(FLOATS))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # Small integers make ties in the max windows (every tied position gets the gradient).
    x = rng.integers(-3, 4, size=shape).astype(dtype) if draw(st.booleans()) else rng.normal(size=shape).astype(dtype)
    return x, attrs, dtype


def _run(kind: str, x: np.ndarray, v: np.ndarray, attrs: dict, out_dtype: str) -> np.ndarray:
    out_shape, sizes = pool_sizes(kind, x.shape, attrs)
    out = np.full(out_shape, np.nan, dtype=out_dtype)
    kernel = pool_kernel("k", kind, attrs["mode"], x.dtype.name, v.dtype.name)
    run_one_thread(kernel, "k", [x, v, out, *sizes])
    return out


def _close(dtype: str) -> dict:
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-12}


@settings(max_examples=30, deadline=None)
@given(case=poolings())
def test_pool_forward_and_gradient_match_the_references(case: tuple) -> None:
    x, attrs, dtype = case
    expected = pool2d_reference(x, attrs).astype(dtype)
    got = _run("forward", x, x, attrs, dtype)
    np.testing.assert_allclose(got, expected, **_close(dtype))
    gz = np.random.default_rng(7).normal(size=expected.shape).astype(dtype)
    np.testing.assert_allclose(_run("grad", x, gz, attrs, dtype), pool2d_grad_reference(x, gz, attrs, dtype),
                               **_close(dtype))
    if attrs["mode"] == "max":
        v = np.random.default_rng(8).normal(size=x.shape).astype(dtype)
        np.testing.assert_allclose(_run("select", x, v, attrs, dtype), max_pool2d_select_reference(x, v, attrs),
                                   **_close(dtype))


def test_max_pooling_propagates_nan_and_never_picks_padding() -> None:
    x = np.array([[[[-5.0, np.nan], [-7.0, -6.0]]]])
    attrs = {"ws": (2, 2), "stride": (1, 1), "pad": (1, 1), "ignore_border": True, "mode": "max"}
    got = _run("forward", x, x, attrs, "float64")
    np.testing.assert_array_equal(got, pool2d_reference(x, attrs))
    assert got[0, 0, 0, 0] == -5.0 and np.isnan(got[0, 0, 1, 1])  # padding (0) never wins over -5
