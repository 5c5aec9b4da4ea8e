"""``T.nnet.conv2d``, ``pool_2d`` and batch normalization from the frontend: values, gradients, text form."""

import warnings

import numpy as np
import pytest
import scipy.signal

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Module, parse_module, print_module
from tensorir.frontend.printing import graph_function
from tensorir.gradient import verify_grad
from tensorir.tensor.signal import pool

RNG = np.random.default_rng(0)


def _conv_numpy(x, w, mode):
    return np.array(
        [
            [
                sum(scipy.signal.convolve2d(x[n, c], w[f, c], mode=mode) for c in range(x.shape[1]))
                for f in range(w.shape[0])
            ]
            for n in range(x.shape[0])
        ]
    )


@pytest.mark.parametrize("border_mode,scipy_mode", [("valid", "valid"), ("full", "full"), ("half", "same")])
@pytest.mark.parametrize("static", [True, False])
def test_conv2d_border_modes(border_mode, scipy_mode, static):
    x = T.tensor4("x")
    w = T.tensor(dtype="float64", shape=(2, 3, 3, 3)) if static else T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode=border_mode)
    padding = y.owner.attributes["padding"]
    assert (
        padding
        == {"valid": (0, 0), "full": (2, 2) if static else (-1, -1), "half": (1, 1) if static else (-2, -2)}[
            border_mode
        ]
    )
    xv, wv = RNG.normal(size=(2, 3, 6, 5)), RNG.normal(size=(2, 3, 3, 3))
    out = tr.function([x, w], y)(xv, wv)
    np.testing.assert_allclose(out, _conv_numpy(xv, wv, scipy_mode), rtol=1e-10, atol=1e-12)


def test_conv2d_options_and_hints():
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(
        x,
        w,
        filter_shape=(4, 2, 3, 3),
        border_mode="full",
        subsample=(2, 1),
        filter_dilation=2,
        filter_flip=False,
        num_groups=1,
    )
    assert y.owner.attributes == {
        "padding": (4, 4),
        "subsample": (2, 1),
        "filter_flip": False,
        "filter_dilation": (2, 2),
        "num_groups": 1,
    }
    with pytest.warns(DeprecationWarning, match="image_shape"):
        T.nnet.conv2d(x, w, image_shape=(None, 2, 8, 8))
    with pytest.raises(NotImplementedError, match="unshared"):
        T.nnet.conv2d(x, w, unshared=True)
    with pytest.raises(ValueError, match="border_mode"):
        T.nnet.conv2d(x, w, border_mode="same")
    with pytest.raises(ValueError, match="given shape"):
        T.nnet.conv2d(x, T.tensor(dtype="float64", shape=(2, 3, 3, 3)), filter_shape=(2, 3, 5, 5))
    with pytest.raises(Exception, match="4-d"):
        T.nnet.conv2d(T.matrix("m"), w)
    z = T.nnet.conv2d(
        T.tensor(dtype="float32", shape=(None, 1, 28, 28)), T.tensor(dtype="float32", shape=(20, 1, 5, 5))
    )
    assert z.static_shape == (None, 20, 24, 24) and z.dtype == "float32"


BORDER_STRIDES = [(b, s) for b in ("valid", "full", "half", 1, (2, 1)) for s in ((1, 1), (2, 2), (2, 1))]


@pytest.mark.parametrize("border_mode,subsample", BORDER_STRIDES)
def test_conv2d_gradients_against_finite_differences(border_mode, subsample):
    xv, wv = RNG.normal(size=(2, 2, 5, 4)), RNG.normal(size=(2, 2, 3, 2))

    def fn(x, w):
        return T.nnet.conv2d(x, w, border_mode=border_mode, subsample=subsample)

    verify_grad(fn, [xv, wv], rng=np.random.default_rng(1), n_tests=1)


def test_conv2d_second_order_and_groups():
    xv, wv = RNG.normal(size=(1, 4, 4, 4)), RNG.normal(size=(2, 2, 2, 2))

    def grad_of_cost(x, w):
        y = T.nnet.conv2d(x, w, border_mode="half", num_groups=2, filter_dilation=(1, 2))
        return tr.grad((y**2).sum(), x)

    verify_grad(grad_of_cost, [xv, wv], rng=np.random.default_rng(2), n_tests=1)


POOL_CASES = [
    (mode, ignore_border, stride, pad)
    for mode in ("max", "sum", "average_inc_pad", "average_exc_pad")
    for ignore_border, stride, pad in [
        (True, None, (0, 0)),
        (False, None, (0, 0)),
        (True, (1, 2), (1, 1)),
        (False, (2, 1), (0, 0)),
    ]
]


@pytest.mark.parametrize("mode,ignore_border,stride,pad", POOL_CASES)
def test_pool_2d_gradients(mode, ignore_border, stride, pad):
    xv = RNG.permutation(60).reshape(1, 2, 5, 6) / 7.0  # distinct values: max pooling is differentiable

    def fn(x):
        return pool.pool_2d(x, ws=(2, 3), ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)

    verify_grad(fn, [xv], rng=np.random.default_rng(3), n_tests=1)


