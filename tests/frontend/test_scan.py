"""``tensorir.scan`` and its views: Theano's tutorial loops, gradients through time, updates."""

import numpy as np
import pytest
from tests.helpers import lstm_step

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend import shape_ops
from tensorir.frontend.gradient import verify_grad
from tensorir.frontend.scan import foldl, foldr, reduce, scan, until
from tensorir.frontend.scan import map as scan_map
from tensorir.frontend.variable import GraphError

RNG = np.random.default_rng(1234)


def f64(x):
    return T.constant(np.asarray(x, dtype="float64"))


# -- the tutorial loops ---------------------------------------------------------------------------------
def test_power_by_repeated_multiplication():
    k = T.iscalar("k")
    A = T.dvector("A")
    result, updates = scan(fn=lambda prior, A: prior * A, outputs_info=A * 0 + 1, non_sequences=A, n_steps=k)
    power = tr.function([A, k], result[-1], updates=updates)
    np.testing.assert_allclose(power(np.arange(10.0), 2), np.arange(10.0) ** 2)
    np.testing.assert_allclose(power(np.arange(4.0), 5), np.arange(4.0) ** 5)


def test_polynomial_with_arange_sequence():
    coefficients = T.dvector("coefficients")
    x = T.dscalar("x")
    arange = getattr(T, "arange", shape_ops.arange)
    components, _ = scan(lambda c, power, x: c * (x ** power), sequences=[coefficients, arange(1000)],
                         non_sequences=x)
    poly = tr.function([coefficients, x], components.sum())
    np.testing.assert_allclose(poly(np.asarray([1.0, 0.0, 2.0]), 3.0), 19.0)


def test_fibonacci_with_two_taps():
    n = T.iscalar("n")
    init = T.dvector("init")
    fib, _ = scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=n)
    out = tr.function([init, n], fib)(np.asarray([0.0, 1.0]), 8)
    np.testing.assert_allclose(out, [1, 2, 3, 5, 8, 13, 21, 34])


def test_accumulator_updates_shared_variable():
    acc = tr.shared(np.float64(0.0), name="acc")
    xs = T.dvector("xs")
    doubled, updates = scan(lambda x: (x * 2, {acc: acc + x}), sequences=xs)
    assert list(updates) == [acc]
    f = tr.function([xs], doubled, updates=updates)
    np.testing.assert_allclose(f(np.asarray([1.0, 2.0, 3.0])), [2, 4, 6])
    assert acc.get_value() == 6.0
    f(np.asarray([10.0]))
    assert acc.get_value() == 16.0


def test_sequence_taps_and_several_integer_outputs():
    x = T.dvector("x")

    def step(a, b, c, count):
        return a + 10 * b + 100 * c, count + 1

    (o, counts), _ = scan(step, sequences=dict(input=x, taps=[-1, 0, 2]),
                          outputs_info=[None, T.constant(np.int64(0))])
    out, cnt = tr.function([x], [o, counts])(np.arange(6.0))
    np.testing.assert_allclose(out, [310, 421, 532])
    assert cnt.dtype == np.int64 and list(cnt) == [1, 2, 3]


def test_go_backwards_and_symbolic_n_steps_with_sequences():
    x = T.dvector("x")
    n = T.iscalar("n")
    o, _ = scan(lambda a: a * 1.0, sequences=x, go_backwards=True)
    np.testing.assert_allclose(tr.function([x], o)(np.arange(5.0)), [4, 3, 2, 1, 0])
    o2, _ = scan(lambda a: a * 2.0, sequences=x, n_steps=n)
    np.testing.assert_allclose(tr.function([x, n], o2)(np.arange(5.0), 3), [0, 2, 4])


def test_until_stops_early():
    def step(prev):
        nxt = prev * 2
        return nxt, until(nxt > 50)

    o, _ = scan(step, outputs_info=f64(1.0), n_steps=100)
    np.testing.assert_allclose(tr.function([], o)(), [2, 4, 8, 16, 32, 64])


