"""Frontend shape and indexing functions: NumPy's results through ``function`` (REFERENCE mode),
symbolic shapes, the textual form, gradients against finite differences, and clear errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import EvaluationError, Module, parse_module, print_module
from tensorir.frontend import indexing as I  # noqa: N812 - Theano-style short names
from tensorir.frontend import shape_ops as S  # noqa: N812
from tensorir.frontend.printing import graph_function
from tensorir.frontend.variable import GraphError

RNG = np.random.default_rng(0)
V = RNG.standard_normal((3, 4))
IDX = np.array([0, 2, 2, -1])
MASK = V > 0
ROWS = np.array([True, False, True])


# -- frontend against NumPy ----------------------------------------------------------------------------
CASES = {
    "int": (lambda x, i: x[1], lambda v, i: v[1]),
    "negative int": (lambda x, i: x[-1, -2], lambda v, i: v[-1, -2]),
    "slices": (lambda x, i: x[1:, ::-2], lambda v, i: v[1:, ::-2]),
    "symbolic slice": (lambda x, i: x[i[0]:, :i[1]:-1], lambda v, i: v[i[0]:, :i[1]:-1]),
    "newaxis": (lambda x, i: x[:, None, 1:], lambda v, i: v[:, None, 1:]),
    "ellipsis": (lambda x, i: x[None, ..., 2], lambda v, i: v[None, ..., 2]),
    "index vector": (lambda x, i: x[i % 3], lambda v, i: v[i % 3]),
    "arange and vector": (lambda x, i: x[S.arange(i.shape[0]) % 3, i], lambda v, i: v[np.arange(4) % 3, i]),
    "vector and slice": (lambda x, i: x[i - 3, 1:], lambda v, i: v[i - 3, 1:]),
    "int, slice, vector": (lambda x, i: x[0, :, None][:, 0][i], lambda v, i: v[0, :, None][:, 0][i]),
    "mask": (lambda x, i: x[x > 0], lambda v, i: v[v > 0]),
    "row mask": (lambda x, i: x[T.constant(ROWS)], lambda v, i: v[ROWS]),
    "list index": (lambda x, i: x[[2, 0]], lambda v, i: v[[2, 0]]),
    "take axis": (lambda x, i: I.take(x, i, axis=1), lambda v, i: np.take(v, i, axis=1)),
    "take flat": (lambda x, i: I.take(x, i), lambda v, i: np.take(v, i)),
    "take wrap": (lambda x, i: I.take(x, i + 5, 0, "wrap"), lambda v, i: np.take(v, i + 5, 0, mode="wrap")),
    "set slice": (lambda x, i: I.set_subtensor(x[1:, 0], 7.0), lambda v, i: _np_set(v, np.s_[1:, 0], 7.0)),
    "set vector": (lambda x, i: I.set_subtensor(x[i - 2], x[0]), lambda v, i: _np_set(v, i - 2, v[0])),
    "inc repeated": (lambda x, i: I.inc_subtensor(x[i % 3], 1.0), lambda v, i: _np_inc(v, i % 3, 1.0)),
    "inc mask": (lambda x, i: I.inc_subtensor(x[x > 0], 2.0), lambda v, i: _np_inc(v, v > 0, 2.0)),
    "inc pairs": (lambda x, i: I.inc_subtensor(x[i % 3, i], 1.0), lambda v, i: _np_inc(v, (i % 3, i), 1.0)),
    "set newaxis": (lambda x, i: I.set_subtensor(x[None, 0], 5.0), lambda v, i: _np_set(v, 0, 5.0)),
    "concatenate": (lambda x, i: S.concatenate([x, x[:1]], axis=0), lambda v, i: np.concatenate([v, v[:1]])),
    "join": (lambda x, i: S.join(-1, x, x * 2), lambda v, i: np.concatenate([v, v * 2], -1)),
    "stack": (lambda x, i: S.stack([x, x * 2], axis=2), lambda v, i: np.stack([v, v * 2], 2)),
    "legacy stack": (lambda x, i: S.stack(x[0], x[1]), lambda v, i: np.stack([v[0], v[1]])),
    "horizontal_stack": (lambda x, i: S.horizontal_stack(x, x), lambda v, i: np.hstack([v, v])),
    "vertical_stack": (lambda x, i: S.vertical_stack(x, x), lambda v, i: np.vstack([v, v])),
    "split": (lambda x, i: S.split(x, [1, 3], 2, axis=1)[1], lambda v, i: v[:, 1:]),
    "symbolic split": (lambda x, i: S.split(x, T.stack([1, x.shape[0] - 1]), 2)[0], lambda v, i: v[:1]),
    "alloc": (lambda x, i: S.alloc(x[0], 2, x.shape[1]), lambda v, i: np.broadcast_to(v[0], (2, 4))),
    "zeros": (lambda x, i: S.zeros((x.shape[0], 5)), lambda v, i: np.zeros((3, 5))),
    "ones int": (lambda x, i: S.ones(x.shape, dtype="int32"), lambda v, i: np.ones((3, 4), np.int32)),
    "fill": (lambda x, i: S.fill(x, 3.0), lambda v, i: np.full((3, 4), 3.0)),
    "zeros_like": (lambda x, i: S.zeros_like(x, dtype="int64"), lambda v, i: np.zeros((3, 4), np.int64)),
    "ones_like": (lambda x, i: S.ones_like(x), lambda v, i: np.ones((3, 4))),
    "arange": (lambda x, i: S.arange(i.shape[0]), lambda v, i: np.arange(4)),
    "arange float": (lambda x, i: S.arange(1.0, 2.0, 0.25), lambda v, i: np.arange(1.0, 2.0, 0.25)),
    "arange negative": (lambda x, i: S.arange(x.shape[1], -1, -2), lambda v, i: np.arange(4, -1, -2)),
    "tile": (lambda x, i: S.tile(x, (2, 1, 3)), lambda v, i: np.tile(v, (2, 1, 3))),
    "symbolic tile": (lambda x, i: S.tile(x, (x.shape[0], 2)), lambda v, i: np.tile(v, (3, 2))),
    "repeat": (lambda x, i: S.repeat(x, 2, axis=1), lambda v, i: np.repeat(v, 2, 1)),
    "repeat vector": (lambda x, i: S.repeat(x, [0, 2, 1], axis=0), lambda v, i: np.repeat(v, [0, 2, 1], 0)),
    "repeat flat": (lambda x, i: S.repeat(x, i.shape[0]), lambda v, i: np.repeat(v, 4)),
    "roll": (lambda x, i: S.roll(x, -5, axis=1), lambda v, i: np.roll(v, -5, 1)),
    "symbolic roll": (lambda x, i: S.roll(x, i[1]), lambda v, i: np.roll(v, 2)),
    "eye": (lambda x, i: S.eye(x.shape[0], 5, k=1), lambda v, i: np.eye(3, 5, 1)),
    "identity_like": (lambda x, i: S.identity_like(x), lambda v, i: np.eye(3, 4)),
    "diag": (lambda x, i: S.diag(x, -1), lambda v, i: np.diag(v, -1)),
    "diag vector": (lambda x, i: S.diag(x[0], 2), lambda v, i: np.diag(v[0], 2)),
    "specify_shape": (lambda x, i: S.specify_shape(x, (x.shape[0], 4)), lambda v, i: v),
    "reshape": (lambda x, i: x.reshape((x.shape[0] * x.shape[1], -1)), lambda v, i: v.reshape(12, 1)),
    "nonzero": (lambda x, i: I.nonzero(x > 0)[1], lambda v, i: np.nonzero(v > 0)[1]),
    "nonzero matrix": (lambda x, i: I.nonzero(x > 0, return_matrix=True), lambda v, i: np.argwhere(v > 0).T),
    "flatnonzero": (lambda x, i: I.flatnonzero(x > 0), lambda v, i: np.flatnonzero(v > 0)),
    "nonzero_values": (lambda x, i: I.nonzero_values(x * (x > 0)), lambda v, i: v[v > 0]),
}


def _np_set(v, key, y):
    out = v.copy()
    out[key] = y
    return out


def _np_inc(v, key, y):
    out = v.copy()
    np.add.at(out, key, y)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_frontend_matches_numpy(name):
    build, ref = CASES[name]
    x, i = T.matrix("x"), T.lvector("i")
    expr = build(x, i)
    index = np.array([1, 2, 2, 3])
    f = tr.function([x, i], expr, mode="REFERENCE", on_unused_input="ignore")
    got = f(V, index)
    want = ref(V, index)
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype, (got, want)
    np.testing.assert_allclose(got, want)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), st.data())
def test_random_basic_keys_match_numpy(shape, data):
    key, symbolic_values = [], []
    scalars = [T.lscalar(f"s{k}") for k in range(6)]
    sym_key = []
    for d in shape[: data.draw(st.integers(0, len(shape)))]:
        if d and data.draw(st.booleans()):
            v = data.draw(st.integers(-d, d - 1))
            key.append(v)
            sym_key.append(v)
        else:
            parts = [data.draw(st.none() | st.integers(-5, 5)), data.draw(st.none() | st.integers(-5, 5)),
                     data.draw(st.none() | st.sampled_from([-2, -1, 1, 3]))]
            key.append(slice(*parts))
            sym = []
            for p in parts:
                if p is not None and len(symbolic_values) < 6 and data.draw(st.booleans()):
                    sym.append(scalars[len(symbolic_values)])
                    symbolic_values.append(p)
                else:
                    sym.append(p)
            sym_key.append(slice(*sym))
        if data.draw(st.integers(0, 4)) == 0:
            key.append(None)
            sym_key.append(None)
    x = T.TensorType("float64", shape=[None if data.draw(st.booleans()) else d for d in shape])("x")
    value = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)[..., ::-1]
    used = scalars[: len(symbolic_values)]
    got = tr.function([x, *used], x[tuple(sym_key)], mode="REFERENCE")(value, *symbolic_values)
    np.testing.assert_array_equal(got, value[tuple(key)])


def test_static_shapes_are_kept():
    x = T.TensorType("float64", shape=(5, None))("x")
    assert x[1:4].static_shape == (3, None)
    assert x[::-2, 0].static_shape == (3,)
    assert S.zeros((x.shape[0], 5)).static_shape == (5, 5)
    assert S.arange(10).static_shape == (10,) and S.arange(10).dtype == "int64"
    assert S.concatenate([x, x]).static_shape == (10, None)
    assert S.tile(x, (2, 3)).static_shape == (10, None)
    assert S.repeat(x, 2, axis=0).static_shape == (10, None)
    assert S.addbroadcast(x[:1], 0).broadcastable == (True, False)
    assert S.unbroadcast(T.row(), 0).broadcastable == (False, False)
    assert S.patternbroadcast(T.matrix(), (False, True)).broadcastable == (False, True)


def test_functions_using_the_ops_round_trip():
    x, i, n = T.matrix("x"), T.lvector("i"), T.lscalar("n")
    outs = [x[n:, ::-1], x[i, 1:], x[x > 0], I.inc_subtensor(x[i], 1.0), I.set_subtensor(x[0, n], 2.0),
            S.concatenate([x, x]), S.split(x, [1, n], 2, axis=1)[0], S.zeros((x.shape[0], 5)), S.arange(n),
            S.tile(x, (n, 2)), S.repeat(x, i, axis=0), S.eye(n), S.specify_shape(x, (n, None)), *I.nonzero(x)]
    text = print_module(Module([graph_function(outs)]))
    assert print_module(parse_module(text)) == text


# -- gradients -------------------------------------------------------------------------------------------
GRADIENTS = {
    "subtensor": lambda x: x[1:, ::-2],
    "int index": lambda x: x[-1],
    "symbolic slice": lambda x: x[x.shape[0] - 2:],
    "index vector": lambda x: x[IDX],
    "index pairs": lambda x: x[np.arange(4) % 3, IDX],
    "mask": lambda x: x[MASK],
    "set": lambda x: I.set_subtensor(x[1:, 0], x[0, :2] * 2),
    "set advanced": lambda x: I.set_subtensor(x[IDX[:2]], x[2] * 3),
    "inc": lambda x: I.inc_subtensor(x[IDX], x[0] * 3),
    "inc basic": lambda x: I.inc_subtensor(x[:, 1:], x[:, :1]),
    "take": lambda x: I.take(x, IDX, axis=1),
    "join": lambda x: S.concatenate([x, x * 2, x[:, :1]], axis=1),
    "stack": lambda x: S.stack([x, x * 2], axis=1),
    "split": lambda x: S.split(x, [1, 3], 2, axis=1)[1],
    "alloc": lambda x: S.alloc(x[0], 2, x.shape[1]),
    "fill": lambda x: S.fill(x, x[0]),
    "tile": lambda x: S.tile(x, (2, 1, 3)),
    "symbolic tile": lambda x: S.tile(x, (x.shape[0], 2)),
    "repeat": lambda x: S.repeat(x, 2, axis=1),
    "repeat vector": lambda x: S.repeat(x, [1, 0, 3], axis=0),
    "roll": lambda x: S.roll(x, -1, axis=0),
    "diag": lambda x: S.diag(x, 1),
    "diag vector": lambda x: S.diag(x[0], -1),
    "specify_shape": lambda x: S.specify_shape(x, (3, None)),
    "unbroadcast": lambda x: S.unbroadcast(x[:1], 0),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradient_matches_finite_differences(name):
    from tensorir.gradient import verify_grad

    verify_grad(GRADIENTS[name], [V], rng=np.random.default_rng(1))


@pytest.mark.parametrize("name", ["subtensor", "index pairs", "set", "inc", "join", "split", "alloc", "tile",
                                  "repeat", "specify_shape"])
def test_jvp_is_the_transpose_of_the_vjp(name):
    # <J t, u> == <t, J^T u> for the forward (Rop) and reverse (Lop) rules of the same ops.
    from tensorir.gradient import Lop, Rop

    x, t = T.matrix("x"), T.matrix("t")
    y = GRADIENTS[name](x)
    u = T.TensorType("float64", shape=[None] * y.ndim)("u")
    f = tr.function([x, t, u], [(Rop(y, x, t) * u).sum(), (Lop(y, x, u) * t).sum(), y], mode="REFERENCE",
                    on_unused_input="ignore")
    shape = tr.function([x], y, mode="REFERENCE")(V).shape
    tv = np.random.default_rng(2).standard_normal(V.shape)
    uv = np.random.default_rng(3).standard_normal(shape)
    forward, backward, _ = f(V, tv, uv)
    np.testing.assert_allclose(forward, backward, rtol=1e-10)


# -- errors ------------------------------------------------------------------------------------------------
def test_static_out_of_range_index_is_an_index_error():
    x = T.TensorType("float64", shape=(3, None))("x")
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        x[[0, -4]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]


def test_run_time_out_of_range_index_raises_index_error():
    x, i = T.vector("x"), T.lvector("i")
    for expr in (x[i], I.inc_subtensor(x[i], 1.0), x[i[0]]):
        f = tr.function([x, i], expr, mode="REFERENCE")
        with pytest.raises(EvaluationError, match=r"IndexError: index 5 is out of bounds for axis 0") as info:
            f(np.zeros(3), [5, 0])
        assert isinstance(info.value.cause, IndexError)


@pytest.mark.parametrize("build, exc, message", [
    (lambda x: I.set_subtensor(x, 1.0), TypeError, "must be an indexing expression"),
    (lambda x: x[0.5], TypeError, "integers or booleans"),
    (lambda x: x[True], TypeError, "boolean scalar"),
    (lambda x: x[::0], ValueError, "step cannot be zero"),
    (lambda x: I.inc_subtensor(x[0], T.matrix()), ValueError, "rank 2"),
    (lambda x: S.concatenate([x, T.vector()]), GraphError, "same rank"),
    (lambda x: S.join(2, x, x), GraphError, "axis 2 is out of range"),
    (lambda x: S.split(x, [1, 2], 3), GraphError, "2 sizes given for n_splits=3"),
    (lambda x: S.zeros((2, -1)), ValueError, "must be >= 0"),
    (lambda x: S.zeros((2, 1.5)), TypeError, "integer"),
    (lambda x: S.arange(0, 5, 0), ValueError, "step must not be zero"),
    (lambda x: S.repeat(x, [1, 2], axis=0), GraphError, "2 repeats for an axis of length 3"),
    (lambda x: S.tile(x, (2,), ndim=1), GraphError, "ndim=1"),
    (lambda x: S.specify_shape(x, (3,)), GraphError, "1 dims"),
    (lambda x: S.diag(T.tensor3()), GraphError, "vector or a matrix"),
])
def test_bad_arguments_are_clear_errors(build, exc, message):
    x = T.TensorType("float64", shape=(3, None))("x")
    with pytest.raises(exc, match=message):
        build(x)


@pytest.mark.parametrize("build, args, message", [
    (lambda x, n: S.split(x, [1, n], 2), (np.zeros((3, 2)), 5), "add up to 6"),
    (lambda x, n: S.specify_shape(x, (n, None)), (np.zeros((3, 2)), 4), "dim 0 of the value is 3, expected"),
    (lambda x, n: S.addbroadcast(x, 0), (np.zeros((3, 2)), 0), "expected 1"),
    (lambda x, n: S.concatenate([x, x[:, :n]], axis=0), (np.zeros((3, 2)), 1), "dimension"),
])
def test_run_time_shape_errors_name_the_problem(build, args, message):
    x, n = T.matrix("x"), T.lscalar("n")
    f = tr.function([x, n], build(x, n), mode="REFERENCE", on_unused_input="ignore")
    with pytest.raises(EvaluationError, match=message):
        f(*args)
