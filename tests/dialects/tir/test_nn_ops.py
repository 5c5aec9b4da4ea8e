"""tir nn ops: inferred types against the references, references against SciPy, stability at
+-800, and the vjp/jvp rules against finite differences (built and evaluated on the IR directly)."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

from tensorir.dialects import Builder, IRError, TensorType
from tensorir.dialects.interpret import EvaluationError, run_op
from tensorir.dialects.ir import FreeValue, ancestors_topological
from tensorir.dialects.registry import OPS

DIM = st.integers(0, 4)
FLOATS = st.sampled_from(["float32", "float64"])
SHAPES = st.lists(DIM, min_size=1, max_size=3).map(tuple)
NN_OPS = (
    "tir.softmax",
    "tir.log_softmax",
    "tir.logsumexp",
    "tir.softmax_crossentropy",
    "tir.crossentropy_categorical",
    "tir.sigmoid_binary_crossentropy",
)


# -- harness -----------------------------------------------------------------------------------------
def _build(name, arrays, attrs, dynamic=False):
    b = Builder(track_location=False)
    args = [FreeValue(TensorType(a.dtype.name, (None,) * a.ndim if dynamic else a.shape)) for a in arrays]
    op = b.create(b.lookup(name), args, attrs)
    return b, args, op


def evaluate(values, env):
    """Evaluate free-standing IR values with the ops' references (``env`` binds the free inputs)."""
    env = dict(env)
    for op in ancestors_topological(values):
        for r, out in zip(op.results, run_op(op, [env[v] for v in op.operands])):
            env[r] = out
    return [env[v] for v in values]


def run(name, arrays, attrs=None, dynamic=False):
    _, args, op = _build(name, arrays, attrs or {}, dynamic)
    (out,) = evaluate(op.results, dict(zip(args, arrays)))
    t = op.results[0].type
    assert t.dtype == out.dtype.name and t.accepts_shape(out.shape), (t, out.dtype, out.shape)
    return out, t


def check_derivatives(name, arrays, attrs, rng, dynamic=False, eps=1e-6, tol=1e-5):
    """jvp against central differences along a random direction, and ``<g, J t> = <J^T g, t>``."""
    b, args, op = _build(name, arrays, attrs, dynamic)
    env = dict(zip(args, arrays))
    (y,) = evaluate(op.results, env)
    g = rng.standard_normal(y.shape).astype(y.dtype)
    g_value = FreeValue(op.results[0].type)
    cotangents = op.opdef.vjp(b, op, [g_value])
    for i, a in enumerate(arrays):
        if a.dtype.kind != "f":
            assert cotangents[i] is None
            continue
        t = rng.standard_normal(a.shape)
        t_value = FreeValue(args[i].type)
        (jvp,) = op.opdef.jvp(b, op, [t_value if k == i else None for k in range(len(args))])
        cot = cotangents[i]
        assert cot is not None and cot.type.dtype == a.dtype.name
        jt, ct = evaluate([jvp, cot], {**env, t_value: t, g_value: g})
        assert ct.shape == a.shape
        plus = [x + eps * t if k == i else x for k, x in enumerate(arrays)]
        minus = [x - eps * t if k == i else x for k, x in enumerate(arrays)]
        (yp,) = evaluate(op.results, dict(zip(args, plus)))
        (ym,) = evaluate(op.results, dict(zip(args, minus)))
        np.testing.assert_allclose(jt, (yp - ym) / (2 * eps), rtol=tol, atol=tol)
        np.testing.assert_allclose(np.sum(g * jt), np.sum(ct * t), rtol=1e-8, atol=1e-8)


