"""Shared-variable updates written into the shared variable's own buffer (runtime/donation.py).

Each case trains with a replaying function and with REFERENCE from the same start and compares
the values after every call. Where the update may be written in place, the test also checks that
it was (the shared value keeps its buffer from call to call) and that a call failing during a
replay leaves every shared value as it was; where it must not be (the old value is an output, a
step reads a transposed view of it), the results must still be right.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.runtime.donation import plan_donations
from tensorir.runtime.native_function import RECORD_AFTER
from tensorir.runtime.step_traits import StepTraits

RNG = np.random.default_rng(5)
TOL = {"float32": 1e-5, "float64": 1e-12}


def _softmax_regression(dtype: str, mode: str | None = None, momentum: bool = False):  # noqa: ANN202
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    w = tr.shared(np.linspace(-1, 1, 21).reshape(7, 3).astype(dtype), name="w")
    b = tr.shared(np.zeros(3, dtype), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = tr.grad(cost, [w, b])
    if momentum:  # v <- 0.9 v - 0.1 g; w <- w + v: the new v feeds w's update
        v = tr.shared(np.zeros((7, 3), dtype), name="v")
        v_new = 0.9 * v - 0.1 * gw
        updates = [(v, v_new), (w, w + v_new), (b, b - 0.1 * gb)]
        shared = [w, b, v]
    else:
        updates = [(w, w - 0.5 * gw), (b, b - 0.5 * gb)]
        shared = [w, b]
    return tr.function([x, y], cost, updates=updates, mode=mode), shared


def _batch(dtype: str, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return RNG.standard_normal((20, 7)).astype(dtype), RNG.integers(0, classes, 20).astype("int32")


def _buffers(shared) -> list[int]:  # noqa: ANN001
    return [s.get_value(borrow=True).ctypes.data for s in shared]


@pytest.mark.parametrize("momentum", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_updates_are_written_in_place_and_match_reference(dtype: str, momentum: bool) -> None:
    train, shared = _softmax_regression(dtype, momentum=momentum)
    ref, ref_shared = _softmax_regression(dtype, "REFERENCE", momentum=momentum)
    assert {d.arg for d in train.executor.donations} == {2 + k for k in range(len(shared))}
    before = shared[0].get_value()  # a copy: later calls must not change it
    buffers = []
    for _ in range(6):
        xv, yv = _batch(dtype)
        np.testing.assert_allclose(train(xv, yv), ref(xv, yv), rtol=TOL[dtype])
        for s, r in zip(shared, ref_shared):
            np.testing.assert_allclose(s.get_value(), r.get_value(), rtol=TOL[dtype], atol=TOL[dtype])
        buffers.append(_buffers(shared))
    assert train.executor.function_replay.replayed == 6 - RECORD_AFTER
    # From the recording on, every shared value keeps its buffer: the updates go in place.
    assert buffers[RECORD_AFTER] == buffers[-1]
    np.testing.assert_array_equal(before, np.linspace(-1, 1, 21).reshape(7, 3).astype(dtype))


@pytest.mark.parametrize("at", ["recording", "replay"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_failing_call_leaves_the_shared_values_unchanged(dtype: str, at: str) -> None:
    train, shared = _softmax_regression(dtype)
    good = RECORD_AFTER - 1 if at == "recording" else RECORD_AFTER + 1
    for _ in range(good):
        train(*_batch(dtype))
    assert train.executor.function_replay.replayed == (at == "replay")
    values, buffers = [s.get_value() for s in shared], _buffers(shared)
    xv, yv = _batch(dtype)
    yv[7] = 3  # a class label out of range, found by the loss kernel before the updates run
    with pytest.raises((EvaluationError, IndexError, ValueError)):
        train(xv, yv)
    for s, v in zip(shared, values):
        np.testing.assert_array_equal(s.get_value(), v)
    assert _buffers(shared) == buffers
    # The next good call replays again and continues from the unchanged values.
    ref, ref_shared = _softmax_regression(dtype, "REFERENCE")
    for r, v in zip(ref_shared, values):
        r.set_value(v)
    xv, yv = _batch(dtype)
    np.testing.assert_allclose(train(xv, yv), ref(xv, yv), rtol=TOL[dtype])
    for s, r in zip(shared, ref_shared):
        np.testing.assert_allclose(s.get_value(), r.get_value(), rtol=TOL[dtype], atol=TOL[dtype])


def _aliasing_case(mode: str | None):  # noqa: ANN202
    w = tr.shared(np.arange(20.0).reshape(4, 5), name="w")
    b = tr.shared(np.zeros((4, 5)), name="b")
    x = T.matrix("x")
    f = tr.function([x], (x * 2).sum(), updates=[(w, w * 0.5 + 1), (b, b + x)], mode=mode)
    return f, w, b


def test_an_input_viewing_the_shared_value_is_not_overwritten() -> None:
    # The caller passes the shared buffer itself as an input, which b's update reads after w's:
    # had w's update been written in place, b would add w's new values.
    f, w, b = _aliasing_case(None)
    g, wr, br = _aliasing_case("REFERENCE")
    assert len(f.executor.donations) == 2
    for k in range(7):
        if k >= 4:
            xv, xr = w.get_value(borrow=True), wr.get_value()
        else:
            xv = xr = RNG.standard_normal((4, 5))
        np.testing.assert_allclose(f(xv), g(xr), rtol=1e-12)
        np.testing.assert_allclose(w.get_value(), wr.get_value(), rtol=1e-12)
        np.testing.assert_allclose(b.get_value(), br.get_value(), rtol=1e-12)
    assert f.executor.function_replay.replayed >= 4 - RECORD_AFTER


def test_a_shape_error_in_the_updates_changes_nothing() -> None:
    # w's update runs before b's, which fails on the shapes: on the plan and in the recording
    # (which takes this signature the second time) alike, w must keep its value.
    f, w, b = _aliasing_case(None)
    for _ in range(RECORD_AFTER + 1):
        with pytest.raises((EvaluationError, ValueError)):
            f(RNG.standard_normal((3, 5)))
        np.testing.assert_array_equal(w.get_value(), np.arange(20.0).reshape(4, 5))
        np.testing.assert_array_equal(b.get_value(), np.zeros((4, 5)))


def test_a_read_only_shared_value_is_replaced_not_written() -> None:
    w = tr.shared(np.arange(6.0), name="w")
    x = T.vector("x")
    f = tr.function([x], (x * x).sum() + w.sum(), updates=[(w, w + x)])
    total = np.arange(6.0)
    for k in range(6):
        if k == 4:  # after the recording: a value the caller froze, given without a copy
            frozen, kept = total.copy(), total.copy()
            frozen.flags.writeable = False
            w.set_value(frozen, borrow=True)
        xv = RNG.standard_normal(6)
        f(xv)
        total = total + xv
        np.testing.assert_allclose(w.get_value(), total, rtol=1e-12)
    np.testing.assert_array_equal(frozen, kept)
    assert f.executor.function_replay.replayed == 6 - RECORD_AFTER - 1  # the frozen call took the plan


@pytest.mark.parametrize("output", ["old", "new", "view"])
def test_no_donation_where_the_caller_sees_the_buffer(output: str) -> None:
    # The old value (or a view of it) or the new value is also an output: writing the update
    # in place would change what the caller holds.
    w = tr.shared(np.arange(6.0).reshape(2, 3), name="w")
    x = T.matrix("x")
    new = w * 0.5 + x
    out = {"old": w * 1, "new": new, "view": w.T}[output]
    out = w if output == "old" else out
    f = tr.function([x], [out, (x * w).sum()], updates=[(w, new)])
    assert f.executor.donations == []
    value = np.arange(6.0).reshape(2, 3)
    held = []
    for _ in range(5):
        xv = RNG.standard_normal((2, 3))
        got, _ = f(xv)
        want = {"old": value, "new": value * 0.5 + xv, "view": value.T}[output]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        held.append((got, want.copy()))
        value = value * 0.5 + xv
        np.testing.assert_allclose(w.get_value(), value, rtol=1e-12)
    for got, want in held:  # earlier outputs did not change
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_transposed_read_blocks_the_donation() -> None:
    # The update reads w.T while writing w: element (i, j) would read an already written (j, i).
    w = tr.shared(RNG.standard_normal((5, 5)), name="w")
    x = T.scalar("x")
    f = tr.function([x], x * 1, updates=[(w, w - x * w.T)])
    assert f.executor.donations == []
    value = w.get_value()
    for _ in range(5):
        f(0.25)
        value = value - 0.25 * value.T
        np.testing.assert_allclose(w.get_value(), value, rtol=1e-12)


def test_plan_donations_keeps_dependencies() -> None:
    class Step:
        def __init__(self, fresh: bool = True, inplace=(), elementwise: bool = True) -> None:  # noqa: ANN001
            self.traits = StepTraits(fresh_outputs=fresh, inplace_operands=inplace, elementwise=elementwise)

    class Op:
        name = "tir.fused"

    # slots: 0 = arg w, 1 = arg b; step 0: u = f(w, b) (update of w), step 1: z = g(b), step 2:
    # v = h(b, u) (update of b, reads w's new value), step 3: t = k(z)
    plan = [(Step(inplace=(0,)), (0, 1), (2,)), (Step(), (1,), (3,)), (Step(inplace=(0,)), (1, 2), (4,)),
            (Step(), (3,), (5,))]
    order, donations = plan_donations(plan, [Op()] * 4, (5, 2, 4), {1: 0, 2: 1})
    # b is read by step 1 (not an update): the tail moves after it; w's update comes first.
    assert order == [1, 3, 0, 2]
    assert [(d.step, d.arg, d.result) for d in donations] == [(2, 0, 1), (3, 1, 2)]
    # w's update read by a later step that is not an update: no donation for it.
    plan[3] = (Step(), (2,), (5,))
    order, donations = plan_donations(plan, [Op()] * 4, (5, 2, 4), {1: 0})
    assert donations == [] and order == [0, 1, 2, 3]
