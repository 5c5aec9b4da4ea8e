"""Structural ops: ``func.func``, ``func.return``, ``tir.yield`` and ``tir.constant``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import Block, Operation, Region, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef
from tensorir.dialects.types import TensorType, dtype_name


class FuncDef(OpDef):
    """A function: one region whose block arguments are the parameters; ends in ``func.return``."""

    name = "func.func"
    arity = 0
    num_regions = 1
    pure = False
    attributes = {"sym_name": REQUIRED}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return []

    def verify(self, op: Operation) -> None:
        if len(op.regions) != 1 or len(op.regions[0].blocks) != 1:
            raise IRError("func.func must have one region with one block")
        term = op.regions[0].block.terminator
        if term is None or term.opdef is not RETURN:
            raise IRError(f"func.func @{op.attributes['sym_name']} must end with func.return")


class Terminator(OpDef):
    """Ends a block; its operands are the block's results."""

    pure = False

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return []


class ConstantDef(OpDef):
    """A constant tensor; the attribute ``value`` is a read-only NumPy array."""

    name = "tir.constant"
    arity = 0
    fusion = "elementwise"
    differentiable = False
    attributes = {"value": REQUIRED}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        value = np.array(out["value"])
        dtype_name(value.dtype)  # rejects unsupported dtypes
        value.flags.writeable = False
        out["value"] = value
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        value = attrs["value"]
        return [TensorType(dtype_name(value.dtype), value.shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [attrs["value"]]


FUNC = FuncDef()
RETURN = Terminator("func.return")
YIELD = Terminator("tir.yield")
CONSTANT = ConstantDef()

OPS: list[OpDef] = [FUNC, RETURN, YIELD, CONSTANT]


def make_func(
    name: str, arg_types: Sequence[TensorType], arg_names: Sequence[str | None] = ()
) -> tuple[Operation, Block]:
    """An empty function (no terminator yet) and its entry block."""
    block = Block(arg_types, arg_names)
    op = Operation(FUNC, [], [], {"sym_name": name}, [Region([block])])
    return op, block


def func_body(func: Operation) -> Block:
    return func.regions[0].block


def func_outputs(func: Operation) -> list[Value]:
    term = func_body(func).terminator
    assert term is not None
    return list(term.operands)


def constant_value(v: Value) -> np.ndarray | None:
    """The array of a value defined by ``tir.constant``, else None."""
    op = v.owner
    if op is not None and op.opdef is CONSTANT:
        return op.attributes["value"]
    return None
