"""Native conv2d (im2col + BLAS) and pooling kernels against the NumPy references.

Every case builds the same graph twice, ``mode='FAST_RUN'`` (the native executor) and
``mode='REFERENCE'`` (the interpreter over the references in ``dialects/tir/conv.py``), and
compares values and gradients; hypothesis draws shapes, border modes, strides, dilations,
groups and pooling parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.step_table import CONV_POOL_OPS
from tensorir.dialects.interpret import EvaluationError
from tensorir.gradient import verify_grad
from tensorir.runtime import native_conv
from tensorir.tensor.signal import pool

SETTINGS = settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOLERANCE = {"float32": 2e-4, "float64": 1e-10}


def both(inputs, outputs):  # noqa: ANN001, ANN201
    native = tr.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
    reference = tr.function(inputs, outputs, mode="REFERENCE", on_unused_input="ignore")
    kinds = dict(native.executor.step_kinds)
    lowered = [name for name in kinds if name in CONV_POOL_OPS]
    assert lowered and all(kinds[name] == "kernel" for name in lowered), native.executor.describe()
    return native, reference


def assert_same(got, want, dtype: str) -> None:  # noqa: ANN001
    tol = TOLERANCE[dtype]
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        scale = max(1.0, float(np.abs(w).max(initial=0)))
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale)


def strided(a: np.ndarray, how: str) -> np.ndarray:
    """The same values in a non-contiguous layout."""
    if how == "reversed":
        return np.ascontiguousarray(a[..., ::-1, :])[..., ::-1, :]
    if how == "transposed":
        return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if how == "every_other":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    return a


# -- convolution -----------------------------------------------------------------------------------
@st.composite
def conv_cases(draw):  # noqa: ANN001, ANN201
    groups = draw(st.sampled_from([1, 1, 2]))
    c = groups * draw(st.integers(1, 2))
    f = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    border = draw(st.sampled_from(["valid", "full", "half", (1, 0), (0, 2)]))
    subsample = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # Inputs at least as large as the dilated kernel, so 'valid' has an output.
    h = draw(st.integers((kh - 1) * dilation[0] + 1, 9))
    w = draw(st.integers((kw - 1) * dilation[1] + 1, 8))
    n = draw(st.integers(1, 3))
    return dict(shape=(n, c, h, w), filters=(f, c // groups, kh, kw), border_mode=border, subsample=subsample,
                filter_dilation=dilation, filter_flip=draw(st.booleans()), num_groups=groups,
                dtype=draw(st.sampled_from(["float32", "float64"])),
                layout=draw(st.sampled_from(["contiguous", "reversed", "transposed", "every_other"])),
                products=draw(st.sampled_from(["tiled", "blas"])))


@SETTINGS
@given(conv_cases())
def test_conv2d_and_gradients_match_the_reference(case) -> None:  # noqa: ANN001
    dtype = case.pop("dtype")
    layout = case.pop("layout")
    with pytest.MonkeyPatch.context() as mp:
        if case.pop("products") == "blas":  # small shapes take the tiled loops unless told otherwise
            mp.setattr(native_conv, "_SMALL_BLOCK_BYTES", 0)
        check_conv(case, dtype, layout)


def check_conv(case: dict, dtype: str, layout: str) -> None:
    shape, filters = case.pop("shape"), case.pop("filters")
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, **case)
    r = T.tensor4("r", dtype=dtype)
    gx, gw = tr.grad((y * r).sum(), [x, w])
    native, reference = both([x, w, r], [y, gx, gw])
    rng = np.random.default_rng(sum(shape) + sum(filters))
    xv = rng.standard_normal(shape).astype(dtype)
    wv = rng.standard_normal(filters).astype(dtype)
    out_shape = tr.function([x, w], y, mode="REFERENCE")(xv, wv).shape
    rv = rng.standard_normal(out_shape).astype(dtype)
    want = reference(xv, wv, rv)
    assert_same(native(strided(xv, layout), strided(wv, layout), strided(rv, layout)), want, dtype)


@pytest.fixture
def two_threads():  # noqa: ANN201
    """Native functions built in the test use two threads, whatever TENSORIR_NUM_THREADS says."""
    saved = tr.config.threads
    tr.config.threads = 2
    yield
    tr.config.threads = saved


@pytest.mark.parametrize("channels", [1, 20])
def test_lenet_shapes_and_batch_split(two_threads, channels: int) -> None:  # noqa: ANN001
    # Large enough to split the batch over two threads (one slot each); float32 like the benchmark.
    # With 20 channels the filter gradient takes BLAS and the others the tiled products.
    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    y = T.nnet.conv2d(x, w)
    gx, gw = tr.grad((y**2).sum() / 2, [x, w])
    native, reference = both([x, w], [y, gx, gw])
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((37, channels, 12, 12)).astype(np.float32)
    wv = rng.standard_normal((10, channels, 5, 5)).astype(np.float32)
    assert_same(native(xv, wv), reference(xv, wv), "float32")


def test_conv_gradients_against_finite_differences() -> None:
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((4, 1, 3, 2))

    def fn(x, w):  # noqa: ANN001, ANN202
        return T.nnet.conv2d(x, w, border_mode="full", subsample=(2, 1), filter_dilation=(1, 2), num_groups=2)

    verify_grad(fn, [xv, wv], rng=np.random.default_rng(2), n_tests=1, mode="FAST_RUN")


def test_conv_errors_are_raised_before_native_code() -> None:
    x, w = T.tensor4("x"), T.tensor4("w")
    f = tr.function([x, w], T.nnet.conv2d(x, w), mode="FAST_RUN")
    with pytest.raises(EvaluationError, match="channels"):
        f(np.zeros((1, 3, 5, 5)), np.zeros((2, 2, 3, 3)))
    with pytest.raises(EvaluationError, match="larger than the padded input"):
        f(np.zeros((1, 2, 2, 2)), np.zeros((2, 2, 3, 3)))
    empty = f(np.zeros((0, 2, 5, 5)), np.ones((2, 2, 3, 3)))
    assert empty.shape == (0, 2, 3, 3)


# -- pooling ---------------------------------------------------------------------------------------
_MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]
# A few window geometries (each compiles its own kernels), crossed with every mode and border.
_GEOMETRIES = [((2, 2), None), ((3, 2), (1, 2)), ((1, 3), (2, 1)), ((2, 3), (3, 3))]


@st.composite
def pool_cases(draw):  # noqa: ANN001, ANN201
    ws, stride = draw(st.sampled_from(_GEOMETRIES))
    ignore_border = draw(st.booleans())
    pad = (0, 0)
    if ignore_border and draw(st.booleans()):
        pad = (draw(st.integers(0, ws[0] - 1)), draw(st.integers(0, ws[1] - 1)))
    leading = draw(st.sampled_from([(2,), (1, 3), (2, 1, 2)]))
    hw = (draw(st.integers(1, 8)), draw(st.integers(1, 9)))
    return dict(shape=leading + hw, ws=ws, stride=stride, pad=pad, ignore_border=ignore_border,
                mode=draw(st.sampled_from(_MODES)), dtype=draw(st.sampled_from(["float32", "float64"])),
                ties=draw(st.booleans()), layout=draw(st.sampled_from(["contiguous", "transposed", "every_other"])))


@SETTINGS
@given(pool_cases())
def test_pooling_and_gradients_match_the_reference(case) -> None:  # noqa: ANN001
    dtype, shape, layout = case.pop("dtype"), case.pop("shape"), case.pop("layout")
    ties = case.pop("ties")
    x = T.tensor(dtype, name="x", shape=(None,) * len(shape))
    v = T.tensor(dtype, name="v", shape=(None,) * len(shape))
    y = pool.pool_2d(x, **case)
    g = T.tensor(dtype, name="g", shape=(None,) * len(shape))
    outputs = [y, tr.grad((y * g).sum(), x)]
    if case["mode"] == "max":
        outputs.append(tr.gradient.Rop(y, x, v))  # tir.max_pool2d_select
    native, reference = both([x, g, v], outputs)
    rng = np.random.default_rng(sum(shape))
    xv = (rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    vv = rng.standard_normal(shape).astype(dtype)
    pooled = tr.function([x], y, mode="REFERENCE")(xv)
    gv = rng.standard_normal(pooled.shape).astype(dtype)
    want = reference(xv, gv, vv)
    assert_same(native(strided(xv, layout), strided(gv, layout), strided(vv, layout)), want, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", _MODES)
def test_packed_interior_with_remainder(mode: str, dtype: str) -> None:
    # 9 windows per row: the vector path takes whole groups of windows, the rest the scalar loop;
    # small integers make ties.
    x = T.tensor4("x", dtype=dtype)
    g = T.tensor4("g", dtype=dtype)
    y = pool.pool_2d(x, ws=(2, 2), ignore_border=False, mode=mode)
    native, reference = both([x, g], [y, tr.grad((y * g).sum(), x)])
    rng = np.random.default_rng(7)
    xv = rng.integers(-3, 4, (2, 3, 11, 18)).astype(dtype)
    gv = rng.standard_normal((2, 3, 6, 9)).astype(dtype)
    assert_same(native(xv, gv), reference(xv, gv), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", _MODES)
def test_pool_gradient_is_written_over_its_dead_input(mode: str, dtype: str) -> None:
    # LeNet's 2x2 windows tile an even image: each window is read before its gradient is stored
    # over it, so the gradient may take the buffer of x once nothing else reads x.
    x = T.tensor4("x", dtype=dtype)
    g = T.tensor4("g", dtype=dtype)
    c = x * 2  # an intermediate: the pooling gradient is its last reader
    y = pool.pool_2d(c, ws=(2, 2), ignore_border=True, mode=mode)
    native, reference = both([x, g], [tr.grad((y * g).sum(), x)])
    rng = np.random.default_rng(11)
    for _ in range(4):  # the plan, the recording and replays
        xv = rng.integers(-3, 4, (2, 3, 8, 10)).astype(dtype)  # small integers: ties
        gv = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
        assert_same(native(xv, gv), reference(xv, gv), dtype)
    (step,) = [s[0] for s, op in zip(native.executor.steps, native.executor.ops) if op.name == "tir.pool2d_grad"]

    def gradient(shape: tuple[int, ...], given: bool) -> tuple[bool, np.ndarray, np.ndarray]:
        xv = rng.integers(-3, 4, shape).astype(dtype)
        gv = rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2)).astype(dtype)
        want = tr.function([x, g], tr.grad((pool.pool_2d(x, ws=(2, 2), ignore_border=True, mode=mode) * g).sum(),
                                           x), mode="REFERENCE")(xv, gv)
        inputs = [xv.copy(), gv]
        held = inputs[0]
        out = step(inputs, free=(0,) if given else ())[0]
        if not given:
            np.testing.assert_array_equal(held, xv)  # a buffer the plan did not give is never written
        return out is inputs[0], out, want

    written, out, want = gradient((2, 3, 8, 10), given=True)
    assert written
    assert_same([out], [want], dtype)
    for shape, gives in (((2, 3, 8, 10), False), ((2, 3, 9, 10), True)):  # not given, or a border row
        written, out, want = gradient(shape, gives)
        assert not written
        assert_same([out], [want], dtype)


def test_max_pool_gradient_goes_to_every_tied_maximum() -> None:
    x = T.tensor4("x")
    y = pool.pool_2d(x, ws=(2, 2), ignore_border=True)
    native, reference = both([x], [tr.grad(y.sum(), x)])
    xv = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]]]])
    expected = np.array([[[[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 1.0]]]])
    np.testing.assert_array_equal(native(xv)[0], expected)
    np.testing.assert_array_equal(reference(xv)[0], expected)
    # Overlapping windows: a position that is a maximum of several windows gets all their gradients
    # (the centre is a maximum of all four windows; the corner 2 of none).
    z = pool.pool_2d(x, ws=(2, 2), stride=(1, 1), ignore_border=True)
    gz = T.tensor4("gz")
    native, reference = both([x, gz], [tr.grad((z * gz).sum(), x)])
    xv = np.array([[[[0.0, 4.0, 0.0], [4.0, 4.0, 1.0], [0.0, 1.0, 2.0]]]])
    gv = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    want = np.array([[[[0.0, 11.0, 0.0], [101.0, 1111.0, 0.0], [0.0, 0.0, 0.0]]]])
    np.testing.assert_array_equal(native(xv, gv)[0], want)
    np.testing.assert_array_equal(reference(xv, gv)[0], want)


def test_big_pooling_runs_over_threads_and_non_float_falls_back(two_threads) -> None:  # noqa: ANN001
    x = T.tensor4("x", dtype="float32")
    y = pool.pool_2d(x, ws=(2, 2), ignore_border=True)
    native, reference = both([x], [y, tr.grad(y.sum(), x)])
    xv = np.random.default_rng(3).standard_normal((40, 20, 24, 24)).astype(np.float32)
    assert_same(native(xv), reference(xv), "float32")
    # Integer pooling keeps the reference (its averages are computed in float64).
    xi = T.tensor4("xi", dtype="int32")
    yi = pool.pool_2d(xi, ws=(2, 2), ignore_border=True, mode="average_exc_pad")
    native, reference = (tr.function([xi], yi, mode=mode) for mode in ("FAST_RUN", "REFERENCE"))
    values = np.arange(2 * 16).reshape(1, 2, 4, 4).astype(np.int32)
    np.testing.assert_array_equal(native(values), reference(values))


def test_pool_gradients_against_finite_differences() -> None:
    xv = np.random.default_rng(4).permutation(60).reshape(2, 5, 6) / 7.0

    def fn(x):  # noqa: ANN001, ANN202
        return pool.pool_2d(x, ws=(3, 2), stride=(1, 2), pad=(1, 1), ignore_border=True, mode="max") ** 2

    verify_grad(fn, [xv], rng=np.random.default_rng(5), n_tests=1, mode="FAST_RUN")


def test_conv_and_pool_kernels_compile_with_the_executor() -> None:
    # Static shapes predict the variants: they are compiled in the executor's one module (their
    # BLAS declarations merged), so the first call compiles nothing more.
    import tensorir
    import tensorir.tensor as T
    from tensorir.tensor.signal import pool

    x = T.tensor4("x", dtype="float32")
    w = T.tensor4("w", dtype="float32")
    y = pool.pool_2d(T.nnet.conv2d(x, w, input_shape=(2, 1, 8, 8), filter_shape=(3, 1, 3, 3)), ws=(2, 2),
                     ignore_border=True)
    f = tensorir.function([x, w], [y, T.grad(y.sum(), w)])
    context = f.executor.context
    names = set(context.preloaded)
    conv_steps = [s for s, *_ in f.executor.steps if type(s).__name__ in ("ConvStep", "PoolStep")]
    assert conv_steps
    for step in conv_steps:
        assert set(step.predicted_kernels(step.op)) <= names


def test_merged_kernel_texts_declare_externals_once() -> None:
    from tensorir.runtime.native_kernels import merge_kernel_texts

    decl = "llvm.func @tensorir_blas_sgemm(!llvm.ptr)\n"
    merged = merge_kernel_texts([decl + "llvm.func @a() {\n}\n", decl + "llvm.func @b() {\n}\n"])
    assert merged.count(decl) == 1 and "@a()" in merged and "@b()" in merged


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("filters", ["wide", "square"])
def test_whole_tile_products_match_the_reference(dtype: str, groups: int, layout: str, filters: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Sizes made of whole tiles (blocks of R rows, two-vector columns, both the host's: Fg R or
    # 2R, Kg 4R or R*R, P two vectors; the filter gradient's odd Kg keeps its last single row),
    # where a conv kernel compiles without its edge tiles. Such kernels run when compiled ahead
    # (shapes guessed, see test_shape_guess); here every call may take them.
    from tensorir.codegen.cpu.small_gemm import ROW_TILES, tile_lanes

    rows, vectors = ROW_TILES[0], 2 * tile_lanes(dtype)
    cg, kh, kw = (2, rows, 2) if filters == "wide" else (1, rows, rows)
    oh, ow = 4, max(vectors // 4, 1)
    original = native_conv.ConvStep.product
    monkeypatch.setattr(native_conv.ConvStep, "product",
                        lambda self, fg, kg, p, ahead, unit=True: original(self, fg, kg, p, None, unit))
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, num_groups=groups)
    r = T.tensor4("r", dtype=dtype)
    gx, gw = tr.grad((y * r).sum(), [x, w])
    native, reference = both([x, w, r], [y, gx, gw])
    rng = np.random.default_rng(groups)
    xv = rng.standard_normal((3, cg * groups, oh - 1 + kh, ow - 1 + kw)).astype(dtype)
    wv = rng.standard_normal((2 * rows, cg, kh, kw)).astype(dtype)
    rv = rng.standard_normal((3, 2 * rows, oh, ow)).astype(dtype)
    assert_same(native(strided(xv, layout), strided(wv, layout), strided(rv, layout)), reference(xv, wv, rv), dtype)
    steps = [step for step, *_slots in native.executor.steps if isinstance(step, native_conv.ConvStep)]
    wholes = {step.kind for step in steps for (_, small, whole) in step._kernels if small and whole}
    assert wholes == {"forward", "grad_input", "grad_filters"}
