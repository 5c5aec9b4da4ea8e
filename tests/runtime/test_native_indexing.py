"""Basic indexing and sum_to steps of the native plan against the reference executor.

The write steps update ``x`` in place only when nothing else can see it; the tests that matter
most check that an input, a shared value or an intermediate still read later is never changed.
The writes themselves are strided kernels: dtypes, layouts (negative steps, int indices, 3-D)
and broadcasts of ``y`` are checked against the reference, and that the in-place path is one
``KernelContext.run`` call with no NumPy work.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.runtime import native_indexing
from tensorir.runtime.native_indexing import IndexWriteStep, SubtensorStep, SumToStep, index_step
from tensorir.runtime.native_kernels import KernelContext


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

    def spy(self, inputs, free=()):  # noqa: ANN001, ANN202
        result = original(self, inputs, free)
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
    # sum_to whose axes the step finds per call (in the plan made without the shape assumption,
    # which such calls run: passes/assumed_shapes.py).
    x = T.tensor(dtype=dtype, broadcastable=(False,) * len(x_shape), name="x")
    b = T.tensor(dtype=dtype, broadcastable=(False,) * len(b_shape), name="b")
    w = T.tensor(dtype=dtype, broadcastable=(False,) * len(x_shape), name="w")
    with tr.change_flags(assume_shapes=False):
        native, reference = both([x, b, w], tr.grad(((x + b) * w).sum(), b))
    assert steps_of(native, SumToStep)
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal(s).astype(dtype) for s in (x_shape, b_shape, x_shape)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(native(*args), reference(*args), rtol=tol, atol=tol)


# 3-D keys: steps, negative steps, ints mixed with slices (an int last axis leaves rows with a
# non-unit stride), and all ints (a single element: NumPy writes it).
_KEYS_3D = [
    (slice(None), slice(None), slice(None)),
    (slice(None, None, -1), slice(1, None), slice(None, None, 2)),
    (1, slice(None, None, -1), slice(1, 3)),
    (slice(None), 2, slice(None, None, -2)),
    (slice(1, 3), slice(None), 0),
    (0, 1, slice(None)),
    (slice(None, None, -1), slice(None, None, -1), slice(None, None, -1)),
    (1, 2, 0),
]


def _y_shape(region: tuple[int, ...], form: str) -> tuple[int, ...]:
    if form == "lower":  # a missing leading dim broadcasts
        return region[1:]
    if form == "ones":  # size-1 dims broadcast
        return tuple(1 if i % 2 == 0 else d for i, d in enumerate(region))
    if form == "scalar":
        return ()
    return region


def _values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    return (rng.standard_normal(shape) * 10).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_KEYS_3D), st.sampled_from(["set", "inc"]),
       st.sampled_from(["float32", "float64", "int32", "bool"]), st.sampled_from(["full", "lower", "ones", "scalar"]),
       st.booleans(), st.integers(0, 2**16))
def test_basic_writes_match_reference_across_dtypes_layouts_and_broadcasts(key, mode, dtype, form, strided_y,
                                                                            seed) -> None:  # noqa: ANN001
    x_shape = (3, 4, 5)
    region = np.empty(x_shape)[key].shape
    y_shape = _y_shape(region, form)
    x = T.tensor(dtype=dtype, broadcastable=(False,) * 3, name="x")
    y = T.tensor(dtype=dtype, broadcastable=(False,) * len(y_shape), name="y")
    # A private intermediate of the same dtype, so the write may happen in place.
    base = ~x if dtype == "bool" else 2 * x
    write = T.set_subtensor if mode == "set" else T.inc_subtensor
    native, reference = both([x, y], write(base[key], y))
    rng = np.random.default_rng(seed)
    xv = _values(rng, x_shape, dtype)
    if strided_y and y_shape:
        # y as a view with reversed, non-unit strides along its last dim.
        yv = _values(rng, (*y_shape[:-1], 2 * y_shape[-1]), dtype)[..., ::-2]
    else:
        yv = _values(rng, y_shape, dtype)
    np.testing.assert_array_equal(native(xv, yv), reference(xv, yv))


def _write_step(fn) -> IndexWriteStep:  # noqa: ANN001
    (step,) = steps_of(fn, IndexWriteStep)
    return step


class _NoNumpyWrites:
    """``numpy`` for the step's module, refusing the calls that would move values in Python."""

    def __getattr__(self, name: str):  # noqa: ANN204
        if name in ("add", "copyto", "empty", "array", "ascontiguousarray"):
            raise AssertionError(f"np.{name} on the in-place path")
        return getattr(np, name)


