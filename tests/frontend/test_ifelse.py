"""``tensorir.ifelse.ifelse``: lazy (only the chosen branch runs), differentiable, beside T.switch."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.gradient import verify_grad
from tensorir.frontend.variable import GraphError
from tensorir.ifelse import ifelse


def test_chooses_a_branch_and_differentiates():
    a, b = T.dscalar("a"), T.dscalar("b")
    z = ifelse(a < b, a * 2, b * 3)
    f = tr.function([a, b], [z, T.grad(z, a), T.grad(z, b)])
    assert [float(v) for v in f(1.0, 2.0)] == [2.0, 2.0, 0.0]
    assert [float(v) for v in f(3.0, 2.0)] == [6.0, 0.0, 3.0]


def test_only_the_chosen_branch_is_computed():
    x = T.dvector("x")
    i = T.lscalar("i")
    # The else branch would fail (index out of range) if it ran.
    z = ifelse(i < 0, x.sum(), T.log(x).sum())
    f = tr.function([x, i], z)
    assert f(np.asarray([1.0, 2.0]), -1) == 3.0
    assert abs(f(np.asarray([1.0, np.e]), 1) - 1.0) < 1e-12
    text = f.ir()
    assert '"tir.if"' in text and text.index("tir.log") > text.index('"tir.if"')


def test_several_outputs_and_upcast():
    x = T.fvector("x")
    c = T.iscalar("c")
    lo, hi = ifelse(c, [x.sum(), x.max()], [T.constant(0.0, dtype="float64"), x.min()])
    f = tr.function([x, c], [lo, hi])
    out = f(np.asarray([1.0, 5.0], dtype="float32"), 1)
    assert lo.dtype == "float64" and float(out[0]) == 6.0 and float(out[1]) == 5.0
    out = f(np.asarray([1.0, 5.0], dtype="float32"), 0)
    assert float(out[0]) == 0.0 and float(out[1]) == 1.0


def test_gradient_against_finite_differences():
    def fn(x, y):
        return ifelse(x.sum() > 0, T.sin(x) * y, x * y * y)

    rng = np.random.default_rng(3)
    verify_grad(fn, [np.abs(rng.normal(size=3)), rng.normal(size=3)], n_tests=1)
    verify_grad(fn, [-np.abs(rng.normal(size=3)), rng.normal(size=3)], n_tests=1)


def test_rop_through_ifelse():
    x, v = T.dvector("x"), T.dvector("v")
    z = ifelse(x[0] > 0, x * x, -x)
    f = tr.function([x, v], T.Rop(z, x, v))
    np.testing.assert_allclose(f(np.asarray([1.0, 2.0]), np.asarray([1.0, 1.0])), [2.0, 4.0])
    np.testing.assert_allclose(f(np.asarray([-1.0, 2.0]), np.asarray([1.0, 1.0])), [-1.0, -1.0])


def test_switch_is_elementwise_and_ifelse_is_not():
    x = T.dvector("x")
    sw = tr.function([x], T.switch(x > 0, x, -x))
    np.testing.assert_allclose(sw(np.asarray([-1.0, 2.0])), [1.0, 2.0])
    with pytest.raises(GraphError, match="scalar"):
        ifelse(x > 0, x, -x)


def test_rank_mismatch_is_an_error():
    x = T.dvector("x")
    with pytest.raises(GraphError, match="rank"):
        ifelse(T.constant(True), x, x.sum())


def test_ifelse_inside_scan():
    from tensorir.frontend.scan import scan

    xs = T.dvector("xs")
    out, _ = scan(lambda v, acc: ifelse(v > 0, acc + v, acc * 0.5), sequences=xs,
                  outputs_info=T.constant(0.0, dtype="float64"))
    f = tr.function([xs], [out, T.grad(out[-1], xs)])
    values, grad = f(np.asarray([1.0, -1.0, 2.0]))
    np.testing.assert_allclose(values, [1.0, 0.5, 2.5])
    np.testing.assert_allclose(grad, [0.5, 0.0, 1.0])
