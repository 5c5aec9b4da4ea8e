"""The native executor end to end: fused graphs, reductions, the softmax family, BLAS, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError


def both(inputs, outputs, **kwargs):  # noqa: ANN001, ANN003, ANN201
    kwargs.setdefault("on_unused_input", "ignore")
    native = tr.function(inputs, outputs, mode="FAST_RUN", **kwargs)
    reference = tr.function(inputs, outputs, mode="REFERENCE", **kwargs)
    # (compiled under the call-checked shape assumption, it is guarded: passes/assumed_shapes.py)
    assert type(getattr(native.executor, "assumed", native.executor)).__name__ == "NativeExecutor"
    return native, reference


def assert_same(got, want, tol: float = 1e-5) -> None:  # noqa: ANN001
    got = got if isinstance(got, list) else [got]
    want = want if isinstance(want, list) else [want]
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)


_UNARY = [T.exp, T.tanh, T.nnet.sigmoid, abs, T.sqr, lambda v: T.log(abs(v) + 1), T.cos]
_BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, T.maximum, lambda a, b: a / (abs(b) + 1)]


@settings(max_examples=12)
@given(st.lists(st.tuples(st.integers(0, len(_UNARY) - 1), st.integers(0, len(_BINARY) - 1),
                          st.integers(0, 5), st.integers(0, 5)), min_size=2, max_size=5),
       st.sampled_from([None, 0, 1, (0, 1)]), st.sampled_from(["float32", "float64"]))
def test_random_fused_graphs(program, axis, dtype) -> None:  # noqa: ANN001
    x, y = T.matrix("x", dtype=dtype), T.row("y", dtype=dtype)
    values = [x, y]
    for u, b, i, j in program:
        values.append(_BINARY[b](_UNARY[u](values[i % len(values)]), values[j % len(values)]))
    out = values[-1]
    outputs = [out, out.sum(axis=axis), out.max(axis=axis)]
    native, reference = both([x, y], outputs)
    rng = np.random.default_rng(len(program))
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((1, 5)).astype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert_same(native(a, b), reference(a, b), tol)
    assert_same(native(a[::-1, ::2], b[:, ::2]), reference(a[::-1, ::2], b[:, ::2]), tol)


@pytest.mark.parametrize("reduce", ["sum", "prod", "max", "min", "mean", "all", "any"])
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_reductions_over_axes(reduce: str, dtype: str) -> None:
    x = T.tensor3("x", dtype=dtype)
    axes = [None, 2, (1, 2), 0, (0, 1), 1, (0, 2)]
    outs = [getattr(x, reduce)(axis=a) for a in axes] + [getattr(x, reduce)(axis=1, keepdims=True)]
    native, reference = both([x], outs)
    rng = np.random.default_rng(0)
    a = (rng.integers(-2, 3, (4, 3, 5)) if dtype != "float64" else rng.standard_normal((4, 3, 5))).astype(dtype)
    assert_same(native(a), reference(a), 1e-9)
    assert_same(native(a.transpose(1, 0, 2)[::-1]), reference(a.transpose(1, 0, 2)[::-1]), 1e-9)
    big = np.ones((3, 2, 70000), dtype)  # parallel paths
    assert_same(native(big), reference(big), 1e-9)


def test_empty_reductions() -> None:
    x = T.matrix("x")
    native, reference = both([x], [x.sum(axis=1), x.prod(), x.mean(axis=0)])
    empty = np.zeros((0, 3))
    with np.errstate(all="ignore"):
        assert_same(native(empty), reference(empty))
    f = tr.function([x], x.max(axis=0))
    with pytest.raises(EvaluationError, match="max"):
        f(empty)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family(dtype: str) -> None:
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    outs = [T.nnet.softmax(x), T.nnet.logsoftmax(x), T.nnet.logsumexp(x, axis=1), T.nnet.logsumexp(x, axis=0),
            T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)]
    native, reference = both([x, y], outs)
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((33, 17)) * 30).astype(dtype)
    a[3] = -np.inf
    labels = rng.integers(0, 17, 33).astype("int32")
    with np.errstate(all="ignore"):
        assert_same(native(a, labels), reference(a, labels), 2e-5 if dtype == "float32" else 1e-12)
    with pytest.raises(EvaluationError, match="out of range"):
        native(a, labels + 17)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blas_ops(dtype: str) -> None:
    a, b, v = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.vector("v", dtype=dtype)
    outs = [T.dot(a, b), T.dot(a.T, a), T.dot(b, v), T.dot(v, b.T),
            T.dot(a, b) * 2 + 1, T.dot(v, v)]
    native, reference = both([a, b, v], outs)
    rng = np.random.default_rng(2)
    m, bm, vec = (rng.standard_normal(s).astype(dtype) for s in ((6, 4), (4, 5), (5,)))
    assert_same(native(m, bm, vec), reference(m, bm, vec), 1e-4)
    assert_same(native(np.asfortranarray(m), bm[:, ::-1], vec), reference(np.asfortranarray(m), bm[:, ::-1], vec),
                1e-4)


def test_shape_errors_name_the_op() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    f = tr.function([x, y], T.exp(x) + y)
    with pytest.raises(EvaluationError, match="broadcast") as info:
        f(np.ones((2, 3)), np.ones((4, 3)))
    assert "test_native_executor.py" in str(info.value)


def test_inputs_and_shared_values_are_never_overwritten() -> None:
    x = T.matrix("x")
    w = tr.shared(np.ones((3, 4)), name="w")
    f = tr.function([x], (T.exp(x) + 1) * 2, updates={w: w * 2 + T.exp(w)})
    a = np.random.default_rng(3).standard_normal((3, 4))
    before = a.copy()
    out = f(a)
    np.testing.assert_array_equal(a, before)
    np.testing.assert_allclose(out, (np.exp(before) + 1) * 2)
    np.testing.assert_allclose(w.get_value(), 2 + np.e)


def test_failed_call_leaves_shared_variables_unchanged() -> None:
    x = T.matrix("x")
    w = tr.shared(np.ones((2, 3)), name="w")
    f = tr.function([x], x.sum(), updates={w: w + x})
    with pytest.raises(EvaluationError):
        f(np.ones((4, 3)))
    np.testing.assert_array_equal(w.get_value(), np.ones((2, 3)))


def test_zero_size_and_scalars() -> None:
    x, s = T.matrix("x"), T.scalar("s")
    native, reference = both([x, s], [T.exp(x) * s + 1, x.sum() + s])
    for a in (np.zeros((0, 5)), np.zeros((3, 0)), np.ones((1, 1))):
        assert_same(native(a, 2.0), reference(a, 2.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropy_gradient_row_kernel(dtype: str) -> None:
    """The tutorial loss's gradient is one row kernel (softmax_crossentropy_grad), checked against
    REFERENCE for several row counts (one thread and split), with its label errors."""
    z = T.matrix("z", dtype=dtype)
    y = T.ivector("y")
    w = T.vector("w", dtype=dtype)
    loss = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    weighted = T.sum(T.nnet.crossentropy_softmax_1hot(z, y)[0] * w)
    native, reference = both([z, y, w], [tr.grad(loss, z), tr.grad(weighted, z), loss])
    assert ("tir.softmax_crossentropy_grad", "kernel") in native.executor.step_kinds
    rng = np.random.default_rng(8)
    for rows, cols in [(1, 1), (7, 10), (600, 10), (3000, 33)]:
        a = (rng.standard_normal((rows, cols)) * 5).astype(dtype)
        labels = rng.integers(0, cols, rows).astype("int32")
        weights = rng.standard_normal(rows).astype(dtype)
        assert_same(native(a, labels, weights), reference(a, labels, weights), 2e-6 if dtype == "float32" else 1e-13)
    labels[-1] = cols
    with pytest.raises(EvaluationError, match=f"class label {cols} out of range"):
        native(a, labels, weights)
    labels[-1] = -1
    with pytest.raises(EvaluationError, match="class label -1 out of range"):
        native(a, labels, weights)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, cols", [(1, 1), (5, 2), (64, 10), (65, 16), (130, 7), (200, 17)])
def test_short_rows_vectorized_across_rows(dtype: str, rows: int, cols: int) -> None:
    """Rows of at most 16 elements take the kernel that works on blocks of 64 rows transposed:
    every row op against REFERENCE, across block edges, with -inf, inf and nan rows."""
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    g = T.vector("g", dtype=dtype)
    outs = [T.nnet.softmax(x), T.nnet.logsoftmax(x), T.nnet.logsumexp(x, axis=1),
            T.nnet.crossentropy_softmax_1hot(x, y)[0], tr.grad(T.sum(T.nnet.crossentropy_softmax_1hot(x, y)[0] * g), x)]
    native, reference = both([x, y, g], outs)
    rng = np.random.default_rng(rows * 100 + cols)
    a = (rng.standard_normal((rows, cols)) * 20).astype(dtype)
    if rows > 3:
        a[1] = -np.inf
        a[2, 0] = np.inf
        a[3, -1] = np.nan
    labels = rng.integers(0, cols, rows).astype("int32")
    weights = rng.standard_normal(rows).astype(dtype)
    with np.errstate(all="ignore"):
        assert_same(native(a, labels, weights), reference(a, labels, weights), 2e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_read_later_only_for_their_shape_are_let_go(dtype: str) -> None:
    # The gradient of ``tanh(pool(x) + b)`` sums the bias gradient to the pooled value's shape
    # (``sum_to(g, pooled)``): the pooled buffer is free once the fused add + tanh has read it,
    # and the shape read gets a stand-in that holds no memory.
    from tensorir.tensor.signal import pool

    x, b, g = T.tensor4("x", dtype=dtype), T.vector("b", dtype=dtype), T.tensor4("g", dtype=dtype)
    pooled = pool.pool_2d(x, ws=(2, 2), ignore_border=True)
    y = T.tanh(pooled + b.dimshuffle("x", 0, "x", "x"))
    native, reference = both([x, b, g], [y, *tr.grad((y * g).sum(), [x, b])])
    executor = native.executor
    (pool_slot,) = [step[2][0] for step, op in zip(executor.steps, executor.ops) if op.name == "tir.pool2d"]
    assert any(pool_slot in step[4] for step in executor.steps)
    rng = np.random.default_rng(5)
    for _ in range(4):  # the plan, the recording and replays
        args = [rng.standard_normal((2, 3, 6, 8)).astype(dtype), rng.standard_normal(3).astype(dtype),
                rng.standard_normal((2, 3, 3, 4)).astype(dtype)]
        assert_same(native(*args), reference(*args), 1e-5 if dtype == "float32" else 1e-12)


def test_shape_stubs_hold_no_memory() -> None:
    from tensorir.runtime.native import _shape_stub

    a = np.ones((500, 20, 12, 12), np.float32)
    stub = _shape_stub(a)
    assert stub.shape == a.shape and stub.dtype == a.dtype and stub.strides == (0, 0, 0, 0)
    assert not stub.flags.writeable and not np.may_share_memory(stub, a)
    assert _shape_stub(3) == 3 and _shape_stub(np.array(["a"])).dtype.kind == "U"