def test_views_map_reduce_fold():
    x = T.dvector("x")
    sq, _ = scan_map(lambda v: v * v, sequences=x)
    total, _ = reduce(lambda v, acc: acc + v, sequences=x, outputs_info=f64(0.0))
    left, _ = foldl(lambda v, acc: acc * 10 + v, sequences=x, outputs_info=f64(0.0))
    right, _ = foldr(lambda v, acc: acc * 10 + v, sequences=x, outputs_info=f64(0.0))
    f = tr.function([x], [sq, total, left, right])
    out = f(np.asarray([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out[0], [1, 4, 9])
    assert out[1] == 6 and out[2] == 123 and out[3] == 321
    np.testing.assert_allclose(tr.function([x], T.grad(left, x))(np.asarray([1.0, 2.0, 3.0])), [100, 10, 1])


def test_type_mismatch_names_the_output():
    x = T.dvector("x")
    with pytest.raises(GraphError, match=r"output 0 .*float32.*float64|output 0 .*tensor<f32>.*tensor<f64>"):
        scan(lambda a, prev: T.cast(prev + a, "float32"), sequences=x, outputs_info=f64(0.0))



@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_static_initial_state_accepts_a_step_result_of_open_dims(dtype):
    """T.zeros((2, 3)) for a state whose step result is (2, ?) (a shared weight's dims are open):
    Theano accepts a matrix for a matrix; the static dims are checked when the loop runs."""
    x = T.tensor3("x", dtype=dtype)
    W = tr.shared(RNG.normal(size=(4, 3)).astype(dtype))
    U = tr.shared(RNG.normal(size=(3, 3)).astype(dtype) * 0.5)
    h, _ = scan(lambda xt, hp: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x,
                outputs_info=T.zeros((2, 3), dtype=dtype))
    assert h.ir_type.shape[1:] == (2, 3)
    f = tr.function([x], [h, T.grad(h.sum(), W)])
    xs = RNG.normal(size=(5, 2, 4)).astype(dtype)
    want, hp = [], np.zeros((2, 3), dtype)
    for xt in xs:
        hp = np.tanh(xt @ W.get_value() + hp @ U.get_value())
        want.append(hp)
    got, _ = f(xs)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)
    W.set_value(RNG.normal(size=(4, 5)).astype(dtype))  # the step now gives (2, 5), not (2, 3)
    U.set_value(RNG.normal(size=(3, 5)).astype(dtype))
    with pytest.raises(ValueError, match=r"scan: output 0 of the step function .*dim 1 of the value is 5, expected 3"):
        f(xs)
    assert U.get_value().shape == (3, 5)


def test_missing_n_steps_is_an_error():
    with pytest.raises(GraphError, match="n_steps"):
        scan(lambda p: p * 2, outputs_info=f64(1.0))


# -- gradients -------------------------------------------------------------------------------------------
def _rnn(x, h0, W, U, **kw):
    h, _ = scan(lambda xt, hp, W, U: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x, outputs_info=h0,
                non_sequences=[W, U], **kw)
    return h


RNN_POINT = [RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 4)) * 0.5,
             RNG.normal(size=(4, 4)) * 0.5]


def test_rnn_gradient_against_finite_differences():
    verify_grad(_rnn, RNN_POINT, n_tests=1)




def test_lstm_gradient_against_finite_differences():
    def lstm(x, h0, c0, W, U, b):
        (h, c), _ = scan(lstm_step, sequences=x, outputs_info=[h0, c0], non_sequences=[W, U, b])
        return h.sum() + (c * c).sum()

    pt = [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(2, 2)), RNG.normal(size=(2, 2)),
          RNG.normal(size=(3, 8)) * 0.5, RNG.normal(size=(2, 8)) * 0.5, RNG.normal(size=(8,)) * 0.1]
    verify_grad(lstm, pt, n_tests=1)


