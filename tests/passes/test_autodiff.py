"""Gradients against finite differences: reverse mode, forward mode and second order, per op."""

import time

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.gradient import DisconnectedInputError, verify_grad

rng = np.random.default_rng(0)


def _pos(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _any(*shape):
    return rng.uniform(-1.5, 1.5, size=shape)


def _unit(*shape):
    return rng.uniform(-0.8, 0.8, size=shape)


# (name, function, points): every differentiable elementwise, reduction and core shape op.
CASES = [
    ("add-broadcast", lambda a, b: a + b, [_any(3, 4), _any(4)]),
    ("sub-broadcast", lambda a, b: a - b, [_any(3, 1), _any(1, 4)]),
    ("mul", lambda a, b: a * b, [_any(3, 4), _any(3, 4)]),
    ("true_div", lambda a, b: a / b, [_any(3, 4), _pos(4)]),
    ("pow", lambda a, b: a**b, [_pos(3), _any(3)]),
    ("mod", lambda a, b: T.mod(a, b), [_pos(5) + 3.1, _pos(5)]),
    ("maximum", lambda a, b: T.maximum(a, b), [_any(6), _any(6)]),
    ("minimum", lambda a, b: T.minimum(a, b), [_any(6), _any(6)]),
    ("arctan2", lambda a, b: T.arctan2(a, b), [_any(4), _pos(4)]),
    ("clip", lambda a: T.clip(a, -0.5, 0.5), [np.array([-1.2, -0.3, 0.2, 0.9])]),
    ("switch", lambda a, b: T.switch(a > 0, a * b, b), [_any(5), _any(5)]),
    ("cast", lambda a: T.cast(a, "float32").astype("float64") * 2, [_any(4)]),
    ("neg", lambda a: -a, [_any(3)]),
    ("abs", lambda a: abs(a), [_any(3) + 2.0]),
    ("sqr", lambda a: T.sqr(a), [_any(3)]),
    ("reciprocal", lambda a: T.inv(a), [_pos(3)]),
    ("sqrt", lambda a: T.sqrt(a), [_pos(3)]),
    ("exp", lambda a: T.exp(a), [_any(3)]),
    ("exp2", lambda a: T.exp2(a), [_any(3)]),
    ("expm1", lambda a: T.expm1(a), [_any(3)]),
    ("log", lambda a: T.log(a), [_pos(3)]),
    ("log2", lambda a: T.log2(a), [_pos(3)]),
    ("log10", lambda a: T.log10(a), [_pos(3)]),
    ("log1p", lambda a: T.log1p(a), [_pos(3)]),
    ("sin", lambda a: T.sin(a), [_any(3)]),
    ("cos", lambda a: T.cos(a), [_any(3)]),
    ("tan", lambda a: T.tan(a), [_unit(3)]),
    ("arcsin", lambda a: T.arcsin(a), [_unit(3)]),
    ("arccos", lambda a: T.arccos(a), [_unit(3)]),
    ("arctan", lambda a: T.arctan(a), [_any(3)]),
    ("sinh", lambda a: T.sinh(a), [_any(3)]),
    ("cosh", lambda a: T.cosh(a), [_any(3)]),
    ("tanh", lambda a: T.tanh(a), [_any(3)]),
    ("arcsinh", lambda a: T.arcsinh(a), [_any(3)]),
    ("arccosh", lambda a: T.arccosh(a), [_pos(3) + 1.0]),
    ("arctanh", lambda a: T.arctanh(a), [_unit(3)]),
    ("erf", lambda a: T.erf(a), [_any(3)]),
    ("erfc", lambda a: T.erfc(a), [_any(3)]),
    ("sigmoid", lambda a: T.sigmoid(a), [_any(3)]),
    ("softplus", lambda a: T.softplus(a), [_any(3)]),
    ("sum", lambda a: a.sum(axis=1), [_any(3, 4)]),
    ("sum-keepdims", lambda a: a.sum(axis=0, keepdims=True) * a, [_any(3, 4)]),
    ("prod", lambda a: a.prod(axis=0), [_pos(3, 4)]),
    ("mean", lambda a: a.mean(axis=(0, 2)), [_any(2, 3, 4)]),
    ("max", lambda a: a.max(axis=1), [_any(3, 4)]),
    ("min", lambda a: a.min(), [_any(3, 4)]),
    ("var", lambda a: a.var(axis=1), [_any(3, 4)]),
    ("std", lambda a: a.std(axis=0, ddof=1), [_any(3, 4)]),
    ("dimshuffle", lambda a: a.dimshuffle(1, "x", 0), [_any(3, 4)]),
    ("transpose", lambda a: a.T * 2, [_any(3, 4)]),
    ("reshape", lambda a: a.reshape((2, -1)), [_any(3, 4)]),
    ("reshape-symbolic", lambda a: a.reshape((a.shape[0] * a.shape[1],)), [_any(3, 4)]),
    ("flatten", lambda a: a.flatten(2), [_any(2, 3, 4)]),
]


@pytest.mark.parametrize("name, fn, points", CASES, ids=[c[0] for c in CASES])
def test_reverse_mode(name, fn, points):
    # A float32 cast in the middle rounds: finite differences need a bigger step there.
    tolerances = {"eps": 1e-3, "abs_tol": 1e-3, "rel_tol": 1e-3} if name == "cast" else {}
    verify_grad(fn, points, **tolerances)


@pytest.mark.parametrize("name, fn, points", CASES, ids=[c[0] for c in CASES])
def test_forward_mode_equals_reverse_mode(name, fn, points):
    """<u, J v> computed by Rop and by Lop must agree (both are checked against FD above)."""
    xs = [T.TensorType("float64", shape=(None,) * p.ndim)(f"x{i}") for i, p in enumerate(points)]
    out = fn(*xs)
    vs = [T.TensorType("float64", shape=(None,) * p.ndim)(f"v{i}") for i, p in enumerate(points)]
    u = T.TensorType("float64", shape=(None,) * out.ndim)("u")
    jv = T.Rop(out, xs, vs)
    ujs = T.Lop(out, xs, u)
    f = tr.function(xs + vs + [u], [(jv * u).sum(), sum((uj * v).sum() for uj, v in zip(ujs, vs))],
                    on_unused_input="ignore", mode="REFERENCE")
    out_value = tr.function(xs, out, mode="REFERENCE")(*points)
    directions = [rng.standard_normal(p.shape) for p in points]
    a, b = f(*points, *directions, rng.standard_normal(np.shape(out_value)))
    tol = 1e-5 if name == "cast" else 1e-9  # the float32 round trip limits the precision
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


SECOND_ORDER = ["mul", "true_div", "pow", "exp", "log", "tanh", "sigmoid", "softplus", "sin", "sqrt", "erf", "sum",
                "mean", "var", "max", "reshape", "dimshuffle", "arctan2"]


@pytest.mark.parametrize("name, fn, points", [c for c in CASES if c[0] in SECOND_ORDER],
                         ids=[c[0] for c in CASES if c[0] in SECOND_ORDER])
def test_second_order(name, fn, points):
    def first(*xs):
        cost = fn(*xs).sum()
        return T.grad(cost, xs[0]) * 1.0

    verify_grad(first, points)


def test_tutorial_gradients():
    x = T.dscalar("x")
    f = tr.function([x], T.grad(x**2, x))
    assert f(4) == 8.0 and f(94.2) == pytest.approx(188.4)
    m = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-m)))
    g = tr.function([m], T.grad(s, m))([[0, 1], [-1, -2]])
    np.testing.assert_allclose(g, [[0.25, 0.19661193], [0.19661193, 0.10499359]], rtol=1e-7)
    W, V = T.dmatrices("W", "V")
    xv = T.dvector("x")
    y = T.dot(xv, W)
    # The Rop of a linear map does not read W itself, hence on_unused_input.
    jv = tr.function([W, V, xv], T.Rop(y, W, V), on_unused_input="ignore")([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1])
    np.testing.assert_allclose(jv, [2, 2])
    v = T.dvector("v")
    vj = tr.function([v, xv], T.Lop(y, W, v))([2, 2], [0, 1])
    np.testing.assert_allclose(vj, [[0, 0], [2, 2]])
    xs = T.dvector("xs")
    jac = tr.function([xs], T.jacobian(xs**2, xs))([4.0, 4.0])
    np.testing.assert_allclose(jac, [[8, 0], [0, 8]])
    hess = tr.function([xs], T.hessian(T.sum(xs**2), xs))([4.0, 4.0])
    np.testing.assert_allclose(hess, [[2, 0], [0, 2]])


