"""DebugMode: each native step against its reference, in-place writes, inferred shapes."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.monitors import StepMismatchError


def _training_function(dtype, mode):
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    W = tr.shared(np.random.default_rng(1).normal(size=(6, 4)).astype(dtype) * 0.1, name="W")
    b = tr.shared(np.zeros(4, dtype=dtype), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-3 * T.sum(T.sqr(W))
    gW, gb = tr.grad(cost, [W, b])
    return tr.function([x, y], [cost, gW, gb], mode=mode)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_debug_mode_agrees_with_fast_run(dtype):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(8, 6)).astype(dtype), rng.integers(0, 4, size=8).astype("int32")
    checked = _training_function(dtype, "DebugMode")
    for a, b in zip(checked(*data), _training_function(dtype, "FAST_RUN")(*data)):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert checked.executor.monitor.compared >= 3


def _monitored_steps(f):
    return [step for step, *_ in f.executor.inner.steps]


def _step_of(f, name):
    return next(s for s in _monitored_steps(f) if s.place.op.name == name and s.place.kind != "reference")


def test_a_wrong_native_result_is_reported():
    x = T.vector("x")
    y = T.exp(x) * 3.0  # the-kernel
    f = tr.function([x], y, mode="DebugMode")
    step = _step_of(f, "tir.fused")
    inner = step.inner
    step.inner = lambda inputs, **options: [r + 1e-3 for r in inner(inputs, **options)]
    with pytest.raises(StepMismatchError) as info:
        f(np.array([0.5, 1.0]))
    message = str(info.value)
    assert "tir.fused" in message and "differs from the reference" in message
    assert "test_debug_mode.py" in message and "(2,)" in message


def test_an_overwritten_operand_still_needed_is_reported():
    x = T.vector("x")
    f = tr.function([x], T.exp(x) * 3.0, mode="DebugMode")
    step = _step_of(f, "tir.fused")
    inner = step.inner

    def clobbering(inputs, **options):
        results = inner(inputs, **options)
        inputs[0][...] = 0.0  # the caller's array: a later use (the caller) still needs it
        return results

    step.inner = clobbering
    with pytest.raises(StepMismatchError, match="overwrote its operand 0"):
        f(np.array([0.5, 1.0]))


def test_a_result_off_its_inferred_type_is_reported():
    x = T.matrix("x")
    f = tr.function([x], T.exp(x) * 3.0, mode="DebugMode")
    step = _step_of(f, "tir.fused")
    step.inner = lambda inputs, **options: [np.zeros(3)]
    with pytest.raises(StepMismatchError, match="inferred type"):
        f(np.ones((2, 3)))


def test_mode_names():
    from tensorir.frontend.modes import get_mode

    assert get_mode("DebugMode") is get_mode("DEBUG_MODE")
    assert isinstance(get_mode("DebugMode"), tr.DebugMode)
    with tr.change_flags(mode="DebugMode"):
        assert isinstance(get_mode(None), tr.DebugMode)


def test_fast_run_replay_and_donations_are_checked():
    x = T.matrix("x")
    W = tr.shared(np.full((3, 2), 0.5), name="W")
    cost = T.sum(T.tanh(T.dot(x, W)))
    f = tr.function([x], cost, updates=[(W, W - 0.1 * tr.grad(cost, W))], mode="DebugMode")
    reference = tr.function([x], cost, updates=[], mode="REFERENCE")
    data = np.ones((4, 3))
    for _ in range(4):  # the replay starts at a signature's third call
        expected = reference(data)
        np.testing.assert_allclose(f(data), expected)
    assert f.executor.fast.function_replay is not None
    donated = f.executor.donated
    assert donated  # W's update may be written into W's buffer

    inner_run = f.executor.fast.run

    def wrong(args):
        results = inner_run(args)
        return [r + 1.0 for r in results]

    f.executor.fast.run = wrong
    with pytest.raises(StepMismatchError, match="FAST_RUN's executor"):
        f(data)
