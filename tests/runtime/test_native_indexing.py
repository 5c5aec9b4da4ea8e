"""Basic indexing and sum_to steps of the native plan against the reference executor.

The write steps update ``x`` in place only when nothing else can see it; the tests that matter
most check that an input, a shared value or an intermediate still read later is never changed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.runtime.native_indexing import IndexWriteStep, SubtensorStep, SumToStep


def both(inputs, outputs, **kwargs):  # noqa: ANN001, ANN003, ANN201
    kwargs.setdefault("on_unused_input", "ignore")
    native = tr.function(inputs, outputs, mode="FAST_RUN", **kwargs)
    reference = tr.function(inputs, outputs, mode="REFERENCE", **kwargs)
    return native, reference


def steps_of(fn, kind):  # noqa: ANN001, ANN201
    return [step for step, *_ in fn.executor.steps if isinstance(step, kind)]


_SLICES = [slice(None), slice(1, None), slice(None, -1), slice(None, None, 2), slice(None, None, -1), slice(1, 3)]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(_SLICES), st.sampled_from(_SLICES), st.sampled_from(["set", "inc", "read"]),
       st.sampled_from(["float32", "float64", "int32"]), st.integers(0, 2**16))
def test_basic_index_ops_match_reference(rows, cols, mode, dtype, seed) -> None:  # noqa: ANN001
    x = T.matrix("x", dtype=dtype)
    y = T.matrix("y", dtype=dtype)
    # 2 * x makes x a private intermediate, so the write may happen in place.
    base = 2 * x
    if mode == "read":
        out = base[rows, cols] + 1
    else:
        write = T.set_subtensor if mode == "set" else T.inc_subtensor
        out = write(base[rows, cols], y)
    native, reference = both([x, y], out)
    rng = np.random.default_rng(seed)
    xv = (rng.standard_normal((5, 4)) * 10).astype(dtype)
    region = xv[rows, cols].shape
    yv = (rng.standard_normal(region) * 10).astype(dtype)
    np.testing.assert_array_equal(native(xv, yv), reference(xv, yv))


def test_write_chain_updates_one_buffer_in_place() -> None:
    h = T.matrix("h")
    parts = [T.matrix(f"p{i}") for i in range(4)]
    z = T.zeros_like(h)
    for i, p in enumerate(parts):
        z = T.inc_subtensor(z[:, 3 * i:3 * i + 3], p * 2)
    native, reference = both([h, *parts], z)
    writes = steps_of(native, IndexWriteStep)
    assert len(writes) == 4
    seen = []
    original = IndexWriteStep.__call__

    def spy(self, inputs):  # noqa: ANN001, ANN202
        result = original(self, inputs)
        seen.append(result[0] is inputs[0])
        return result

    args = [np.zeros((2, 12))] + [np.random.default_rng(i).random((2, 3)) for i in range(4)]
    try:
        IndexWriteStep.__call__ = spy
        got = native(*args)
    finally:
        IndexWriteStep.__call__ = original
    np.testing.assert_allclose(got, reference(*args))
    assert seen == [True, True, True, True]


def test_write_never_changes_a_value_read_later_an_input_or_a_shared_value() -> None:
    x = T.matrix("x")
    y = T.matrix("y")
    s = tr.shared(np.arange(6.0).reshape(2, 3), name="s")
    inter = x * 3
    written = T.inc_subtensor(inter[:, :1], y)
    # ``inter`` is read after the write, ``x`` is an input and ``s`` a shared value.
    outs = [written, inter + 0, T.set_subtensor(x[0], 7.0), T.inc_subtensor(s[:, 1:], 1.0)]
    native, reference = both([x, y], outs)
    xv = np.ones((2, 3))
    yv = np.full((2, 1), 5.0)
    keep_x = xv.copy()
    for g, w in zip(native(xv, yv), reference(xv, yv)):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(xv, keep_x)
    np.testing.assert_array_equal(s.get_value(), np.arange(6.0).reshape(2, 3))


def test_runtime_index_operands_and_scalar_results() -> None:
    x = T.vector("x")
    i = T.lscalar("i")
    native, reference = both([x, i], [x[i:] * 1, x[i] + 0, T.set_subtensor(x[i], 0.0)])
    assert steps_of(native, SubtensorStep)
    xv = np.arange(5.0)
    for k in (0, 2, -1):
        for g, w in zip(native(xv, k), reference(xv, k)):
            np.testing.assert_array_equal(g, w)
    with pytest.raises((EvaluationError, IndexError)):
        native(xv, 9)


def test_sum_to_identity_and_reduction() -> None:
    x = T.matrix("x")
    b = T.vector("b")
    y = T.matrix("y")
    cost = ((x + b) * y).sum()
    gb, gy = tr.grad(cost, [b, y])
    native, reference = both([x, b, y], [gb, gy])
    assert steps_of(native, SumToStep)
    xv, bv, yv = np.ones((3, 4)), np.arange(4.0), np.full((3, 4), 2.0)
    for g, w in zip(native(xv, bv, yv), reference(xv, bv, yv)):
        np.testing.assert_allclose(g, w)
    # A (3, 1) y broadcasts: its gradient is a real sum over the broadcast axis.
    y1 = T.col("y1")
    native, reference = both([x, y1], tr.grad((x * y1).sum(), y1))
    np.testing.assert_allclose(native(xv, np.ones((3, 1))), reference(xv, np.ones((3, 1))))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([(4,), (1, 4), (3, 1), (1, 1), (2, 1, 4), (2, 3, 1), (1, 3, 4)]),
       st.sampled_from([(3, 4), (2, 3, 4)]), st.sampled_from(["float32", "float64"]), st.integers(0, 2**16))
def test_sum_to_over_broadcast_axes_matches_reference(b_shape, x_shape, dtype, seed) -> None:  # noqa: ANN001
    if len(b_shape) > len(x_shape):
        b_shape = b_shape[1:]
    # No broadcastable dims: the size-1 dims are known only at run time, so the gradient keeps a
    # sum_to whose axes the step finds per call.
    x = T.tensor(dtype=dtype, broadcastable=(False,) * len(x_shape), name="x")
    b = T.tensor(dtype=dtype, broadcastable=(False,) * len(b_shape), name="b")
    w = T.tensor(dtype=dtype, broadcastable=(False,) * len(x_shape), name="w")
    native, reference = both([x, b, w], tr.grad(((x + b) * w).sum(), b))
    assert steps_of(native, SumToStep)
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal(s).astype(dtype) for s in (x_shape, b_shape, x_shape)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(native(*args), reference(*args), rtol=tol, atol=tol)
