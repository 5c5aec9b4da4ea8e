"""tir.allreduce: inferred types, checked attributes, the one-process reference, vjp, text form."""

import numpy as np
import pytest
from tests.helpers import assert_round_trip

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Builder, make_func
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.interpret import EvaluationError, run_function
from tensorir.dialects.ir import Operation
from tensorir.dialects.opdef import IRError
from tensorir.dialects.types import TensorType
from tensorir.frontend.variable import GraphError, apply_op


def _allreduce_func(**attrs):
    func, block = make_func("f", [TensorType("float64", (None, 3)), TensorType("float32", ())], ["a", "b"])
    b = Builder(block, track_location=False)
    ra, rb = b.op("tir.allreduce", *block.arguments, **attrs)
    block.append(Operation(RETURN, [ra, rb], []))
    return func, ra, rb


def test_types_are_the_operands_and_text_round_trips():
    func, ra, rb = _allreduce_func(reduce="sum", group="world", group_size=4)
    assert ra.type == TensorType("float64", (None, 3)) and rb.type == TensorType("float32", ())
    text = assert_round_trip(func)
    assert '"tir.allreduce"' in text and 'reduce = "sum"' in text and "group_size = 4" in text


@pytest.mark.parametrize("attrs,message", [
    ({"reduce": "max"}, "reduce must be one of"),
    ({"group_size": 0}, "group_size must be a positive integer"),
])
def test_bad_attributes_name_what_is_allowed(attrs, message):
    with pytest.raises(IRError, match=message):
        _allreduce_func(**attrs)


def test_a_mean_of_integers_is_refused():
    with pytest.raises(GraphError, match="a mean needs float operands, operand 0 is int64"):
        apply_op("tir.allreduce", T.lvector("n"), reduce="mean")


def test_reference_is_the_identity_for_one_process_and_refuses_more():
    func, _, _ = _allreduce_func()
    a, b = np.arange(6.0).reshape(2, 3), np.float32(2)
    out = run_function(func, [a, b])
    np.testing.assert_array_equal(out[0], a)
    assert out[1] == b
    func4, _, _ = _allreduce_func(group_size=4)
    with pytest.raises(EvaluationError, match="runs only in the native executor"):
        run_function(func4, [a, b])


def test_vjp_is_the_allreduce_of_the_cotangent():
    x = T.vector("x")
    y = apply_op("tir.allreduce", x, reduce="sum")
    g = tr.grad((y**2).sum(), x)
    f = tr.function([x], g)
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [2.0, 4.0])  # one process: d(x^2)/dx
    ops = [op.name for op in tr.function([x], g, mode="NONE").executor.func.regions[0].block.operations]
    assert ops.count("tir.allreduce") == 2, ops  # the forward one and the vjp's one
