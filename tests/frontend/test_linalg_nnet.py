"""``T.dot`` & co. and ``T.nnet`` against NumPy/SciPy through ``tensorir.function``; the textual
form of graphs using each op; stability at +-800; gradients against finite differences."""

import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Module, parse_module, print_module
from tensorir.frontend.printing import graph_function
from tensorir.gradient import verify_grad

DIM = st.integers(0, 4)
FLOATS = st.sampled_from(["float32", "float64"])
DOT_DTYPES = st.sampled_from(["float32", "float64", "int32", "int64"])
nnet = T.nnet


def sym(dtype, ndim, name=None):
    return T.TensorType(dtype, (False,) * ndim)(name)


def compile_ref(inputs, outputs):
    return tr.function(inputs, outputs, mode="REFERENCE")


def values(rng, shape, dtype, scale=1.0):
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * scale).astype(dtype)
    return rng.integers(-4, 5, size=shape).astype(dtype)


def assert_same(actual, expected, rtol=1e-5, atol=1e-6):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# -- linear algebra ----------------------------------------------------------------------------------
@st.composite
def dot_shapes(draw):
    nx, ny = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    xs = [draw(DIM) for _ in range(nx)]
    ys = [draw(DIM) for _ in range(ny)]
    if nx and ny:
        ys[max(ny - 2, 0)] = xs[-1]
    return tuple(xs), tuple(ys)


@given(dot_shapes(), DOT_DTYPES, DOT_DTYPES)
def test_dot_matches_numpy_for_every_rank(shapes, dx, dy):
    rng = np.random.default_rng(0)
    a, b = values(rng, shapes[0], dx), values(rng, shapes[1], dy)
    x, y = sym(dx, a.ndim), sym(dy, b.ndim)
    f = compile_ref([x, y], [T.dot(x, y), x.dot(y)])
    for out in f(a, b):
        assert_same(out, np.dot(a, b))


@given(st.integers(1, 4), st.integers(1, 4), DIM, st.data(), FLOATS)
def test_matmul_operator_matches_numpy(nx, ny, k, data, dtype):
    rng = np.random.default_rng(1)
    batch = [data.draw(st.integers(0, 3)) for _ in range(max(nx, ny, 2) - 2)]
    xb = (
        [d if data.draw(st.booleans()) else 1 for d in batch[len(batch) - max(nx - 2, 0) :]] if nx > 2 else []
    )
    yb = (
        [d if data.draw(st.booleans()) else 1 for d in batch[len(batch) - max(ny - 2, 0) :]] if ny > 2 else []
    )
    xs = xb + ([k] if nx == 1 else [data.draw(DIM), k])
    ys = yb + ([k] if ny == 1 else [k, data.draw(DIM)])
    a, b = values(rng, tuple(xs), dtype), values(rng, tuple(ys), dtype)
    x, y = sym(dtype, nx), sym(dtype, ny)
    assert_same(compile_ref([x, y], x @ y)(a, b), a @ b)


@pytest.mark.parametrize(
    "xs, ys, axes",
    [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (3, 4), 1),
        ((2, 3), (4, 5), 0),
        ((2, 3, 4), (4, 2), [[0, 2], [1, 0]]),
        ((3, 4), (4, 3), [[-1, 0], [0, 1]]),
        ((0, 3), (3, 2), [[1], [0]]),
    ],
)
def test_tensordot_matches_numpy(xs, ys, axes):
    rng = np.random.default_rng(2)
    a, b = values(rng, xs, "float64"), values(rng, ys, "float64")
    x, y = sym("float64", len(xs)), sym("float64", len(ys))
    assert_same(compile_ref([x, y], T.tensordot(x, y, axes=axes))(a, b), np.tensordot(a, b, axes=axes))


def test_outer_flattens_like_theano():
    rng = np.random.default_rng(3)
    a, b = values(rng, (3,), "float32"), values(rng, (2, 2), "float32")
    x, y = T.fvector(), T.fmatrix()
    assert_same(compile_ref([x, y], T.outer(x, y))(a, b), np.outer(a, b))


