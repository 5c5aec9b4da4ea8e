"""Skinny products (codegen/cpu/lower_skinny.py run by runtime/native_blas.py's BlasStep): every
kernel, operand layout and alpha/beta against NumPy, which products the rule sends to them, and a
logistic-regression training step against the reference executor."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers import misaligned

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.lower_skinny import skinny_tiles
from tensorir.runtime import native_blas
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.native_blas import SKINNY_CALLS, BlasStep, skinny_kind
from tensorir.runtime.native_kernels import KernelContext
from tensorir.runtime.product_table import ProductTable, use_product_table
from tensorir.runtime.threadpool import ThreadPool

DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> KernelContext:
    # Two threads even on one core, so the split of rows over threads is exercised everywhere.
    pool = ThreadPool(2, min_chunk=1, align=1)
    yield KernelContext(3, CompileCache(tmp_path_factory.mktemp("skinny-cache")), pool)
    pool.close()


# Each layout maps a C-contiguous matrix to an array of equal value laid out differently.
LAYOUTS = {
    "c": lambda x: x,
    "fortran": np.asfortranarray,
    "row_slice": lambda x: np.pad(x, ((0, 0), (0, 3)))[:, : x.shape[1]],  # rows further apart than their length
    "reversed": lambda x: np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1],  # negative strides
    "every_other": lambda x: np.repeat(x, 2, axis=1)[:, ::2],  # element stride 2: no unit step
    "misaligned": misaligned,  # BLAS (copied)
}


def _gemm_step(context: KernelContext, dtype: str, trans_a: bool, trans_b: bool) -> BlasStep:
    step = BlasStep("tir.gemm", {"trans_a": trans_a, "trans_b": trans_b, "inplace": None}, dtype, [dtype] * 5,
                    None, context.pool.num_threads)
    step.bind(context)
    return step


def _tolerance(dtype: str, k: int) -> float:
    return (2e-5 if dtype == "float32" else 1e-13) * (1 + k)


def _run_gemm(context: KernelContext, dtype: str, m: int, k: int, n: int, trans_a: bool, trans_b: bool,
              alpha: float, beta: float, layouts: tuple[str, str], c_form: str, seed: int) -> tuple[np.ndarray, ...]:
    """(result, expected) of one gemm step call; checks that no argument was written."""
    rng = np.random.default_rng(seed)
    op_a = rng.standard_normal((m, k)).astype(dtype)
    op_b = rng.standard_normal((k, n)).astype(dtype)
    a = LAYOUTS[layouts[0]](np.ascontiguousarray(op_a.T) if trans_a else op_a)
    b = LAYOUTS[layouts[1]](np.ascontiguousarray(op_b.T) if trans_b else op_b)
    if c_form == "full":
        c = rng.standard_normal((m, n)).astype(dtype)
    elif c_form == "fortran":
        c = np.asfortranarray(rng.standard_normal((m, n)).astype(dtype))
    elif c_form == "row":
        c = rng.standard_normal(n).astype(dtype)
    else:
        c = np.asarray(rng.standard_normal(), dtype)
    if beta == 0:
        c = np.full(c.shape, np.nan, dtype)  # beta 0: C is never read, NaN must not leak
    kept = [x.copy() for x in (a, b, c)]
    inputs = [c, np.asarray(alpha, dtype), a, b, np.asarray(beta, dtype)]
    got = _gemm_step(context, dtype, trans_a, trans_b)(inputs)[0]
    for x, y in zip((a, b, c), kept):
        np.testing.assert_array_equal(x, y)
    want = alpha * (op_a.astype(np.float64) @ op_b.astype(np.float64))
    if beta:
        want = want + beta * np.broadcast_to(c, want.shape)
    return got, want


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(DTYPES), m=st.integers(0, 40), k=st.integers(0, 40), n=st.integers(0, 24),
       trans_a=st.booleans(), trans_b=st.booleans(), alpha=st.sampled_from([1.0, -0.13, 2.5]),
       beta=st.sampled_from([0.0, 1.0, 0.5]), layout_a=st.sampled_from(sorted(LAYOUTS)),
       layout_b=st.sampled_from(sorted(LAYOUTS)), c_form=st.sampled_from(["full", "fortran", "row", "scalar"]),
       seed=st.integers(0, 2**16))
def test_gemm_step_matches_numpy(context: KernelContext, dtype: str, m: int, k: int, n: int, trans_a: bool,
                                 trans_b: bool, alpha: float, beta: float, layout_a: str, layout_b: str,
                                 c_form: str, seed: int) -> None:
    # Small sizes reach every path with the packing and threading limits lowered: packed
    # operands, and splits over the two threads at any row (the rule itself: test_rule_table).
    limits = dict(DOTS_PACK_MIN_K=0, SMALL_INNER_PACK_MIN_M=0, SMALL_INNER_PACK_MIN_N=0)
    # A worker that starts at once: every split pays.
    with mock.patch.multiple(native_blas, **limits), use_product_table(ProductTable(wake_seconds=0.0)):
        got, want = _run_gemm(context, dtype, m, k, n, trans_a, trans_b, alpha, beta, (layout_a, layout_b), c_form,
                              seed)
    assert got.shape == (m, n) and got.dtype == dtype
    tol = _tolerance(dtype, k)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# The benchmarks' products (W3, W4; the first two big enough to be split over the two threads)
# and ones beyond the rule's limits: (m, k, n, trans_a, trans_b), the kernel expected.
SHAPES = {
    "x @ W": ((600, 784, 10, False, False), "dots"),
    "x.T @ g": ((784, 600, 10, True, False), "columns"),
    "h @ W2": ((128, 500, 10, False, False), "dots"),
    "g @ W2.T": ((128, 10, 500, False, True), "small_inner"),
    "h.T @ g": ((500, 128, 10, True, False), "columns"),
    "h @ W2.T": ((128, 500, 10, False, True), "dots"),  # nothing to pack
    "17 columns": ((64, 80, 17, False, False), "short"),
    "wide and deep": ((64, 80, 100, False, False), "short"),
    "a weight's gradient over a minibatch": ((784, 40, 500, True, False), "small_inner"),
    "a minibatch by a weight": ((20, 784, 500, False, False), "short"),
    "a minibatch by a weight's transpose": ((20, 500, 784, False, True), None),
    "many rows, wide and deep": ((65, 80, 100, False, False), None),
    "short k to pack": ((128, 128, 10, False, False), None),
    "few rows to pack": ((32, 10, 500, False, True), None),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_rule_picks_the_skinny_kernels(context: KernelContext, dtype: str, name: str) -> None:
    (m, k, n, trans_a, trans_b), kind = SHAPES[name]
    before = SKINNY_CALLS.copy()
    got, want = _run_gemm(context, dtype, m, k, n, trans_a, trans_b, -0.13, 1.0, ("c", "c"), "full", 7)
    np.testing.assert_allclose(got, want, rtol=_tolerance(dtype, k), atol=_tolerance(dtype, k))
    assert SKINNY_CALLS - before == ({} if kind is None else {kind: 1}), name


@pytest.mark.parametrize("layout", ["every_other", "misaligned"])
def test_unreadable_layouts_fall_back_to_blas(context: KernelContext, layout: str) -> None:
    before = SKINNY_CALLS.copy()
    got, want = _run_gemm(context, "float32", 50, 30, 10, False, False, 1.0, 0.0, (layout, "c"), "full", 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert SKINNY_CALLS == before


def test_rule_table() -> None:
    f32 = 4
    assert skinny_kind(600, 10, 784, (784, 1), (10, 1), f32) == "dots"  # op(B) packed
    assert skinny_kind(784, 10, 600, (1, 784), (10, 1), f32) == "columns"
    assert skinny_kind(128, 500, 10, (10, 1), (1, 10), f32) == "small_inner"  # op(B) packed
    assert skinny_kind(128, 10, 128, (128, 1), (10, 1), f32) is None  # k too short to pack op(B)
    assert skinny_kind(128, 10, 128, (128, 1), (1, 128), f32) == "dots"
    assert skinny_kind(32, 500, 10, (10, 1), (1, 10), f32) is None  # too few rows to pack op(B)
    assert skinny_kind(32, 500, 10, (10, 1), (500, 1), f32) == "small_inner"
    assert skinny_kind(128, 10, 500, (2, 2), (10, 1), f32) is None  # no unit step in op(A)
    assert skinny_kind(128, 10, 10**5, (10**5, 1), (10, 1), f32) is None  # op(B) beyond half of L2
    assert skinny_kind(128, 100, 100, (100, 1), (100, 1), f32) is None  # neither skinny nor shallow


def test_logistic_regression_step_matches_the_reference() -> None:
    x, y = T.matrix("x", dtype="float32"), T.ivector("y")
    w, b = T.matrix("w", dtype="float32"), T.vector("b", dtype="float32")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = tr.grad(cost, [w, b])
    outputs = [cost, w - 0.13 * gw, b - 0.13 * gb]
    native = tr.function([x, y, w, b], outputs)
    reference = tr.function([x, y, w, b], outputs, mode="REFERENCE")
    rng = np.random.default_rng(11)
    args = [rng.uniform(0, 1, (200, 784)).astype("float32"), rng.integers(0, 10, 200).astype("int32"),
            (0.01 * rng.standard_normal((784, 10))).astype("float32"), np.zeros(10, "float32")]
    before = SKINNY_CALLS.copy()
    got = native(*args)
    used = SKINNY_CALLS - before
    assert used["dots"] >= 1 and used["columns"] >= 1, used
    for g, want in zip(got, reference(*args)):
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5)


# Products whose rows and columns are whole tiles of their kernel (m, k, n, trans_a, trans_b).
WHOLE_SHAPES = {"dots": (600, 784, 10, False, False), "columns": (784, 600, 10, True, False),
                "small_inner": (130, 10, 512, False, True)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(WHOLE_SHAPES))
@pytest.mark.parametrize("odd", ["none", "rows", "columns"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_whole_tile_kernels_match_numpy(context: KernelContext, dtype: str, kind: str, odd: str,
                                        beta: float) -> None:
    # The kernels without edge tiles (a call takes them when they were compiled ahead, here
    # whenever the sizes allow), split over two threads; with one more row or column, that side
    # keeps its edge tiles.
    m, k, n, trans_a, trans_b = WHOLE_SHAPES[kind]
    rows, columns = skinny_tiles(kind, dtype)  # the host's tiles: round the sizes up to them
    m, n = -(-m // rows) * rows, -(-n // columns) * columns
    m, n = m + (odd == "rows"), n + (odd == "columns")
    used: list[tuple] = []

    def variant(self, kind_, accumulate, m_, n_):  # noqa: ANN001, ANN202
        whole = self.whole(kind_, m_, n_)
        used.append((kind_, whole))
        return (kind_, accumulate, whole) if any(whole) else (kind_, accumulate)

    with mock.patch.object(native_blas.SkinnyKernels, "variant", variant):
        got, want = _run_gemm(context, dtype, m, k, n, trans_a, trans_b, 1.0, beta, ("c", "c"), "full", 7)
    tol = _tolerance(dtype, k)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert used == [(kind, (odd != "rows", odd != "columns"))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "k", "n"), [(20, 784, 500), (3, 100, 512), (64, 90, 1000), (17, 70, 33)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_short_products_split_by_columns(context: KernelContext, dtype: str, m: int, k: int, n: int,
                                         beta: float) -> None:
    """``short`` products split over the threads by column ranges (each thread reads its part of
    the weight), unevenly and at edges that are not whole tiles."""
    before = SKINNY_CALLS.copy()
    iterations: list[int] = []
    run = context.run

    def counted(fn, n_iterations, work, args, owners=()):  # noqa: ANN001, ANN202
        iterations.append(n_iterations)
        return run(fn, n_iterations, work, args, owners)

    with use_product_table(ProductTable(wake_seconds=20e-6)), mock.patch.object(context, "run", counted):
        got, want = _run_gemm(context, dtype, m, k, n, False, False, -0.7, beta, ("c", "c"), "full", 5)
    assert SKINNY_CALLS - before == {"short": 1}
    assert iterations[-1] == (2 if m * n * k > 1_000_000 else 1)
    tol = _tolerance(dtype, k)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
