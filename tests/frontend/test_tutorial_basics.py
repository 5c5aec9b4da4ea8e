"""The Theano tutorial's basics, as a Theano user writes them."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T


@pytest.fixture(params=["REFERENCE", "FAST_RUN", "FAST_COMPILE"])
def mode(request):
    return request.param


def test_adding_two_scalars(mode):
    x, y = T.dscalars("x", "y")
    f = tr.function([x, y], x + y, mode=mode)
    assert f(2, 3) == 5.0
    assert np.asarray(f(16.3, 12.1)) == pytest.approx(28.4)
    assert (x + y).eval({x: 16.3, y: 12.1}) == pytest.approx(28.4)


def test_logistic_function(mode):
    x = T.dmatrix("x")
    s = 1 / (1 + T.exp(-x))
    s2 = (1 + T.tanh(x / 2)) / 2
    f = tr.function([x], [s, s2], mode=mode)
    a, b = f([[0, 1], [-1, -2]])
    np.testing.assert_allclose(a, [[0.5, 0.73105858], [0.26894142, 0.11920292]], rtol=1e-7)
    np.testing.assert_allclose(a, b)


def test_multiple_outputs(mode):
    a, b = T.dmatrices("a", "b")
    diff = a - b
    f = tr.function([a, b], [diff, abs(diff), diff**2], mode=mode)
    d, ad, d2 = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(d, [[1, 0], [-1, -2]])
    np.testing.assert_array_equal(ad, [[1, 0], [1, 2]])
    np.testing.assert_array_equal(d2, [[1, 0], [1, 4]])


def test_default_values_and_keywords(mode):
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = tr.function([x, tr.In(y, value=1), tr.In(w, value=2, name="w_by_name")], z, mode=mode)
    assert f(33) == 68.0
    assert f(33, 2) == 70.0
    assert f(33, 0, 1) == 33.0
    assert f(33, w_by_name=1) == 34.0
    assert f(33, w_by_name=1, y=0) == 33.0


def test_shared_accumulator_with_updates(mode):
    state = tr.shared(0)
    inc = T.iscalar("inc")
    accumulator = tr.function([inc], state, updates=[(state, state + inc)], mode=mode)
    assert accumulator(1) == 0
    assert state.get_value() == 1
    assert accumulator(300) == 1
    assert state.get_value() == 301
    state.set_value(-1)
    assert accumulator(3) == -1
    assert state.get_value() == 2
    decrementor = tr.function([inc], state, updates=[(state, state - inc)], mode=mode)
    assert decrementor(2) == 2
    assert state.get_value() == 0


def test_givens_replace_a_shared_variable(mode):
    state = tr.shared(0)
    inc = T.iscalar("inc")
    fn_of_state = state * 2 + inc
    foo = T.scalar(dtype=state.dtype)
    skip_shared = tr.function([inc, foo], fn_of_state, givens=[(state, foo)], mode=mode)
    assert skip_shared(1, 3) == 7
    assert state.get_value() == 0


def test_updates_use_old_values_and_apply_together(mode):
    a = tr.shared(np.array(1.0), "a")
    b = tr.shared(np.array(10.0), "b")
    f = tr.function([], [a, b], updates=[(a, b), (b, a)], mode=mode)
    assert f() == [1.0, 10.0]
    assert (a.get_value(), b.get_value()) == (10.0, 1.0)


def test_intermediate_variable_as_input(mode):
    x = T.dvector("x")
    out = T.exp(x)
    y = T.dvector("y")
    c = (out * y).sum()
    f = tr.function([out, y], c, mode=mode)
    assert f([1.0, 2.0], [3.0, 4.0]) == 11.0


def test_outputs_are_fresh_arrays(mode):
    s = tr.shared(np.arange(3.0), "s")
    x = T.dvector("x")
    f = tr.function([x], [x, s, x], mode=mode)
    value = np.arange(3.0)
    a, b, c = f(value)
    a[0] = 99
    b[0] = 99
    assert value[0] == 0 and s.get_value()[0] == 0 and c[0] == 0


def test_shared_semantics():
    w = tr.shared(np.zeros((2, 3), dtype="float32"), name="W", borrow=True)
    assert w.dtype == "float32" and w.broadcastable == (False, False)
    value = w.get_value()
    value[0, 0] = 5
    assert w.get_value()[0, 0] == 0
    assert w.get_value(borrow=True) is w.get_value(borrow=True)
    with pytest.raises(TypeError, match="dtype float32"):
        w.set_value(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="rank 2"):
        w.set_value(np.zeros(3, dtype="float32"))
    assert tr.shared(1.5).dtype == "float64" and tr.shared(2).dtype == "int64"


def test_debugprint_and_pp():
    x = T.dvector("x")
    y = T.exp(x) * 2
    text = tr.printing.debugprint(y, file="str")
    assert '"tir.exp"(%x)' in text and "tir.mul" in text
    assert tr.pp(y) == "(exp(x) * 2.0)"
    f = tr.function([x], y, mode="REFERENCE")
    assert "func.func @main(%x: tensor<?xf64>)" in tr.printing.debugprint(f, file="str")


def test_log_of_softmax_and_sigmoid_are_built_stable_with_finite_gradients():
    z = T.dmatrix("z")
    y = T.lvector("y")
    loss = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    assert "tir.log_softmax" in tr.printing.debugprint(loss, file="str")
    g = T.grad(loss, z)
    zv = np.array([[800.0, -800.0, 0.0], [1.0, 2.0, 3.0]])
    value, grad = tr.function([z, y], [loss, g], mode="REFERENCE")(zv, [1, 2])
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0], [0.5, -0.5, 0.0], atol=1e-12)
    x = T.dvector("x")
    ls = T.log(T.nnet.sigmoid(x))
    gx = tr.function([x], T.grad(ls.sum(), x), mode="REFERENCE")([-800.0, 0.0, 800.0])
    np.testing.assert_allclose(gx, [1.0, 0.5, 0.0])