def test_integer_inputs_and_disconnected():
    x = T.dvector("x")
    i = T.lvector("i")
    y = T.dvector("y")
    cost = (x * i).sum()
    gx, gi = T.grad(cost, [x, i])
    assert gi.dtype == tr.config.floatX
    out = tr.function([x, i], [gx, gi])([1.0, 2.0], [3, 4])
    np.testing.assert_array_equal(out[0], [3, 4])
    np.testing.assert_array_equal(out[1], [0, 0])
    with pytest.raises(DisconnectedInputError, match="does not depend on y"):
        T.grad(cost, y)
    gy = T.grad(cost, y, disconnected_inputs="ignore")
    np.testing.assert_array_equal(tr.function([y], gy)([1.0, 2.0, 3.0]), [0, 0, 0])
    assert T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="None") is None
    with pytest.raises(TypeError, match="must be a scalar"):
        T.grad(x * 2, x)


def test_gradient_stops():
    from tensorir.gradient import disconnected_grad, grad_clip, grad_scale, zero_grad

    x = T.dscalar("x")
    f = tr.function([x], [T.grad(zero_grad(x**2) + x, x), T.grad(grad_scale(x**2, 3.0), x),
                          T.grad(grad_clip(x, -1.0, 1.0) ** 2, x)])
    assert f(2.0) == [1.0, 12.0, 1.0]
    with pytest.raises(DisconnectedInputError):
        T.grad(disconnected_grad(x) ** 2, x)
    y = x * 2
    g = T.grad(y * x, x, consider_constant=[y])  # d(y x)/dx with y held constant is y = 2x
    assert tr.function([x], g)(2.0) == 4.0


def test_grad_of_a_10000_op_chain_and_of_shared_variables():
    x = T.dvector("x")
    w = tr.shared(np.array([0.5, 0.25]), "w")
    v = x * w
    for k in range(5_000):
        v = T.sin(v) + x if k % 2 else v * 1.0001
    cost = v.sum()
    start = time.perf_counter()
    gx, gw = T.grad(cost, [x, w])
    assert time.perf_counter() - start < 30
    f = tr.function([x], [gx, gw], mode="REFERENCE")
    a, b = f([0.1, 0.2])
    assert np.all(np.isfinite(a)) and b.shape == (2,)


def test_rop_tutorial_example_as_written():
    # Theano's gradients tutorial: W is an input although dot(x, V) never reads it; the eval
    # point is checked against W's shape, as Theano's contract says.
    W, V = T.dmatrices("W", "V")
    x = T.dvector("x")
    JV = T.Rop(T.dot(x, W), W, V)
    f = tr.function([W, V, x], JV)
    np.testing.assert_allclose(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2, 2])
    with pytest.raises(ValueError, match="specify_shape"):
        f([[1, 1], [1, 1]], [[2, 2, 2], [2, 2, 2]], [0, 1])