@pytest.mark.parametrize(
    "xs, ys",
    [
        ((3, 2, 4), (3, 4, 5)),
        ((3, 4), (3, 4, 5)),
        ((3, 2, 4), (3, 4)),
        ((3, 4), (3, 4)),
        ((3,), (3, 4)),
        ((3, 4, 2), (3,)),
        ((0, 2, 4), (0, 4, 1)),
        ((2, 3, 2, 4), (2, 5, 4, 3)),
    ],
)
def test_batched_dot_is_dot_per_row(xs, ys):
    rng = np.random.default_rng(4)
    a, b = values(rng, xs, "float64"), values(rng, ys, "float64")
    x, y = sym("float64", len(xs)), sym("float64", len(ys))
    out = compile_ref([x, y], T.batched_dot(x, y))(a, b)
    if a.ndim == 1 or b.ndim == 1:
        expected = (
            (a.reshape(a.shape + (1,) * (b.ndim - 1)) * b)
            if a.ndim == 1
            else a * b.reshape(b.shape + (1,) * (a.ndim - 1))
        )
    elif a.ndim > 3 or b.ndim > 3:
        expected = np.stack([np.tensordot(a[i], b[i], [[a.ndim - 2], [b.ndim - 3]]) for i in range(len(a))])
    else:
        expected = np.array([np.dot(a[i], b[i]) for i in range(len(a))]).reshape(
            (len(a),) + a.shape[1:-1] + b.shape[2:]
        )
    assert_same(out, expected)


@pytest.mark.parametrize("axes", [1, 2, [[1, 3], [3, 1]], [[-1], [1]]])
def test_batched_tensordot_is_tensordot_per_row(axes):
    rng = np.random.default_rng(5)
    a, b = values(rng, (2, 3, 4, 5), "float64"), values(rng, (2, 5, 4, 3), "float64")
    if axes == 2:
        b = values(rng, (2, 4, 5, 3), "float64")
    elif axes == 1:
        b = values(rng, (2, 5, 3), "float64")
    x, y = T.tensor4(), sym("float64", b.ndim)
    if isinstance(axes, int):
        inner = [list(range(a.ndim - 1 - axes, a.ndim - 1)), list(range(axes))]
    else:
        inner = [[k % a.ndim - 1 for k in axes[0]], [k % b.ndim - 1 for k in axes[1]]]
    expected = np.stack([np.tensordot(a[i], b[i], inner) for i in range(2)])
    assert_same(compile_ref([x, y], T.batched_tensordot(x, y, axes=axes))(a, b), expected)


def test_bad_contractions_name_the_user_line():
    x, y = T.TensorType("float64", shape=(2, 3))(), T.TensorType("float64", shape=(4, 5))()
    with pytest.raises(ValueError, match=r"test_linalg_nnet.py:\d+: tir.dot: shapes \(2, 3\) and \(4, 5\)"):
        T.dot(x, y)
    with pytest.raises(ValueError, match="scalars"):
        T.matmul(T.scalar(), x)
    with pytest.raises(ValueError, match="axes"):
        T.tensordot(x, y, axes=3)


# -- nnet ----------------------------------------------------------------------------------------------
@given(st.integers(0, 4), st.integers(1, 5), FLOATS)
def test_softmax_family_matches_scipy(rows, n, dtype):
    rng = np.random.default_rng(6)
    a = values(rng, (rows, n), dtype, 5)
    x = sym(dtype, 2)
    f = compile_ref(
        [x],
        [
            nnet.softmax(x),
            nnet.log_softmax(x),
            nnet.logsoftmax(x),
            nnet.logsumexp(x, axis=1),
            nnet.logsumexp(x, axis=1, keepdims=True),
            nnet.softmax_graph(x),
        ],
    )
    sm, lsm, lsm2, lse, lse_k, smg = f(a)
    if rows:
        assert_same(sm, scipy.special.softmax(a, axis=1))
        assert_same(lsm, scipy.special.log_softmax(a, axis=1), atol=1e-5)
        assert_same(lsm2, lsm)
        assert_same(lse, scipy.special.logsumexp(a, axis=1), atol=1e-5)
        assert_same(lse_k, scipy.special.logsumexp(a, axis=1, keepdims=True), atol=1e-5)
        assert_same(smg, sm)
    assert sm.shape == (rows, n) and lse.shape == (rows,)


def test_softmax_axis_and_logsumexp_over_all_axes():
    rng = np.random.default_rng(7)
    a = values(rng, (2, 3, 4), "float64", 3)
    x = T.tensor3()
    f = compile_ref([x], [nnet.softmax(x, axis=1), nnet.log_softmax(x, axis=0), nnet.logsumexp(x)])
    sm, lsm, lse = f(a)
    assert_same(sm, scipy.special.softmax(a, axis=1))
    assert_same(lsm, scipy.special.log_softmax(a, axis=0))
    assert_same(lse, np.asarray(scipy.special.logsumexp(a)))