# -- references against SciPy, types against the references -------------------------------------------
@given(SHAPES, FLOATS, st.data())
def test_softmax_family_matches_scipy(shape, dtype, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = (np.random.default_rng(0).standard_normal(shape) * 5).astype(dtype)
    for dynamic in (False, True):
        sm, t = run("tir.softmax", [x], {"axis": axis}, dynamic)
        lsm, _ = run("tir.log_softmax", [x], {"axis": axis}, dynamic)
        assert sm.dtype == lsm.dtype == dtype and sm.shape == lsm.shape == x.shape
        if x.size:  # SciPy rejects empty arrays
            np.testing.assert_allclose(sm, scipy.special.softmax(x, axis=axis), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(lsm, scipy.special.log_softmax(x, axis=axis), rtol=1e-5, atol=1e-5)


@given(SHAPES, FLOATS, st.booleans(), st.data())
def test_logsumexp_matches_scipy(shape, dtype, keepdims, data):
    axes = data.draw(
        st.one_of(st.none(), st.sets(st.integers(0, len(shape) - 1)).map(lambda s: tuple(sorted(s))))
    )
    x = (np.random.default_rng(1).standard_normal(shape) * 5).astype(dtype)
    for dynamic in (False, True):
        out, t = run("tir.logsumexp", [x], {"axis": axes, "keepdims": keepdims}, dynamic)
        with np.errstate(divide="ignore"):
            # The naive formula in float64 is exact enough for these magnitudes, and unlike SciPy
            # it handles empty reductions and axis=().
            expected = np.log(np.sum(np.exp(x.astype("float64")), axis=axes, keepdims=keepdims))
        assert out.dtype == dtype and out.shape == np.shape(expected)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        if x.size and axes != ():
            np.testing.assert_allclose(
                out, scipy.special.logsumexp(x, axis=axes, keepdims=keepdims), rtol=1e-5
            )


def test_int_scores_compute_in_float():
    x = np.array([[1, 2, 3]], dtype="int8")
    out, t = run("tir.softmax", [x])
    assert t.dtype == "float32"
    out, t = run("tir.logsumexp", [x.astype("int64")], {"axis": (1,)})
    assert t.dtype == "float64"


@given(
    st.lists(DIM, min_size=0, max_size=2).map(tuple),
    st.integers(1, 5),
    FLOATS,
    st.sampled_from(["int32", "int64"]),
)
def test_softmax_crossentropy_is_minus_log_softmax_at_label(batch, n, dtype, label_dtype):
    rng = np.random.default_rng(2)
    z = (rng.standard_normal(batch + (n,)) * 4).astype(dtype)
    y = rng.integers(0, n, size=batch).astype(label_dtype)
    for dynamic in (False, True):
        loss, t = run("tir.softmax_crossentropy", [z, y], dynamic=dynamic)
        expected = -np.take_along_axis(scipy.special.log_softmax(z, axis=-1), y[..., None], -1)[..., 0]
        assert loss.dtype == dtype and loss.shape == batch
        np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-5)


@given(st.integers(0, 4), st.integers(1, 5), FLOATS)
def test_crossentropy_categorical_labels_and_distributions(rows, n, dtype):
    rng = np.random.default_rng(3)
    p = scipy.special.softmax(rng.standard_normal((rows, n)), axis=-1).astype(dtype)
    y = rng.integers(0, n, size=rows)
    out, _ = run("tir.crossentropy_categorical", [p, y])
    np.testing.assert_allclose(out, -np.log(p[np.arange(rows), y]), rtol=1e-6)
    onehot, _ = run("tir.one_hot", [y], {"nb_class": n, "dtype": dtype})
    np.testing.assert_array_equal(onehot, np.eye(n, dtype=dtype)[y])
    out2, t = run("tir.crossentropy_categorical", [p, onehot], dynamic=True)
    assert t.dtype == dtype and out2.shape == (rows,)
    np.testing.assert_allclose(out2, out, rtol=1e-6)


def test_one_hot_takes_the_class_count_from_a_second_operand():
    y = np.array([2, 0], dtype="int32")
    like = np.zeros((2, 4))
    out, t = run("tir.one_hot", [y, like], {"nb_class": -1, "dtype": "float32"}, dynamic=True)
    assert t == TensorType("float32", (None, None))
    np.testing.assert_array_equal(out, np.eye(4, dtype="float32")[y])
    _, t = run("tir.one_hot", [y, like], {"nb_class": -1})
    assert t == TensorType("float64", (2, 4))


@given(SHAPES, FLOATS)
def test_sigmoid_binary_crossentropy_matches_the_naive_formula(shape, dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.uniform(size=shape).astype(dtype)
    out, _ = run("tir.sigmoid_binary_crossentropy", [x, t])
    s = scipy.special.expit(x.astype("float64"))
    np.testing.assert_allclose(out, -(t * np.log(s) + (1 - t) * np.log1p(-s)), rtol=1e-4, atol=1e-5)


# -- stability ---------------------------------------------------------------------------------------
BIG = np.array([[800.0, -800.0, 0.0], [-800.0, -800.0, -805.0], [800.0, 800.0, 790.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_is_exact_at_plus_minus_800(dtype):
    x = BIG.astype(dtype)
    lsm, _ = run("tir.log_softmax", [x])
    assert np.isfinite(lsm).all()
    np.testing.assert_allclose(lsm, scipy.special.log_softmax(BIG, axis=-1), rtol=1e-6)
    lse, _ = run("tir.logsumexp", [x], {"axis": (1,)})
    np.testing.assert_allclose(lse, scipy.special.logsumexp(BIG, axis=1), rtol=1e-6)
    assert lse[0] == 800 and lse[1] == pytest.approx(-800 + np.log(2 + np.exp(-5)), rel=1e-6)
    sm, _ = run("tir.softmax", [x])
    np.testing.assert_allclose(sm, scipy.special.softmax(BIG, axis=-1), rtol=1e-6, atol=1e-30)
    y = np.array([1, 2, 0])
    loss, _ = run("tir.softmax_crossentropy", [x, y])
    assert loss[0] == 1600 and loss[2] == pytest.approx(np.log(2 + np.exp(-10)), rel=1e-6)
    assert np.isfinite(loss).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_binary_crossentropy_is_exact_at_plus_minus_800(dtype):
    x = np.array([800.0, -800.0, 800.0, -800.0], dtype=dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    out, _ = run("tir.sigmoid_binary_crossentropy", [x, t])
    np.testing.assert_array_equal(out, np.array([800.0, 800.0, 0.0, 0.0], dtype=dtype))


def test_crossentropy_of_a_one_hot_target_ignores_zero_probabilities_off_the_label():
    p = np.array([[1.0, 0.0], [0.25, 0.75]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    out, _ = run("tir.crossentropy_categorical", [p, t])
    np.testing.assert_allclose(out, [0.0, -np.log(0.75)])


def test_empty_and_all_minus_inf_rows():
    out, _ = run("tir.logsumexp", [np.zeros((3, 0))], {"axis": (1,)})
    np.testing.assert_array_equal(out, [-np.inf] * 3)
    sm, _ = run("tir.softmax", [np.zeros((0, 4))])
    assert sm.shape == (0, 4)


def test_out_of_range_labels_are_a_run_time_error():
    with pytest.raises(EvaluationError, match="out of range"):
        run("tir.softmax_crossentropy", [np.zeros((2, 3)), np.array([0, 3])])
    with pytest.raises(EvaluationError, match="out of range"):
        run("tir.crossentropy_categorical", [np.full((2, 3), 0.3), np.array([-1, 0])])


@pytest.mark.parametrize(
    "name, types, attrs, message",
    [
        ("tir.softmax", [("float64", (2, 3))], {"axis": 2}, "out of range"),
        ("tir.softmax_crossentropy", [("float64", (2, 3)), ("float64", (2,))], {}, "integers"),
        ("tir.softmax_crossentropy", [("float64", (2, 3)), ("int64", (2, 3))], {}, "rank 1"),
        ("tir.softmax_crossentropy", [("float64", (2, 3)), ("int64", (4,))], {}, "differs"),
        ("tir.crossentropy_categorical", [("float64", (2, 3)), ("float64", (2, 4))], {}, "differs"),
        ("tir.crossentropy_categorical", [("float64", (2, 3)), ("int64", ())], {}, "labels of rank 1"),
        ("tir.one_hot", [("float64", (2,))], {"nb_class": 3}, "integers"),
        ("tir.one_hot", [("int64", (2,))], {"nb_class": -1}, "second operand"),
    ],
)
def test_bad_operands_raise_clear_errors(name, types, attrs, message):
    b = Builder(track_location=False)
    args = [FreeValue(TensorType(d, s)) for d, s in types]
    with pytest.raises(IRError, match=message):
        b.create(b.lookup(name), args, attrs)


# -- derivatives -------------------------------------------------------------------------------------
def _labels(rng, shape, n):
    return rng.integers(0, n, size=shape).astype("int64")


GRAD_CASES = [
    ("tir.softmax", lambda r: [r.standard_normal((3, 4))], {"axis": -1}),
    ("tir.softmax", lambda r: [r.standard_normal((2, 3, 4))], {"axis": 1}),
    ("tir.log_softmax", lambda r: [r.standard_normal((3, 4))], {"axis": -1}),
    ("tir.log_softmax", lambda r: [r.standard_normal((2, 3, 4))], {"axis": 0}),
    ("tir.logsumexp", lambda r: [r.standard_normal((3, 4))], {"axis": (1,), "keepdims": False}),
    ("tir.logsumexp", lambda r: [r.standard_normal((2, 3, 4))], {"axis": (0, 2), "keepdims": True}),
    ("tir.logsumexp", lambda r: [r.standard_normal((2, 3))], {"axis": None, "keepdims": False}),
    ("tir.softmax_crossentropy", lambda r: [r.standard_normal((4, 5)), _labels(r, (4,), 5)], {}),
    ("tir.softmax_crossentropy", lambda r: [r.standard_normal((2, 3, 5)), _labels(r, (2, 3), 5)], {}),
    ("tir.crossentropy_categorical", lambda r: [r.uniform(0.1, 1, (4, 5)), _labels(r, (4,), 5)], {}),
    ("tir.crossentropy_categorical", lambda r: [r.uniform(0.1, 1, (4, 5)), r.uniform(0, 1, (4, 5))], {}),
    ("tir.sigmoid_binary_crossentropy", lambda r: [r.standard_normal((3, 4)), r.uniform(0, 1, (3, 4))], {}),
    ("tir.sigmoid_binary_crossentropy", lambda r: [r.standard_normal((3, 4)), r.uniform(0, 1, (4,))], {}),
]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize(
    "name, make, attrs", GRAD_CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(GRAD_CASES)]
)
def test_vjp_and_jvp_against_finite_differences(name, make, attrs, dynamic):
    rng = np.random.default_rng(5)
    check_derivatives(name, make(rng), attrs, rng, dynamic)


def test_softmax_crossentropy_cotangent_is_softmax_minus_onehot():
    z = BIG.copy()
    y = np.array([1, 2, 0])
    b, args, op = _build("tir.softmax_crossentropy", [z, y], {})
    g = FreeValue(op.results[0].type)
    dz, dy = op.opdef.vjp(b, op, [g])
    assert dy is None
    (out,) = evaluate([dz], {args[0]: z, args[1]: y, g: np.ones(3)})
    np.testing.assert_allclose(out, scipy.special.softmax(BIG, axis=-1) - np.eye(3)[y], atol=1e-12)


def test_log_softmax_gradient_is_finite_for_huge_inputs():
    x = np.exp(10 * np.random.default_rng(6).uniform(size=(5, 10)))
    b, args, op = _build("tir.log_softmax", [x], {})
    g = FreeValue(op.results[0].type)
    (dx,) = op.opdef.vjp(b, op, [g])
    (out,) = evaluate([dx], {args[0]: x, g: np.ones_like(x)})
    assert np.isfinite(out).all()


def test_nn_ops_declare_their_rules():
    for name in NN_OPS:
        assert OPS[name].has_vjp and OPS[name].has_jvp, name
    assert not OPS["tir.one_hot"].differentiable


# -- the cross-entropy's gradient op --------------------------------------------------------------------
@given(st.integers(0, 5), st.integers(1, 6), FLOATS, st.booleans())
def test_softmax_crossentropy_grad_is_scaled_softmax_minus_onehot(rows, n, dtype, per_row):
    rng = np.random.default_rng(rows * 10 + n)
    z = (rng.standard_normal((rows, n)) * 4).astype(dtype)
    y = rng.integers(0, n, rows).astype("int32")
    dy = rng.standard_normal(rows if per_row else 1).astype(dtype)
    for dynamic in (False, True):
        got, t = run("tir.softmax_crossentropy_grad", [dy, z, y], dynamic=dynamic)
        expected = np.broadcast_to(dy, (rows,))[:, None] * (scipy.special.softmax(z, axis=-1) - np.eye(n)[y])
        assert got.dtype == dtype and got.shape == z.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_softmax_crossentropy_grad_derivatives():
    rng = np.random.default_rng(4)
    dy, z, y = rng.standard_normal(4), rng.standard_normal((4, 3)), np.array([0, 2, 1, 2], "int64")
    check_derivatives("tir.softmax_crossentropy_grad", [dy, z, y], {}, rng)
    check_derivatives("tir.softmax_crossentropy_grad", [dy, z, y], {}, rng, dynamic=True)


def test_softmax_crossentropy_grad_errors():
    with pytest.raises(EvaluationError, match="out of range"):
        run("tir.softmax_crossentropy_grad", [np.ones(2), np.zeros((2, 3)), np.array([0, 3])])
    with pytest.raises(IRError, match="broadcast"):
        _build("tir.softmax_crossentropy_grad", [np.ones(3), np.zeros((2, 3)), np.array([0, 1])], {})
    with pytest.raises(IRError, match="integers"):
        _build("tir.softmax_crossentropy_grad", [np.ones(2), np.zeros((2, 3)), np.zeros(2)], {})


def test_softmax_crossentropy_vjp_uses_the_gradient_op():
    b, args, op = _build("tir.softmax_crossentropy", [np.zeros((2, 3)), np.array([0, 1])], {})
    g = FreeValue(op.results[0].type)
    dz, _ = op.opdef.vjp(b, op, [g])
    assert dz.owner.name == "tir.softmax_crossentropy_grad"
