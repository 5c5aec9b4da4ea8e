"""Core IR: values and uses, cloning, walking, verification, deep graphs."""

import numpy as np
import pytest

from tensorir.dialects import (
    Builder,
    IRError,
    Module,
    TensorType,
    clone_graph,
    make_func,
    parse_module,
    print_module,
    run_function,
    verify,
    walk,
)
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.ir import FreeValue, Operation, ancestors_topological, graph_inputs

F64 = TensorType("float64", (None,))


def test_uses_and_replace_all_uses():
    b = Builder(track_location=False)
    x = FreeValue(F64, "x")
    y = b.op("tir.exp", x)
    z = b.op("tir.add", y, y)
    assert [(op.name, i) for op, i in y.uses] == [("tir.add", 0), ("tir.add", 1)]
    w = b.op("tir.neg", x)
    y.replace_all_uses_with(w)
    assert z.owner.operands == [w, w]
    assert y.uses == []


def test_type_inference_broadcasts_and_promotes():
    b = Builder(track_location=False)
    x = FreeValue(TensorType("float32", (None, 10)))
    y = FreeValue(TensorType("int64", (1, 10)))
    z = b.op("tir.add", x, y)
    assert z.type == TensorType("float64", (None, 10))
    with pytest.raises(IRError, match="cannot be broadcast"):
        b.op("tir.add", FreeValue(TensorType("float32", (3,))), FreeValue(TensorType("float32", (4,))))


def test_location_is_the_callers_line():
    b = Builder()
    x = FreeValue(F64)
    y = b.op("tir.exp", x)
    assert y.owner.location.file == __file__
    assert y.owner.location.line > 0


def _chain(n: int):
    b = Builder(track_location=False)
    x = FreeValue(F64, "x")
    v = x
    for i in range(n):
        v = b.op("tir.add" if i % 2 else "tir.sin", *((v, x) if i % 2 else (v,)))
    return x, v


def test_deep_chain_builds_prints_parses_clones_and_runs():
    n = 10_000
    x, out = _chain(n)
    ops = ancestors_topological([out])
    assert len(ops) == n
    func, block = make_func("deep", [F64], ["x"])
    cloned = clone_graph([out], {x: block.arguments[0]})
    for op in ancestors_topological(cloned):
        block.append(op)
    block.append(Operation(RETURN, cloned, []))
    module = Module([func])
    verify(module)
    text = print_module(module)
    assert text.count("\n") > n
    again = parse_module(text)
    assert print_module(again) == text
    assert sum(1 for _ in walk(again)) == n + 2
    expected = np.array([0.5, -1.0])
    for i in range(n):
        expected = expected + np.array([0.5, -1.0]) if i % 2 else np.sin(expected)
    (result,) = run_function(again.functions[0], [np.array([0.5, -1.0])])
    np.testing.assert_allclose(result, expected)


def test_graph_inputs_and_clone_replace():
    b = Builder(track_location=False)
    x, y = FreeValue(F64, "x"), FreeValue(F64, "y")
    z = b.op("tir.mul", b.op("tir.exp", x), y)
    assert graph_inputs([z]) == [x, y]
    y2 = FreeValue(F64, "y2")
    (z2,) = clone_graph([z], {y: y2})
    assert z2 is not z and z2.owner.operands[1] is y2
    # The unaffected exp is shared, not copied.
    assert z2.owner.operands[0] is z.owner.operands[0]


def test_verifier_rejects_use_before_definition():
    b = Builder(track_location=False)
    func, block = make_func("f", [F64])
    bb = b.with_block(block)
    y = bb.op("tir.exp", block.arguments[0])
    z = bb.op("tir.neg", y)
    bb.op("func.return", z)
    block.operations[0], block.operations[1] = block.operations[1], block.operations[0]
    with pytest.raises(IRError, match="not defined before use"):
        verify(Module([func]))