def test_softmax_of_a_vector_is_a_row_with_a_deprecation_warning():
    x = T.dvector()
    with pytest.warns(DeprecationWarning, match="one-row matrix"):
        out = nnet.softmax(x)
    assert out.ndim == 2
    a = np.array([1.0, 2.0, 3.0])
    assert_same(compile_ref([x], out)(a), scipy.special.softmax(a)[None, :])


def test_categorical_crossentropy_with_labels_and_one_hot_targets():
    rng = np.random.default_rng(8)
    p = scipy.special.softmax(rng.standard_normal((4, 3)), axis=1)
    y = np.array([0, 2, 1, 2], dtype="int32")
    P, Y, Tm = T.dmatrix(), T.ivector(), T.dmatrix()
    f = compile_ref(
        [P, Y, Tm],
        [
            nnet.categorical_crossentropy(P, Y),
            nnet.categorical_crossentropy(P, Tm),
            nnet.crossentropy_categorical_1hot(P, Y),
            nnet.to_one_hot(Y, 3),
            nnet.one_hot(Y, 3, dtype="int8"),
        ],
    )
    by_label, by_dist, xent1hot, onehot, onehot8 = f(p, y, np.eye(3)[y])
    expected = -np.log(p[np.arange(4), y])
    assert_same(by_label, expected)
    assert_same(by_dist, expected)
    assert_same(xent1hot, expected)
    assert_same(onehot, np.eye(3, dtype=tr.config.floatX)[y])
    assert_same(onehot8, np.eye(3, dtype="int8")[y])


def test_binary_crossentropies_and_the_fused_softmax_crossentropy():
    rng = np.random.default_rng(9)
    z, t = rng.standard_normal((4, 3)), rng.uniform(size=(4, 3))
    y = np.array([2, 0, 1, 1])
    b = rng.standard_normal(3)
    Z, Tt, Y, B = T.dmatrix(), T.dmatrix(), T.lvector(), T.dvector()
    nll, sm = nnet.crossentropy_softmax_1hot(Z, Y)
    nll_b, sm_b = nnet.crossentropy_softmax_1hot_with_bias(Z, B, Y)
    nll_c, sm_c, am_c = nnet.crossentropy_softmax_argmax_1hot_with_bias(Z, B, Y)
    f = compile_ref(
        [Z, Tt, Y, B],
        [
            nnet.binary_crossentropy(nnet.sigmoid(Z), Tt),
            nnet.sigmoid_binary_crossentropy(Z, Tt),
            nll,
            sm,
            nll_b,
            sm_b,
            nll_c,
            am_c,
            nnet.softmax_with_bias(Z, B),
        ],
    )
    bce, sbce, nll, sm, nll_b, sm_b, nll_c, am_c, smb = f(z, t, y, b)
    s = scipy.special.expit(z)
    assert_same(bce, -(t * np.log(s) + (1 - t) * np.log(1 - s)))
    assert_same(sbce, bce)
    assert_same(sm, scipy.special.softmax(z, axis=1))
    assert_same(nll, -np.log(scipy.special.softmax(z, axis=1)[np.arange(4), y]))
    assert_same(sm_b, scipy.special.softmax(z + b, axis=1))
    assert_same(smb, sm_b)
    assert_same(nll_b, -np.log(sm_b[np.arange(4), y]))
    assert_same(nll_c, nll_b)
    assert_same(am_c, np.argmax(z + b, axis=1))