def test_max_pool_second_order():
    xv = RNG.permutation(32).reshape(2, 4, 4) / 5.0

    def fn(x):
        return tr.grad((pool.pool_2d(x, ws=(2, 2), ignore_border=True) ** 2).sum(), x)

    verify_grad(fn, [xv], rng=np.random.default_rng(4), n_tests=1)


@pytest.mark.parametrize("mode", ["FAST_RUN", "REFERENCE"])
def test_max_pool_ties_jvp_is_the_transpose_of_the_vjp(mode):
    # With ties every maximum of a window gets its gradient (Theano's MaxPoolGrad), and the jvp
    # (max_pool2d_select) sums over the same positions, so <J v, g> == <v, J^T g> still holds.
    x, v, g = T.tensor4("x"), T.tensor4("v"), T.tensor4("g")
    y = pool.pool_2d(x, ws=(2, 2), stride=(1, 1), ignore_border=True)
    jv = tr.gradient.Rop(y, x, v)
    jtg = tr.grad((y * g).sum(), x)
    f = tr.function([x, v, g], [(jv * g).sum(), (v * jtg).sum(), jtg], mode=mode)
    xv = RNG.integers(0, 2, (2, 3, 5, 4)).astype(float)  # mostly ties
    gv = RNG.normal(size=(2, 3, 4, 3))
    forward, backward, grad = f(xv, RNG.normal(size=xv.shape), gv)
    np.testing.assert_allclose(forward, backward, rtol=1e-12)
    # Each window's gradient is counted once per maximum it has.
    maxima = sum((xv[:, :, a:a + 4, b:b + 3] == y.eval({x: xv})).sum() for a in (0, 1) for b in (0, 1))
    assert maxima > gv.size  # there were ties
    np.testing.assert_allclose(grad.sum(), sum(
        (gv * (xv[:, :, a:a + 4, b:b + 3] == y.eval({x: xv}))).sum() for a in (0, 1) for b in (0, 1)))


def test_pool_2d_values_and_deprecations():
    x = T.tensor4("x")
    xv = RNG.normal(size=(2, 3, 6, 4))
    with pytest.warns(UserWarning, match="ignore_border"):
        y = pool.pool_2d(x, ws=(2, 2))
    expected = xv.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(tr.function([x], y)(xv), expected)
    for kwargs in ({"ds": (2, 2)}, {"ws": (2, 2), "st": (2, 2)}, {"ws": (2, 2), "padding": (0, 0)}):
        with pytest.warns(DeprecationWarning):
            pool.pool_2d(x, ignore_border=True, **kwargs)
    with pytest.raises(ValueError, match="not both"):
        pool.pool_2d(x, ws=(2, 2), ds=(3, 3), ignore_border=True)
    with pytest.raises(ValueError, match="window size"):
        pool.pool_2d(x, ignore_border=True)
    with pytest.raises(NotImplementedError, match="ignore_border=True"):
        pool.pool_2d(x, ws=(2, 2), pad=(1, 1), ignore_border=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        avg = pool.pool_2d(x, ws=(2, 2), ignore_border=True, mode="average_exc_pad")
    np.testing.assert_allclose(tr.function([x], avg)(xv), xv.reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)))
    positive = np.abs(xv) + 0.1
    same = tr.function([x], pool.max_pool_2d_same_size(x, (2, 2)))(positive)
    assert same.shape == xv.shape
    np.testing.assert_allclose(
        same.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5)), positive.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    )
    assert ((same != 0).reshape(2, 3, 3, 2, 2, 2).sum(axis=(3, 5)) == 1).all()


