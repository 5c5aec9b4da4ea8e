"""Elementwise ops: inferred types match the references, references match NumPy, text round-trips."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import assert_round_trip, check_reference_type, random_array

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Builder, make_func
from tensorir.dialects.ir import FreeValue
from tensorir.dialects.tir import elementwise
from tensorir.dialects.types import TensorType

OPS = {op.name: op for op in elementwise.OPS}
FLOAT_ONLY = {"tir.true_div", "tir.arctan2", "tir.reciprocal", "tir.sqrt", "tir.exp", "tir.exp2", "tir.expm1",
              "tir.log", "tir.log2", "tir.log10", "tir.log1p", "tir.sin", "tir.cos", "tir.tan", "tir.arcsin",
              "tir.arccos", "tir.arctan", "tir.sinh", "tir.cosh", "tir.tanh", "tir.arcsinh", "tir.arccosh",
              "tir.arctanh", "tir.erf", "tir.erfc", "tir.sigmoid", "tir.softplus", "tir.floor", "tir.ceil",
              "tir.trunc"}
BITWISE = {"tir.and", "tir.or", "tir.xor", "tir.invert"}


def _dtypes_for(name):
    if name in BITWISE:
        return ["bool", "int32", "int64", "uint8"]
    if name in ("tir.neg", "tir.sub"):
        return ["float32", "float64", "int32", "int64", "int8"]
    if name in ("tir.pow", "tir.int_div", "tir.mod"):
        return ["float32", "float64"]
    return ["float32", "float64", "int32", "int64", "int8", "bool"] if name not in FLOAT_ONLY else [
        "float32", "float64", "int32", "int8"]


def _attrs(name):
    return {"tir.cast": {"dtype": "float32"}, "tir.round": {"mode": "half_away_from_zero"}}.get(name, {})


broadcast_shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3)


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_inferred_type_matches_reference(name, data):
    op = OPS[name]
    out_shape = data.draw(broadcast_shapes)
    dtypes = _dtypes_for(name)
    shapes, types = [], []
    for _ in range(op.arity):
        # Each operand drops leading dims and/or sets dims to 1 (NumPy broadcasting).
        lead = data.draw(st.integers(0, len(out_shape)))
        shape = [d if data.draw(st.booleans()) else 1 for d in out_shape[lead:]]
        dynamic = [None if data.draw(st.booleans()) else d for d in shape]
        dtype = data.draw(st.sampled_from(dtypes))
        if name == "tir.switch" and not types:
            dtype = "bool"
        shapes.append(shape)
        types.append(TensorType(dtype, dynamic))
    b = Builder(track_location=False)
    result = b.op(op, *[FreeValue(t) for t in types], **_attrs(name))
    rng = np.random.default_rng(0)
    positive = name in ("tir.log", "tir.log2", "tir.log10", "tir.sqrt", "tir.pow", "tir.arccosh")
    inputs = [random_array(rng, t.dtype, s, positive=positive) for t, s in zip(types, shapes)]
    if name in ("tir.arcsin", "tir.arccos", "tir.arctanh"):
        inputs = [np.clip(x, -0.9, 0.9).astype(x.dtype) if x.dtype.kind == "f" else x for x in inputs]
    if name in ("tir.arccosh",):
        inputs = [x + np.asarray(1, x.dtype) for x in inputs]
    outs = op.reference(inputs, result.owner.attributes, [result.type])
    check_reference_type([result.type], outs)


NUMPY_EQUIVALENT = {
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "sin": np.sin, "log1p": np.log1p,
    "expm1": np.expm1, "erf": scipy.special.erf, "sigmoid": scipy.special.expit, "abs": np.abs, "neg": np.negative,
    "sqr": np.square, "floor": np.floor, "arctan": np.arctan, "cosh": np.cosh,
}


@pytest.mark.parametrize("name", sorted(NUMPY_EQUIVALENT))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frontend_matches_numpy(name, dtype):
    x = T.matrix("x", dtype=dtype)
    f = tr.function([x], getattr(T, name)(x), mode="REFERENCE")
    value = np.random.default_rng(1).uniform(0.1, 2.0, size=(3, 4)).astype(dtype)
    out = f(value)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, NUMPY_EQUIVALENT[name](value), rtol=1e-6 if dtype == "float32" else 1e-12)


def test_theano_dtype_rules():
    assert T.exp(T.bvector()).dtype == "float32"
    assert T.exp(T.ivector()).dtype == "float64"
    assert (T.fvector() * 2.0).dtype == "float32"
    assert (T.fvector() + 1).dtype == "float32"
    assert (T.ivector() + 1).dtype == "int32"
    assert (T.ivector() / T.ivector()).dtype == tr.config.floatX
    assert (T.fvector() < 1).dtype == "bool"
    assert T.constant(3).dtype == "int8"
    with tr.change_flags(floatX="float32"):
        assert T.constant(1.5).dtype == "float32"
        assert T.vector().dtype == "float32"


def test_round_half_away_from_zero_is_theanos_default():
    x = T.dvector()
    f = tr.function([x], [T.round(x), T.round(x, "half_to_even")], mode="REFERENCE")
    away, even = f([0.5, 1.5, 2.5, -0.5, -2.5])
    np.testing.assert_array_equal(away, [1, 2, 3, -1, -3])
    np.testing.assert_array_equal(even, [0, 2, 2, -0, -2])


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_elementwise_op_round_trips(name):
    op = OPS[name]
    dtype = _dtypes_for(name)[0]
    types = [TensorType("bool" if name == "tir.switch" and i == 0 else dtype, (None, 3)) for i in range(op.arity)]
    func, block = make_func("f", types)
    b = Builder(block, track_location=False)
    out = b.op(op, *block.arguments, **_attrs(name))
    b.op("func.return", out)
    assert_round_trip(func)
