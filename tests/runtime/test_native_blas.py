"""BLAS through generated call kernels: every layout, transpose flag and dtype against NumPy,
then the BLAS steps of compiled functions against the reference executor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import misaligned

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.native_blas import BlasKernels

DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> CompileCache:
    return CompileCache(tmp_path_factory.mktemp("blas-cache"))


def _tol(dtype: str) -> float:
    return 1e-4 if dtype == "float32" else 1e-12


# Each layout maps a C-contiguous matrix to an array of equal value laid out differently.
LAYOUTS = {
    "c": lambda x: x,
    "fortran": np.asfortranarray,
    "row_slice": lambda x: np.pad(x, ((0, 0), (0, 3)))[:, : x.shape[1]],  # rows further apart than their length
    "col_slice": lambda x: np.asfortranarray(np.pad(x, ((0, 3), (0, 0))))[: x.shape[0]],
    "every_other": lambda x: np.repeat(x, 2, axis=1)[:, ::2],  # element stride 2: copied
    "reversed": lambda x: x[::-1][::-1] if x.shape[0] < 2 else np.ascontiguousarray(x[::-1])[::-1],
    "misaligned": misaligned,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_gemm_kernel_matches_numpy(cache: CompileCache, dtype: str, trans_a: bool, trans_b: bool,
                                   layout: str) -> None:
    rng = np.random.default_rng(0)
    m, k, n = 7, 5, 9  # odd and distinct, so a swapped dim or flag shows
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    a_in, b_in = LAYOUTS[layout](a), LAYOUTS[layout](b)
    np.testing.assert_array_equal(a_in, a)
    out = c.copy()
    BlasKernels(cache, dtype).gemm(a_in, b_in, out, trans_a, trans_b, 1.5, 0.5)
    want = 1.5 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 0.5 * c
    np.testing.assert_allclose(out, want, rtol=_tol(dtype), atol=_tol(dtype))


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(DTYPES), rows=st.integers(1, 8), width=st.integers(2, 40), k=st.integers(1, 70),
       trans_a=st.booleans(), trans_b=st.booleans(), layout=st.sampled_from(["c", "fortran", "row_slice"]),
       beta=st.sampled_from([0.0, 0.5]))
def test_short_wide_gemm_transposed_in_blocks_matches_numpy(cache: CompileCache, dtype: str, rows: int, width: int,
                                                           k: int, trans_a: bool, trans_b: bool, layout: str,
                                                           beta: float) -> None:
    # C with at most 64 rows and at least twice as many columns, in whole 8 x 8 (float32) or
    # 4 x 4 (float64) blocks, is computed as Fortran's C and block-transposed (lower_blas._wide),
    # when beta is 0; other sizes and beta != 0 take the usual call. Random sizes on both sides.
    m, n = 8 * rows, 8 * width
    rng = np.random.default_rng(m * 1000 + n + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = c.copy()
    BlasKernels(cache, dtype).gemm(LAYOUTS[layout](a), LAYOUTS[layout](b), out, trans_a, trans_b, 1.5, beta)
    want = 1.5 * ((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)) + beta * c
    np.testing.assert_allclose(out, want, rtol=_tol(dtype) * k, atol=_tol(dtype) * k)


def test_block_transpose_rounds_transpose_both_widths() -> None:
    from tensorir.codegen.cpu.block_transpose import BLOCK, _column_order

    for width in BLOCK.values():
        assert sorted(_column_order(width)) == list(range(width))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 6, 1), (4, 1, 3), (1, 1, 8)])
def test_gemm_kernel_degenerate_dims(cache: CompileCache, dtype: str, shape: tuple[int, int, int]) -> None:
    # Dims of 1 leave strides arbitrary (a[None] has stride 0): BLAS gets a valid leading dim.
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = np.broadcast_to(rng.standard_normal((1, n)).astype(dtype), (k, n)) if k > 1 else rng.standard_normal(
        (k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    BlasKernels(cache, dtype).gemm(a[None][0], b, out)
    np.testing.assert_allclose(out, a @ b, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("layout", ["c", "fortran", "row_slice", "every_other"])
@pytest.mark.parametrize("vector", ["contiguous", "strided", "reversed"])
def test_gemv_kernel_matches_numpy(cache: CompileCache, dtype: str, trans: bool, layout: str, vector: str) -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4)).astype(dtype)
    op_a = a.T if trans else a
    x = rng.standard_normal(op_a.shape[1]).astype(dtype)
    x_in = {"contiguous": x, "strided": np.repeat(x, 3)[::3], "reversed": x[::-1].copy()[::-1]}[vector]
    y = rng.standard_normal(op_a.shape[0]).astype(dtype)
    out = y.copy()
    BlasKernels(cache, dtype).gemv(LAYOUTS[layout](a), x_in, out, trans, -2.0, 3.0)
    np.testing.assert_allclose(out, -2.0 * op_a @ x + 3.0 * y, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_ger_and_dot_kernels_match_numpy(cache: CompileCache, dtype: str) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(5).astype(dtype), rng.standard_normal(7).astype(dtype)
    base = rng.standard_normal((5, 7)).astype(dtype)
    kernels = BlasKernels(cache, dtype)
    for xs, ys in [(x, y), (np.repeat(x, 2)[::2], y[::-1].copy()[::-1]), (x[::-1], y)]:
        out = base.copy()
        kernels.ger(xs, ys, out, 0.5)
        np.testing.assert_allclose(out, base + 0.5 * np.outer(xs, ys), rtol=_tol(dtype), atol=_tol(dtype))
        result = kernels.dot(xs, xs)
        assert result.shape == () and result.dtype == dtype
        np.testing.assert_allclose(result, xs @ xs, rtol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_raw_on_buffers(cache: CompileCache, dtype: str, trans_a: bool, trans_b: bool) -> None:
    # Row-major products on raw addresses, with rows further apart than their length.
    rng = np.random.default_rng(4)
    m, k, n = 3, 4, 5
    a_full = rng.standard_normal((k, m + 2) if trans_a else (m, k + 2)).astype(dtype)
    b_full = rng.standard_normal((n, k + 1) if trans_b else (k, n + 1)).astype(dtype)
    c_full = np.full((m, n + 3), 7.0, dtype)
    a = a_full[:, :m] if trans_a else a_full[:, :k]
    b = b_full[:, :k] if trans_b else b_full[:, :n]
    BlasKernels(cache, dtype).gemm_raw(a_full.ctypes.data, b_full.ctypes.data, c_full.ctypes.data, m, n, k,
                                       a_full.shape[1], b_full.shape[1], c_full.shape[1], trans_a, trans_b,
                                       2.0, 1.0)
    want = 2.0 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 7.0
    np.testing.assert_allclose(c_full[:, :n], want, rtol=_tol(dtype), atol=_tol(dtype))
    assert (c_full[:, n:] == 7.0).all()
    with pytest.raises(OverflowError):
        BlasKernels(cache, dtype).gemm_raw(0, 0, 0, 2**31, 1, 1, 1, 1, 1)


# -- BLAS steps of compiled functions -------------------------------------------------------------
def _both(inputs, outputs):  # noqa: ANN001, ANN202
    native = tr.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
    reference = tr.function(inputs, outputs, mode="REFERENCE", on_unused_input="ignore")
    return native, reference


def _kinds(f) -> dict[str, str]:  # noqa: ANN001
    return dict(f.executor.step_kinds)


def _assert_same(got, want, dtype: str) -> None:  # noqa: ANN001
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=10 * _tol(dtype), atol=10 * _tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_step_accumulates_and_broadcasts_c(dtype: str) -> None:
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    c, bias = T.matrix("c", dtype=dtype), T.vector("bias", dtype=dtype)
    outs = [2 * T.dot(a, b) + 3 * c, T.dot(a.T, c) - c.T.dot(a).T * 0.5, T.dot(a, b) + bias, c - 0.1 * T.dot(a, b)]
    native, reference = _both([a, b, c, bias], outs)
    assert _kinds(native).get("tir.gemm") == "blas"
    rng = np.random.default_rng(5)
    args = [rng.standard_normal(s).astype(dtype) for s in ((4, 3), (3, 4), (4, 4), (4,))]
    before = [x.copy() for x in args]
    _assert_same(native(*args), reference(*args), dtype)
    for x, y in zip(args, before):
        np.testing.assert_array_equal(x, y)  # c is accumulated into a copy, never the argument
    strided = [np.asfortranarray(args[0]), args[1][::-1][::-1], np.repeat(args[2], 2, axis=1)[:, ::2], args[3]]
    _assert_same(native(*strided), reference(*strided), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_with_zero_size_dims(dtype: str) -> None:
    a, b, c = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.matrix("c", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    outs = [T.dot(a, b), 2 * T.dot(a, b) + 3 * c, T.dot(a, v), T.dot(v, b)]
    native, reference = _both([a, b, c, v], outs)
    for m, k, n in [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)]:
        args = [np.ones((m, k), dtype), np.ones((k, n), dtype), np.ones((m, n), dtype), np.ones(k, dtype)]
        _assert_same(native(*args), reference(*args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemv_ger_and_dot_steps(dtype: str) -> None:
    m, x, y = T.matrix("m", dtype=dtype), T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    outs = [T.dot(m, x) * 2 + y, T.dot(x, m) - 3 * x, m + T.outer(y, x), T.dot(x, x), T.dot(y, m.T)]
    native, reference = _both([m, x, y], outs)
    rng = np.random.default_rng(6)
    args = [rng.standard_normal((4, 4)).astype(dtype), rng.standard_normal(4).astype(dtype),
            rng.standard_normal(4).astype(dtype)]
    _assert_same(native(*args), reference(*args), dtype)
    _assert_same(native(args[0][::-1, ::-1], args[1][::-1], args[2]),
                 reference(args[0][::-1, ::-1], args[1][::-1], args[2]), dtype)


def test_shape_mismatch_raises_a_clear_error() -> None:
    a, b = T.matrix("a"), T.matrix("b")
    f = tr.function([a, b], T.dot(a, b))
    with pytest.raises(ValueError, match="not aligned"):
        f(np.ones((2, 3)), np.ones((4, 2)))


def test_integer_products_use_the_reference() -> None:
    a, b = T.matrix("a", dtype="int32"), T.matrix("b", dtype="int32")
    f = tr.function([a, b], T.dot(a, b))
    x = np.arange(6, dtype="int32").reshape(2, 3)
    np.testing.assert_array_equal(f(x, x.T), x @ x.T)
