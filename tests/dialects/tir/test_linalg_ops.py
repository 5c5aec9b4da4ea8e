"""tir linalg ops: inferred types against NumPy's results, references against NumPy, and the
vjp/jvp rules against finite differences (built and evaluated on the IR directly)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorir.dialects import Builder, IRError, TensorType
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import FreeValue, ancestors_topological
from tensorir.dialects.registry import OPS

DIM = st.integers(0, 4)
FLOATS = st.sampled_from(["float32", "float64"])
DOT_DTYPES = st.sampled_from(["float32", "float64", "int32", "int64"])


# -- harness -----------------------------------------------------------------------------------------
def _array(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-5, 6, size=shape).astype(dtype)


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


def check_reference_type(name, arrays, attrs, expected):
    """The op's inferred type (static and dynamic operand shapes) matches NumPy's actual result."""
    for dynamic in (False, True):
        _, args, op = _build(name, arrays, attrs, dynamic)
        (out,) = evaluate(op.results, dict(zip(args, arrays)))
        t = op.results[0].type
        assert t.dtype == np.asarray(expected).dtype.name, (t, expected.dtype)
        assert t.accepts_shape(expected.shape), (t, expected.shape)
        if not dynamic:
            assert t.shape == expected.shape
        assert out.dtype == expected.dtype and out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def check_derivatives(name, arrays, attrs, rng, dynamic=False, eps=1e-6, tol=1e-6):
    """jvp against central differences along a random direction, and ``<g, J t> = <J^T g, t>``."""
    b, args, op = _build(name, arrays, attrs, dynamic)
    env = dict(zip(args, arrays))
    (y,) = evaluate(op.results, env)
    g = rng.standard_normal(y.shape).astype(y.dtype)
    g_value = FreeValue(op.results[0].type)
    cotangents = op.opdef.vjp(b, op, [g_value])
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    for i in floats:
        t = rng.standard_normal(arrays[i].shape).astype(arrays[i].dtype)
        t_value = FreeValue(args[i].type)
        tangents = [t_value if k == i else None for k in range(len(args))]
        (jvp,) = op.opdef.jvp(b, op, tangents)
        assert jvp is not None and jvp.type.dtype == op.results[0].type.dtype
        cot = cotangents[i]
        assert cot is not None and cot.type.dtype == args[i].type.dtype
        assert cot.type.accepts_shape(arrays[i].shape) or dynamic
        jt, ct = evaluate([jvp, cot], {**env, t_value: t, g_value: g})
        assert ct.shape == arrays[i].shape
        plus = [a + eps * t if k == i else a for k, a in enumerate(arrays)]
        minus = [a - eps * t if k == i else a for k, a in enumerate(arrays)]
        (yp,) = evaluate(op.results, dict(zip(args, plus)))
        (ym,) = evaluate(op.results, dict(zip(args, minus)))
        np.testing.assert_allclose(jt, (yp - ym) / (2 * eps), rtol=tol * 100, atol=tol * 100)
        np.testing.assert_allclose(np.sum(g * jt), np.sum(ct * t), rtol=max(tol, 1e-8), atol=max(tol, 1e-8))
    for k, a in enumerate(arrays):
        if a.dtype.kind != "f":
            assert cotangents[k] is None


# -- dot: every rank combination ------------------------------------------------------------------------
@st.composite
def dot_case(draw):
    nx, ny = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    xs = [draw(DIM) for _ in range(nx)]
    ys = [draw(DIM) for _ in range(ny)]
    if nx and ny:
        ys[max(ny - 2, 0)] = xs[-1]
    return tuple(xs), tuple(ys), draw(DOT_DTYPES), draw(DOT_DTYPES)


@given(dot_case())
def test_dot_type_and_reference_match_numpy(case):
    xs, ys, dx, dy = case
    rng = np.random.default_rng(0)
    x, y = _array(rng, xs, dx), _array(rng, ys, dy)
    check_reference_type("tir.dot", [x, y], {}, np.dot(x, y))


@given(st.integers(0, 3), st.integers(0, 3), DIM, DIM, DIM, st.integers(0, 2), DOT_DTYPES, DOT_DTYPES)
def test_tensordot_type_and_reference(nfree_x, nfree_y, d0, d1, d2, ncontract, dx, dy):
    rng = np.random.default_rng(1)
    dims = [d0, d1, d2, 2, 3]
    contracted = dims[:ncontract]
    x_shape = tuple(dims[2 : 2 + nfree_x]) + tuple(contracted)
    y_shape = tuple(reversed(contracted)) + tuple(dims[:nfree_y])
    x, y = _array(rng, x_shape, dx), _array(rng, y_shape, dy)
    xa = tuple(range(nfree_x, nfree_x + ncontract))
    ya = tuple(reversed(range(ncontract)))
    check_reference_type("tir.tensordot", [x, y], {"axes": (xa, ya)}, np.tensordot(x, y, axes=(xa, ya)))


@given(DIM, DIM, DIM, DIM, st.sampled_from([(3, 3), (2, 3), (3, 2), (2, 2), (4, 3)]), FLOATS, FLOATS)
def test_batched_dot_is_dot_per_batch(batch, n, k, m, ranks, dx, dy):
    rng = np.random.default_rng(2)
    xs = (batch,) + ((n, k) if ranks[0] == 3 else (k,) if ranks[0] == 2 else (n, 2, k))
    ys = (batch,) + ((k, m) if ranks[1] == 3 else (k,))
    x, y = _array(rng, xs, dx), _array(rng, ys, dy)
    expected = np.array([np.dot(x[i], y[i]) for i in range(batch)], dtype=np.result_type(x, y))
    expected = expected.reshape((batch,) + xs[1:-1] + ys[2:])
    check_reference_type("tir.batched_dot", [x, y], {}, expected)


@given(DIM, DIM, DIM, FLOATS)
def test_batched_tensordot_is_tensordot_per_batch(batch, n, m, dtype):
    rng = np.random.default_rng(3)
    x, y = _array(rng, (batch, n, 2, 3), dtype), _array(rng, (batch, 3, m, 2), dtype)
    axes = ((2, 3), (3, 1))
    inner = ((1, 2), (2, 0))
    expected = np.array([np.tensordot(x[i], y[i], inner) for i in range(batch)], dtype=dtype).reshape(
        batch, n, m
    )
    check_reference_type("tir.batched_tensordot", [x, y], {"axes": axes}, expected)


@st.composite
def matmul_case(draw):
    nx, ny = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = draw(DIM)
    batch = [draw(st.integers(0, 3)) for _ in range(max(nx, ny) - 2)] if max(nx, ny) > 2 else []
    xs = [k] if nx == 1 else [draw(DIM), k]
    ys = [k] if ny == 1 else [k, draw(DIM)]
    # Batch axes broadcast: each operand takes a suffix of the batch, some dims replaced by 1.
    xb = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - max(nx - 2, 0) :]] if nx > 2 else []
    yb = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - max(ny - 2, 0) :]] if ny > 2 else []
    return tuple(xb + xs), tuple(yb + ys), draw(DOT_DTYPES), draw(DOT_DTYPES)


@given(matmul_case())
def test_matmul_type_and_reference_match_numpy(case):
    xs, ys, dx, dy = case
    rng = np.random.default_rng(4)
    x, y = _array(rng, xs, dx), _array(rng, ys, dy)
    check_reference_type("tir.matmul", [x, y], {}, np.matmul(x, y))


@pytest.mark.parametrize(
    "name, shapes, attrs, message",
    [
        ("tir.dot", [(2, 3), (4, 5)], {}, "not aligned"),
        ("tir.dot", [(3,), (4,)], {}, "not aligned"),
        ("tir.tensordot", [(2, 3), (3, 4)], {"axes": ((1,), (1,))}, "contracted dims differ"),
        ("tir.tensordot", [(2, 3), (3, 4)], {"axes": ((2,), (0,))}, "invalid axes"),
        ("tir.tensordot", [(2, 3), (3, 4)], {"axes": ((1, 0), (0,))}, "same length"),
        ("tir.batched_dot", [(2, 3, 4), (5, 4, 2)], {}, "batch sizes differ"),
        ("tir.batched_dot", [(2,), (2, 3)], {}, "rank >= 2"),
        ("tir.batched_tensordot", [(2, 3), (2, 3)], {"axes": ((0,), (0,))}, "batch axis"),
        ("tir.matmul", [(), (3,)], {}, "scalars"),
        ("tir.matmul", [(2, 3), (4, 2)], {}, "not aligned"),
        ("tir.matmul", [(2, 1, 3), (3, 3, 2)], {}, "broadcast"),
    ],
)
def test_bad_operands_raise_clear_errors(name, shapes, attrs, message):
    b = Builder(track_location=False)
    args = [FreeValue(TensorType("float64", s)) for s in shapes]
    with pytest.raises(IRError, match=message):
        b.create(b.lookup(name), args, attrs)


def test_dynamic_dims_stay_dynamic_and_static_ones_win():
    b = Builder(track_location=False)
    x = FreeValue(TensorType("float32", (None, 3)))
    y = FreeValue(TensorType("float64", (None, 7)))
    assert b.op("tir.dot", x, y).type == TensorType("float64", (None, 7))
    z = FreeValue(TensorType("float32", (None, 1, None, 3)))
    w = FreeValue(TensorType("float32", (5, None, 4)))
    assert b.op("tir.matmul", z, w).type == TensorType("float32", (None, 5, None, 4))


# -- derivatives -------------------------------------------------------------------------------------
GRAD_CASES = [
    ("tir.dot", [(), (3,)], {}),
    ("tir.dot", [(2, 3), ()], {}),
    ("tir.dot", [(4,), (4,)], {}),
    ("tir.dot", [(2, 4), (4,)], {}),
    ("tir.dot", [(4,), (4, 3)], {}),
    ("tir.dot", [(2, 4), (4, 3)], {}),
    ("tir.dot", [(2, 3, 4), (5, 4, 2)], {}),
    ("tir.dot", [(2, 3, 4), (4,)], {}),
    ("tir.tensordot", [(2, 3, 4), (4, 3, 5)], {"axes": ((1, 2), (1, 0))}),
    ("tir.tensordot", [(2, 3), (4,)], {"axes": ((), ())}),
    ("tir.tensordot", [(3, 2, 4), (2, 3)], {"axes": ((0, 1), (1, 0))}),
    ("tir.batched_dot", [(3, 2, 4), (3, 4, 5)], {}),
    ("tir.batched_dot", [(3, 4), (3, 4)], {}),
    ("tir.batched_dot", [(3, 2, 4), (3, 4)], {}),
    ("tir.batched_tensordot", [(2, 3, 4, 5), (2, 5, 3, 6)], {"axes": ((1, 3), (2, 1))}),
    ("tir.matmul", [(2, 3, 4), (4, 5)], {}),
    ("tir.matmul", [(4,), (2, 4, 5)], {}),
    ("tir.matmul", [(2, 1, 3, 4), (3, 4, 5)], {}),
    ("tir.matmul", [(2, 3, 4), (4,)], {}),
    ("tir.matmul", [(1, 3, 4), (2, 4, 5)], {}),
]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name, shapes, attrs", GRAD_CASES, ids=[f"{c[0]}{c[1]}" for c in GRAD_CASES])
def test_vjp_and_jvp_against_finite_differences(name, shapes, attrs, dynamic):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s) for s in shapes]
    check_derivatives(name, arrays, attrs, rng, dynamic)


@pytest.mark.parametrize("name", ["tir.dot", "tir.matmul"])
def test_integer_operand_gets_no_cotangent_and_float32_keeps_its_dtype(name):
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 3, size=(2, 3)).astype("int64")
    y = rng.standard_normal((3, 4)).astype("float32")
    check_derivatives(name, [x, y], {}, rng, tol=1e-3, eps=1e-2)


def test_vjp_of_matrix_products_stays_matrix_dots():
    """The cotangents of a matrix product are matrix products (what the BLAS rewrites look for)."""
    b, args, op = _build("tir.dot", [np.zeros((2, 3)), np.zeros((3, 4))], {}, dynamic=True)
    cot = op.opdef.vjp(b, op, [FreeValue(op.results[0].type)])
    names = {o.name for o in ancestors_topological(cot)}
    assert names <= {"tir.dot", "tir.dimshuffle"}


def test_every_linalg_op_has_vjp_and_jvp():
    for name in ("tir.dot", "tir.tensordot", "tir.batched_dot", "tir.batched_tensordot", "tir.matmul"):
        assert OPS[name].has_vjp and OPS[name].has_jvp, name