def test_batch_normalization():
    x, g, b, m, s = T.matrix("x"), T.vector("g"), T.vector("b"), T.vector("m"), T.vector("s")
    xv = RNG.normal(size=(5, 3))
    gv, bv, mv, sv = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3), RNG.uniform(1, 2, size=3)
    expected = (xv - mv) * gv / sv + bv
    for mode in ("low_mem", "high_mem"):
        out = tr.function([x, g, b, m, s], T.nnet.batch_normalization(x, g, b, m, s, mode=mode))
        np.testing.assert_allclose(out(xv, gv, bv, mv, sv), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        T.nnet.batch_normalization(x, g, b, m, s, mode="fast")
    rm, rv = T.vector("rm"), T.vector("rv")
    out, mean, invstd, new_rm, new_rv = T.nnet.batch_normalization_train(
        x,
        g.dimshuffle("x", 0),
        b.dimshuffle("x", 0),
        running_mean=rm.dimshuffle("x", 0),
        running_var=rv.dimshuffle("x", 0),
    )
    f = tr.function([x, g, b, rm, rv], [out, mean, invstd, new_rm, new_rv])
    o, mu, inv, nrm, nrv = f(xv, gv, bv, np.zeros(3), np.ones(3))
    np.testing.assert_allclose(mu[0], xv.mean(0))
    np.testing.assert_allclose(inv[0], 1 / np.sqrt(xv.var(0) + 1e-4))
    np.testing.assert_allclose(o, (xv - xv.mean(0)) * inv * gv + bv)
    np.testing.assert_allclose(nrv[0], 0.9 + 0.1 * xv.var(0, ddof=1))
    np.testing.assert_allclose(nrm[0], 0.1 * xv.mean(0))


def test_conv_gradient_helpers_and_transpose():
    x, w, gy = T.tensor4("x"), T.tensor4("w"), T.tensor4("gy")
    xv, wv = RNG.normal(size=(2, 2, 7, 6)), RNG.normal(size=(3, 2, 3, 3))
    y = T.nnet.conv2d(x, w, subsample=(2, 2), border_mode=1)
    gyv = RNG.normal(size=tr.function([x, w], y)(xv, wv).shape)
    gx, gw = tr.grad((y * gy).sum(), [x, w])
    expected_gx, expected_gw = tr.function([x, w, gy], [gx, gw])(xv, wv, gyv)
    gi = T.nnet.conv2d_grad_wrt_inputs(gy, w, x.shape, subsample=(2, 2), border_mode=1)
    gf = T.nnet.conv2d_grad_wrt_weights(x, gy, (3, 2, 3, 3), subsample=(2, 2), border_mode=1)
    tr_ = T.nnet.conv2d_transpose(gy, w, (2, 2, 7, 6), input_dilation=(2, 2), border_mode=1)
    assert gf.static_shape == (3, 2, 3, 3) and tr_.static_shape == (2, 2, 7, 6)
    out = tr.function([x, w, gy], [gi, gf, tr_])(xv, wv, gyv)
    np.testing.assert_allclose(out[0], expected_gx)
    np.testing.assert_allclose(out[1], expected_gw)
    np.testing.assert_allclose(out[2], expected_gx)


def test_print_parse_round_trip_of_a_convnet():
    x, w = T.tensor4("x"), T.tensor4("w")
    h = pool.pool_2d(
        T.tanh(T.nnet.conv2d(x, w, border_mode="half")), ws=(2, 2), ignore_border=True, mode="average_exc_pad"
    )
    cost = (pool.pool_2d(h, ws=(2, 2), ignore_border=False) ** 2).sum()
    gx, gw = tr.grad(cost, [x, w])
    text = print_module(Module([graph_function([cost, gx, gw])]))
    assert print_module(parse_module(text)) == text
    for name in (
        "tir.conv2d",
        "tir.conv2d_grad_input",
        "tir.conv2d_grad_filters",
        "tir.pool2d",
        "tir.pool2d_grad",
    ):
        assert f'"{name}"' in text


def test_lenet_layer_shapes_float32():
    x = T.tensor(dtype="float32", shape=(None, 1, 28, 28))
    w = tr.shared(RNG.normal(size=(20, 1, 5, 5)).astype("float32"))
    h = pool.pool_2d(T.nnet.conv2d(x, w, filter_shape=(20, 1, 5, 5)), ws=(2, 2), ignore_border=True)
    cost = h.sum()
    f = tr.function([x], [h, tr.grad(cost, w)])
    out, gw = f(RNG.normal(size=(3, 1, 28, 28)).astype("float32"))
    assert out.shape == (3, 20, 12, 12) and out.dtype == np.float32 and gw.dtype == np.float32


def test_filter_gradient_second_order():
    xv, wv = RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(3, 2, 3, 3))

    def grad_wrt_filters(x, w):
        y = T.nnet.conv2d(x, w, border_mode="full", subsample=(2, 1))
        return tr.grad((T.tanh(y)).sum(), w)

    verify_grad(grad_wrt_filters, [xv, wv], rng=np.random.default_rng(5), n_tests=1)


@pytest.mark.parametrize("mode", ["max", "average_exc_pad"])
def test_forward_mode_through_conv_and_pool(mode):
    x, w, vx, vw = T.tensor4("x"), T.tensor4("w"), T.tensor4("vx"), T.tensor4("vw")

    def build(a, b):
        return pool.pool_2d(
            T.nnet.conv2d(a, b, border_mode="half"), ws=(2, 2), ignore_border=True, mode=mode, pad=(1, 1), stride=(1, 1)
        )

    y = build(x, w)
    jvp = tr.function([x, w, vx, vw], tr.gradient.Rop(y, [x, w], [vx, vw]))
    f = tr.function([x, w], y)
    xv, wv = RNG.normal(size=(1, 2, 4, 5)), RNG.normal(size=(2, 2, 3, 3))
    dx, dw = RNG.normal(size=xv.shape), RNG.normal(size=wv.shape)
    eps = 1e-6
    finite = (f(xv + eps * dx, wv + eps * dw) - f(xv - eps * dx, wv - eps * dw)) / (2 * eps)
    np.testing.assert_allclose(jvp(xv, wv, dx, dw), finite, rtol=1e-5, atol=1e-6)
