"""Reductions: inferred types match the references; frontend matches NumPy; sum_to/broadcast_like."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import assert_round_trip, check_reference_type, random_array

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Builder, make_func
from tensorir.dialects.ir import FreeValue
from tensorir.dialects.tir import reduction
from tensorir.dialects.types import TensorType

REDUCTIONS = [op for op in reduction.OPS if isinstance(op, reduction.Reduction)]


@pytest.mark.parametrize("op", REDUCTIONS, ids=lambda op: op.name)
@given(data=st.data())
def test_inferred_type_matches_reference(op, data):
    shape = data.draw(
        st.lists(st.integers(1 if op.name in ("tir.max", "tir.min", "tir.argmax", "tir.argmin") else 0, 3), max_size=3)
    )
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int8", "bool"]))
    axis = data.draw(
        st.none()
        | st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True, max_size=len(shape)).map(
            lambda a: tuple(sorted(a))
        )
    )
    keepdims = data.draw(st.booleans())
    dynamic = [None if data.draw(st.booleans()) else d for d in shape]
    b = Builder(track_location=False)
    result = b.op(op, FreeValue(TensorType(dtype, dynamic)), axis=axis, keepdims=keepdims)
    x = random_array(np.random.default_rng(0), dtype, shape)
    outs = op.reference([x], result.owner.attributes, [result.type])
    check_reference_type([result.type], outs)


@pytest.mark.parametrize(
    "method, ref",
    [
        ("sum", np.sum),
        ("prod", np.prod),
        ("mean", np.mean),
        ("max", np.max),
        ("min", np.min),
        ("var", np.var),
        ("std", np.std),
    ],
)
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_methods_match_numpy(method, ref, axis, keepdims):
    x = T.tensor3("x")
    f = tr.function([x], getattr(x, method)(axis=axis, keepdims=keepdims), mode="REFERENCE")
    value = np.random.default_rng(2).standard_normal((2, 3, 4))
    np.testing.assert_allclose(f(value), ref(value, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_argmax_over_several_axes_flattens_them():
    x = T.tensor3("x")
    value = np.random.default_rng(3).standard_normal((2, 3, 4))
    f = tr.function([x], [x.argmax(axis=(1, 2)), x.argmax(), x.argmin(axis=0, keepdims=True)], mode="REFERENCE")
    a, b, c = f(value)
    np.testing.assert_array_equal(a, value.reshape(2, -1).argmax(axis=1))
    assert b == value.argmax()
    np.testing.assert_array_equal(c, value.argmin(axis=0)[None])


def test_bad_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        T.matrix().sum(axis=3)


@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.data())
def test_sum_to_inverts_broadcasting(shape, data):
    target = [d if data.draw(st.booleans()) else 1 for d in shape][data.draw(st.integers(0, len(shape))) :]
    x = np.random.default_rng(4).standard_normal(shape)
    b = Builder(track_location=False)
    r = b.op(
        "tir.sum_to",
        FreeValue(TensorType("float64", [None] * len(shape))),
        FreeValue(TensorType("float64", [None] * len(target))),
    )
    (out,) = r.owner.opdef.reference([x, np.zeros(target)], {}, [r.type])
    lead = len(shape) - len(target)
    expected = x.sum(axis=tuple(range(lead))) if lead else x
    expected = expected.sum(axis=tuple(i for i, d in enumerate(target) if d == 1), keepdims=True)
    np.testing.assert_allclose(out, expected)


def test_reductions_round_trip():
    func, block = make_func("f", [TensorType("float32", (None, 4, 5))])
    b = Builder(block, track_location=False)
    outs = [b.op(op, block.arguments[0], axis=(0, 2), keepdims=True) for op in REDUCTIONS]
    outs.append(b.op("tir.sum_to", block.arguments[0], b.op("tir.sum", block.arguments[0], axis=(0,), keepdims=True)))
    b.op("func.return", *outs)
    assert_round_trip(func)