def _ultra_fast_sigmoid(x):
    h = np.abs(0.5 * x)
    z = np.where(
        h < 1.7,
        1.5 * h / (1 + h),
        np.where(h < 3, 0.935409070603099 + 0.0458812946797165 * (h - 1.7), 0.99505475368673),
    )
    return 0.5 * (np.where(x >= 0, z, -z) + 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_match_their_definitions(dtype):
    a = np.linspace(-8, 8, 33).astype(dtype)
    x = sym(dtype, 1)
    outs = [
        nnet.sigmoid(x),
        nnet.ultra_fast_sigmoid(x),
        nnet.hard_sigmoid(x),
        nnet.softplus(x),
        nnet.relu(x),
        nnet.relu(x, 0.1),
        nnet.elu(x),
        nnet.elu(x, 0.5),
        nnet.selu(x),
        nnet.softsign(x),
    ]
    got = compile_ref([x], outs)(a)
    a64 = a.astype("float64")
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    expected = [
        scipy.special.expit(a64),
        _ultra_fast_sigmoid(a64),
        np.clip(0.2 * a64 + 0.5, 0, 1),
        np.logaddexp(0, a64),
        np.maximum(a64, 0),
        np.where(a64 > 0, a64, 0.1 * a64),
        np.where(a64 > 0, a64, np.expm1(a64)),
        np.where(a64 > 0, a64, 0.5 * np.expm1(a64)),
        scale * np.where(a64 > 0, a64, alpha * np.expm1(a64)),
        a64 / (1 + np.abs(a64)),
    ]
    for k, (out, exp) in enumerate(zip(got, expected)):
        assert out.dtype == dtype, k
        np.testing.assert_allclose(out, exp, rtol=1e-5, atol=1e-6, err_msg=f"activation {k}")
    assert np.max(np.abs(got[1] - got[0])) < 0.03


def test_sigmoid_is_one_function_object():
    assert T.nnet.sigmoid is T.nnet.sigmoid is T.sigmoid
    assert T.nnet.softplus is T.softplus
    assert "sigmoid" in T.nnet.__all__


# -- stability -------------------------------------------------------------------------------------------
BIG = np.array([[800.0, -800.0, 0.0], [-800.0, -800.0, -805.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stable_forms_are_exact_for_logits_of_800(dtype):
    z = BIG.astype(dtype)
    Z, Y, X, Tt = sym(dtype, 2), T.lvector(), sym(dtype, 1), sym(dtype, 1)
    f = compile_ref(
        [Z, Y, X, Tt],
        [
            nnet.log_softmax(Z),
            nnet.logsumexp(Z, axis=1),
            nnet.crossentropy_softmax_1hot(Z, Y)[0],
            nnet.sigmoid_binary_crossentropy(X, Tt),
        ],
    )
    x = np.array([800.0, -800.0, 800.0], dtype=dtype)
    t = np.array([0.0, 1.0, 1.0], dtype=dtype)
    lsm, lse, nll, sbce = f(z, np.array([1, 2]), x, t)
    for out in (lsm, lse, nll, sbce):
        assert np.isfinite(out).all() and out.dtype == dtype
    assert_same(lsm, scipy.special.log_softmax(BIG, axis=1).astype(dtype))
    assert_same(lse, scipy.special.logsumexp(BIG, axis=1).astype(dtype))
    assert nll[0] == 1600 and nll[1] == pytest.approx(5 + np.log(2 + np.exp(-5)), rel=1e-6)
    np.testing.assert_array_equal(sbce, np.array([800.0, 800.0, 0.0], dtype=dtype))


def test_tutorial_loss_is_representable():
    """The naive tutorial loss builds and evaluates (its stabilization is the rewrites' job)."""
    z, y = T.dmatrix("z"), T.lvector("y")
    # T.arange comes with the shape-allocation frontend; a constant row index is the same graph shape.
    rows = T.arange(y.shape[0]) if hasattr(T, "arange") else np.arange(2)
    loss = -T.mean(T.log(T.nnet.softmax(z))[rows, y])
    a = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    labels = np.array([1, 2])
    expected = -np.mean(scipy.special.log_softmax(a, axis=1)[np.arange(2), labels])
    np.testing.assert_allclose(compile_ref([z, y], loss)(a, labels), expected, rtol=1e-12)


# -- textual form ----------------------------------------------------------------------------------------
def test_print_parse_print_of_a_graph_using_every_op():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    v, y = T.dvector("v"), T.lvector("y")
    b3, c3 = T.tensor3("b3"), T.tensor3("c3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        outputs = [
            T.dot(x, w),
            T.dot(x, v),
            x @ w,
            T.tensordot(b3, c3, axes=[[1, 2], [2, 1]]),
            T.tensordot(x, v, axes=0),
            T.batched_dot(b3, c3),
            T.batched_tensordot(b3, c3, axes=[[2], [2]]),
            T.matmul(b3, w),
            T.outer(v, v),
            nnet.softmax(x),
            nnet.log_softmax(x, axis=0),
            nnet.logsumexp(b3, axis=(0, 2), keepdims=True),
            nnet.logsumexp(x),
            nnet.crossentropy_softmax_1hot(x, y)[0],
            nnet.categorical_crossentropy(x, y),
            nnet.categorical_crossentropy(x, w),
            nnet.to_one_hot(y, 5, dtype="float32"),
            nnet.sigmoid_binary_crossentropy(x, w),
        ]
    module = Module([graph_function(outputs)])
    text = print_module(module)
    for name in (
        "tir.dot",
        "tir.tensordot",
        "tir.batched_dot",
        "tir.batched_tensordot",
        "tir.matmul",
        "tir.softmax",
        "tir.log_softmax",
        "tir.logsumexp",
        "tir.softmax_crossentropy",
        "tir.crossentropy_categorical",
        "tir.one_hot",
        "tir.sigmoid_binary_crossentropy",
    ):
        assert f'"{name}"' in text, name
    assert print_module(parse_module(text)) == text


# -- gradients against finite differences (float64) ------------------------------------------------------
def _labels(*shape, n=4):
    return np.random.default_rng(10).integers(0, n, size=shape)


def _probs(*shape):
    return scipy.special.softmax(np.random.default_rng(11).standard_normal(shape), axis=-1)


GRAD_CASES = {
    "dot_mm": (lambda a, b: T.dot(a, b), [(3, 4), (4, 2)]),
    "dot_mv": (lambda a, b: T.dot(a, b), [(3, 4), (4,)]),
    "dot_vm": (lambda a, b: T.dot(a, b), [(4,), (4, 2)]),
    "dot_vv": (lambda a, b: T.dot(a, b), [(4,), (4,)]),
    "dot_3d_3d": (lambda a, b: T.dot(a, b), [(2, 3, 4), (3, 4, 2)]),
    "dot_scalar": (lambda a, b: T.dot(a, b), [(), (3, 2)]),
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 2)]),
    "matmul_broadcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    "matmul_vector": (lambda a, b: a @ b, [(4,), (2, 4, 3)]),
    "tensordot": (lambda a, b: T.tensordot(a, b, axes=[[0, 2], [1, 0]]), [(3, 2, 4), (4, 3, 2)]),
    "outer": (lambda a, b: T.outer(a, b), [(3,), (4,)]),
    "batched_dot": (lambda a, b: T.batched_dot(a, b), [(2, 3, 4), (2, 4, 5)]),
    "batched_dot_rows": (lambda a, b: T.batched_dot(a, b), [(3, 4), (3, 4)]),
    "batched_tensordot": (
        lambda a, b: T.batched_tensordot(a, b, axes=[[1, 3], [2, 1]]),
        [(2, 3, 4, 5), (2, 5, 3)],
    ),
    "softmax": (lambda a: nnet.softmax(a), [(3, 4)]),
    "softmax_axis0": (lambda a: nnet.softmax(a, axis=0), [(3, 4)]),
    "log_softmax": (lambda a: nnet.log_softmax(a), [(3, 4)]),
    "logsumexp": (lambda a: nnet.logsumexp(a, axis=1), [(3, 4)]),
    "logsumexp_all": (lambda a: nnet.logsumexp(a), [(2, 3)]),
    "softmax_crossentropy": (lambda a: nnet.crossentropy_softmax_1hot(a, _labels(3))[0], [(3, 4)]),
    "xent_labels": (lambda a: nnet.categorical_crossentropy(nnet.softmax(a), _labels(3)), [(3, 4)]),
    "xent_dist": (
        lambda a, b: nnet.categorical_crossentropy(nnet.softmax(a), nnet.softmax(b)),
        [(3, 4), (3, 4)],
    ),
    "binary_crossentropy": (
        lambda a, b: nnet.binary_crossentropy(nnet.sigmoid(a), nnet.sigmoid(b)),
        [(3, 4)] * 2,
    ),
    "sigmoid_bce": (lambda a, b: nnet.sigmoid_binary_crossentropy(a, nnet.sigmoid(b)), [(3, 4), (3, 4)]),
    "softmax_with_bias": (lambda a, b: nnet.softmax_with_bias(a, b), [(3, 4), (4,)]),
    "relu_leaky": (lambda a: nnet.relu(a, 0.2), [(3, 4)]),
    "elu": (lambda a: nnet.elu(a), [(3, 4)]),
    "selu": (lambda a: nnet.selu(a), [(3, 4)]),
    "softsign": (lambda a: nnet.softsign(a), [(3, 4)]),
    "softplus": (lambda a: nnet.softplus(a), [(3, 4)]),
    "hard_sigmoid": (lambda a: nnet.hard_sigmoid(a), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(name):
    fun, shapes = GRAD_CASES[name]
    rng = np.random.default_rng(12)
    # Away from the kinks of relu/elu/hard_sigmoid so central differences are exact enough.
    point = [np.where(np.abs(p) < 0.1, 0.5, p) for p in (rng.standard_normal(s) for s in shapes)]
    verify_grad(fun, point, rng=rng, n_tests=1)


def test_crossentropy_gradient_is_softmax_minus_onehot_at_800():
    z = T.dmatrix()
    y = np.array([1, 2])
    cost = nnet.crossentropy_softmax_1hot(z, y)[0].sum()
    g = compile_ref([z], tr.gradient.grad(cost, z))(BIG)
    np.testing.assert_allclose(g, scipy.special.softmax(BIG, axis=1) - np.eye(3)[y], atol=1e-12)
