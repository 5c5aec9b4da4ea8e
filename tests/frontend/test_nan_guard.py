"""NanGuardMode: the first op making a bad value raises, naming it, its line and its forward op."""

import inspect

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.monitors import BadValueError


def line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (a comment at the end of the line)."""
    source = inspect.getsource(inspect.getmodule(line_of)).splitlines()
    return next(i + 1 for i, text in enumerate(source) if text.rstrip().endswith(marker))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_guarded_results_equal_fast_run(dtype):
    x = T.matrix("x", dtype=dtype)
    w = tr.shared(np.linspace(0.1, 1.0, 12).reshape(4, 3).astype(dtype), name="w")
    cost = T.sum(T.tanh(T.dot(x, w)) ** 2) + T.sum(T.exp(-w))
    g = tr.grad(cost, w)
    data = np.random.default_rng(0).normal(size=(5, 4)).astype(dtype)
    plain = tr.function([x], [cost, g])(data)
    guarded = tr.function([x], [cost, g], mode=tr.NanGuardMode())(data)
    for a, b in zip(plain, guarded):
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == "float64" else 1e-5)


def test_forward_nan_names_the_op_and_its_line():
    x = T.vector("x")
    y = T.log(x)  # forward-log
    f = tr.function([x], T.sum(y * 2), mode=tr.NanGuardMode())
    assert np.isfinite(f(np.array([1.0, 2.0])))
    with pytest.raises(BadValueError) as info:
        f(np.array([1.0, -2.0]))
    message = str(info.value)
    assert "tir.log" in message and f"test_nan_guard.py:{line_of('# forward-log')}" in message
    assert "NaN" in message


def test_gradient_nan_names_the_forward_op():
    w = tr.shared(np.zeros(3), name="w")
    x = T.vector("x")
    norm = T.sqrt(T.sum(w**2))  # the-norm
    cost = T.sum(x * w) + norm
    grad = tr.grad(cost, w)  # the-grad
    f = tr.function([x], cost, updates=[(w, w - 0.1 * grad)], mode=tr.NanGuardMode())
    with pytest.raises(BadValueError) as info:
        f(np.ones(3))
    message = str(info.value)
    assert "part of the gradient of tir.sqrt" in message, message
    assert f"test_nan_guard.py:{line_of('# the-norm')}" in message
    assert f"test_nan_guard.py:{line_of('# the-grad')}" in message
    np.testing.assert_array_equal(w.get_value(), np.zeros(3))  # the failed call changed nothing


def test_which_values_are_errors():
    x = T.vector("x")
    f_inf_ok = tr.function([x], T.exp(x) * 2, mode=tr.NanGuardMode(inf_is_error=False))
    assert np.isinf(f_inf_ok(np.array([1000.0]))).all()
    f_inf = tr.function([x], T.exp(x) * 2, mode=tr.NanGuardMode())
    with pytest.raises(BadValueError, match="inf"):
        f_inf(np.array([1000.0]))
    f_big = tr.function([x], T.exp(x) * 2, mode=tr.NanGuardMode(big_is_error=True))
    with pytest.raises(BadValueError, match="big"):
        f_big(np.array([30.0]))
    assert np.isfinite(f_inf(np.array([30.0]))).all()


def test_a_nan_argument_is_reported_as_the_arguments():
    x = T.vector("xin")
    f = tr.function([x], T.exp(x) * 2, mode=tr.NanGuardMode())
    with pytest.raises(BadValueError, match=r"argument 0 \(xin\)"):
        f(np.array([np.nan]))


def test_fused_kernel_names_the_inner_op():
    x = T.vector("x")
    y = T.sqrt(x - 3.0)  # inner-sqrt
    f = tr.function([x], T.exp(y) + 1.0, mode=tr.NanGuardMode())
    with pytest.raises(BadValueError) as info:
        f(np.array([1.0, 5.0]))
    message = str(info.value)
    assert "tir.sqrt" in message and f"test_nan_guard.py:{line_of('# inner-sqrt')}" in message


def test_scan_body_is_guarded():
    x = T.vector("x")
    out, _ = tr.scan(lambda v, acc: acc + T.log(v), sequences=x, outputs_info=T.constant(0.0))
    f = tr.function([x], out[-1], mode=tr.NanGuardMode())
    assert np.isclose(f(np.array([1.0, np.e])), 1.0)
    with pytest.raises(BadValueError, match="in the body of tir.scan"):
        f(np.array([1.0, -1.0]))


def test_nan_guard_flag():
    x = T.vector("x")
    with tr.change_flags(nan_guard=True):
        f = tr.function([x], T.log(x) * 2)
    with pytest.raises(BadValueError):
        f(np.array([-1.0]))


def test_mode_by_name():
    x = T.vector("x")
    f = tr.function([x], T.log(x) * 2, mode="NanGuardMode")
    with pytest.raises(FloatingPointError):
        f(np.array([-1.0]))


def test_a_plan_of_one_step_is_guarded():
    x = T.vector("x")
    f = tr.function([x], T.log(x), mode=tr.NanGuardMode())  # one elementwise step
    with pytest.raises(BadValueError, match="tir.log"):
        f(np.array([-1.0]))


def test_a_shared_value_is_checked_once_per_array():
    data = tr.shared(np.ones((4, 3)), name="data")
    i = T.lscalar("i")
    f = tr.function([i], T.sum(T.exp(data[i])), mode=tr.NanGuardMode())
    counter = f.executor.monitor.counter
    counted = []
    original = counter.count
    counter.count = lambda a: counted.append(a.shape) or original(a)
    f(0)
    f(1)
    assert counted.count((4, 3)) == 1  # the data set, read once, not at every call
    bad = np.ones((4, 3))
    bad[2, 1] = np.nan
    data.set_value(bad)  # a new value: checked again
    with pytest.raises(BadValueError, match=r"argument 1 \(data\)"):
        f(0)