def test_truncate_gradient_equals_cutting_the_graph():
    x, h0, W, U = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U")
    h = _rnn(x, h0, W, U, truncate_gradient=2)
    truncated = T.grad(h[-1].sum(), [W, h0])
    # The same loop split in two, the first part cut from the gradient.
    early = _rnn(x[:-2], h0, W, U)
    late = _rnn(x[-2:], tr.gradient.disconnected_grad(early[-1]), W, U)
    cut = T.grad(late[-1].sum(), W)
    f = tr.function([x, h0, W, U], [*truncated, cut])
    g_w, g_h0, g_cut = f(*RNN_POINT)
    np.testing.assert_allclose(g_w, g_cut, rtol=1e-10)
    np.testing.assert_allclose(g_h0, 0.0)


def test_gradient_through_taps():
    def taps_loop(x):
        o, _ = scan(lambda a, b, c: a * b + c, sequences=dict(input=x, taps=[-1, 0, 2]))
        return o

    verify_grad(taps_loop, [RNG.normal(size=7)], n_tests=1)

    def fib_like(init, w):
        o, _ = scan(lambda a, b, w: T.tanh(a * w + b), outputs_info=dict(initial=init, taps=[-2, -1]),
                    non_sequences=w, n_steps=5)
        return o

    verify_grad(fib_like, [RNG.normal(size=(2, 3)), RNG.normal(size=3)], n_tests=1)


def test_gradient_of_until_loop():
    x = T.dscalar("x")

    def step(prev, x):
        nxt = prev * x
        return nxt, until(nxt > 20)

    o, _ = scan(step, outputs_info=f64(1.0), non_sequences=x, n_steps=50)
    f = tr.function([x], [o[-1], T.grad(o[-1], x)])
    value, grad = f(3.0)  # 3, 9, 27: three steps
    assert value == 27.0 and abs(grad - 27.0) < 1e-9


def test_rop_matches_jacobian_and_second_order():
    x, v = T.dvector("x"), T.dvector("v")
    o, _ = scan(lambda a, p: p * a + T.sin(a), sequences=x, outputs_info=f64(1.0))
    f = tr.function([x, v], [T.Rop(o, x, v), T.jacobian(o, x)])
    xv, vv = RNG.normal(size=4), RNG.normal(size=4)
    r, jac = f(xv, vv)
    np.testing.assert_allclose(r, jac @ vv, rtol=1e-10)
    # Second order: the gradient of the loop's gradient (a loop of a loop).
    g = T.grad(o[-1], x)
    hess = tr.function([x], T.jacobian(g, x))(xv)
    eps = 1e-6
    grad_fn = tr.function([x], g)
    numeric = np.stack([(grad_fn(xv + eps * e) - grad_fn(xv - eps * e)) / (2 * eps) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-7)


def test_jacobian_and_hessian_of_dynamic_length_vectors():
    x = T.dvector("x")
    jac = tr.function([x], T.jacobian(x ** 2, x))(np.arange(4.0))
    np.testing.assert_allclose(jac, np.diag(2 * np.arange(4.0)))
    hess = tr.function([x], T.hessian(T.sum(x ** 2), x))(np.arange(4.0))
    np.testing.assert_allclose(hess, 2 * np.eye(4))


# -- random numbers inside the loop -----------------------------------------------------------------------
def test_random_stream_inside_loop_advances():
    from tensorir.frontend.random_streams import RandomStreams

    srng = RandomStreams(seed=7)
    n = T.iscalar("n")
    draws, updates = scan(lambda: srng.normal((3,)), n_steps=n)
    assert len(updates) == 1
    f = tr.function([n], draws, updates=updates)
    first, second = f(4), f(4)
    assert first.shape == (4, 3)
    assert len({tuple(row) for row in first}) == 4  # a new draw each step
    assert not np.allclose(first, second)  # and the state advanced between calls
    assert abs(float(np.concatenate([f(50).ravel() for _ in range(4)]).mean())) < 0.2