def test_in_place_write_is_one_kernel_call_and_no_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IndexWriteStep.traits.recordable
    x = T.matrix("x", dtype="float32")
    y = T.matrix("y", dtype="float32")
    native, reference = both([x, y], T.inc_subtensor((x * 2)[:, 256:512], y))
    step = _write_step(native)
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((32, 1024)).astype(np.float32)
    yv = rng.standard_normal((32, 256)).astype(np.float32)
    calls = []
    original = KernelContext.run

    def counting(self, fn, n, work, args, *rest):  # noqa: ANN001, ANN002, ANN202
        calls.append((fn, n, work, args))
        return original(self, fn, n, work, args, *rest)

    monkeypatch.setattr(KernelContext, "run", counting)
    np.testing.assert_array_equal(native(xv, yv), reference(xv, yv))
    mine = [c for c in calls if c[0] in step.kernels.variants.values()]
    assert len(mine) == 1 and mine[0][1:3] == (32, 32 * 256)
    # The step alone, given x's buffer: the result is x, written by one call and nothing else.
    calls.clear()
    inputs = [2 * xv, yv]
    monkeypatch.setattr(native_indexing, "np", _NoNumpyWrites())
    (out,) = step(inputs, free=(0,))
    monkeypatch.undo()
    assert out is inputs[0] and len(calls) == 1
    want = 2 * xv
    want[:, 256:512] += yv
    np.testing.assert_array_equal(out, want)


def test_set_with_other_dtypes_and_bad_shapes() -> None:
    x = T.matrix("x", dtype="float32")
    y = T.matrix("y", dtype="float32")
    native, reference = both([x, y], T.set_subtensor((x * 2)[1:, ::-1], y))
    xv = np.ones((3, 4), np.float32)
    for yv in (np.full((2, 4), 5, np.float32), np.ones((1, 4), np.float32)):
        np.testing.assert_array_equal(native(xv, yv), reference(xv, yv))
    with pytest.raises((EvaluationError, ValueError), match="broadcast"):
        native(xv, np.ones((3, 4), np.float32))
    # A zero-size region: nothing to write (and no kernel call).
    native, reference = both([x, y], T.inc_subtensor((x * 3)[:, 2:2], y))
    np.testing.assert_array_equal(native(xv, np.ones((3, 0), np.float32)), reference(xv, np.ones((3, 0), np.float32)))
    # The step alone: a y of another dtype is cast for a set (as NumPy's assignment does) and
    # left to NumPy for an increment (which computes in the common dtype); a Python scalar works.
    set_step, inc_step = (_write_step(tr.function([x, y], f((x * 2)[:, 1:3], y), mode="FAST_RUN"))
                          for f in (T.set_subtensor, T.inc_subtensor))
    for step, y_value in ((set_step, np.full((3, 2), 2.5)), (inc_step, np.full((3, 2), 1e-9)), (set_step, 7.0)):
        want = np.ones((3, 4), np.float32)
        if step is set_step:
            want[:, 1:3] = y_value
        else:
            want[:, 1:3] += y_value
        (got,) = step([np.ones((3, 4), np.float32), y_value])
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="could not broadcast"):
        set_step([np.ones((3, 4), np.float32), np.ones((3, 3), np.float32)])


def test_y_overlapping_x_and_no_context_take_numpy() -> None:
    x = T.matrix("x")
    y = T.matrix("y")
    native = tr.function([x, y], T.set_subtensor((x * 2)[:, 1:], y), mode="FAST_RUN")
    step = _write_step(native)
    # y a view of x itself: x is then not private (the view holds it), so the write goes to a
    # copy; y read while the region is written would otherwise see its own updates.
    buf = np.arange(12.0).reshape(3, 4)
    (got,) = step([buf, buf[:, :-1]])
    want = buf.copy()
    want[:, 1:] = buf[:, :-1]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(buf, np.arange(12.0).reshape(3, 4))
    plain, kind = index_step(step.op)
    assert kind == "index" and plain.kernels is None
    (got,) = plain([np.arange(12.0).reshape(3, 4), np.ones((3, 3))])
    want = np.arange(12.0).reshape(3, 4)
    want[:, 1:] = 1.0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_join_along_the_leading_axis_is_recorded_and_replays(dtype: str) -> None:
    from tensorir.runtime.native_indexing import JoinStep

    a, b = T.vector("a", dtype=dtype), T.matrix("b", dtype=dtype)
    # The pieces of a gradient joined into one vector, as PyMC's logp graphs do.
    joined = T.concatenate([T.exp(a) * 2, (b * 3).flatten(), a[:0] + 1])
    native, reference = both([a, b], [joined * joined.sum(), T.concatenate([b, b * 2], axis=1)])
    assert len(steps_of(native, JoinStep)) == 2
    rng = np.random.default_rng(0)
    for n in (3, 3, 3, 3, 5, 0):  # the plan, the recording, replays, a new signature, empty pieces
        av = rng.standard_normal(n).astype(dtype)
        bv = rng.standard_normal((2, 4)).astype(dtype)
        for got, want in zip(native(av, bv), reference(av, bv)):
            np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == "float32" else 1e-12)
    assert native.executor.function_replay.reason is None
    assert native.executor.function_replay.replayed >= 2


def test_join_of_mismatched_shapes_names_them() -> None:
    a, b = T.matrix("a"), T.matrix("b")
    native, _ = both([a, b], T.concatenate([a, b]))
    with pytest.raises((EvaluationError, ValueError), match="dimension"):
        native(np.ones((2, 3)), np.ones((2, 4)))
