"""Static shapes guessed from shared variables' current values, to choose kernels ahead of a call.

A shared variable may change shape with ``set_value``, so the graph types it with dynamic dims,
as Theano does. Which kernels a step runs can depend on those dims (a skinny product for a
weight matrix of 10 columns, a conv's register-tiled variant for small filters, the short-row
softmax for 10 classes), so without them those kernels compile one by one at the first call.
The values the shared variables hold when the function is compiled are the best guess: the
executor propagates their shapes through the ops' own type inference and asks the steps to
predict their kernels from the guessed types, which then compile with the others in the
executor's one module. Shape vectors (``tir.shape`` of a value whose guessed type is static)
carry their guessed value to the ops whose dims they give: a gradient reshaped back to its
value's shape, a conv's input and filter gradients. A wrong guess only costs a kernel that is
not used: the steps still choose their kernels from the real arrays at each call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorir.dialects.ir import Block, Operation
from tensorir.dialects.types import TensorType, broadcast_shapes

__all__ = ["GuessedOp", "guessed_types"]


def guessed_types(block: Block, hints: Mapping[int, tuple[int, ...]]) -> dict[int, TensorType]:
    """``{id(value): type}`` for the values of ``block`` whose dims the shapes ``hints`` (by
    argument index) make static; values whose types the hints do not change are left out."""
    guessed: dict[int, TensorType] = {}
    for index, shape in hints.items():
        arg = block.arguments[index]
        refined = _refined(arg.type, TensorType(arg.type.dtype, shape))
        if refined is not None:
            guessed[id(arg)] = refined
    if not guessed:
        return guessed
    #: id(shape vector) -> its guessed value: ``tir.shape`` of a value whose guessed type is static.
    shapes: dict[int, tuple[int, ...]] = {}
    for op in block.operations:
        fused = op.name == "tir.fused" and op.attributes.get("reduce") is None
        if (op.regions and not fused) or not any(id(v) in guessed or id(v) in shapes for v in op.operands):
            continue
        if op.name == "tir.shape":
            t = guessed.get(id(op.operands[0]), op.operands[0].type)
            if t.is_static:
                shapes[id(op.results[0])] = tuple(t.shape)
            continue
        types = [guessed.get(id(v), v.type) for v in op.operands]
        try:
            if fused:  # elementwise: its results have the operands' broadcast shape
                shape = broadcast_shapes(*(t.shape for t in types))
                inferred = [TensorType(r.type.dtype, shape) for r in op.results]
            else:
                inferred = _shaped_by_operand(op, guessed, shapes) or op.opdef.infer(types, op.attributes)
        except Exception:  # noqa: BLE001 - a guess the op rejects: keep its declared types
            continue
        if len(inferred) != len(op.results):
            continue
        for result, t in zip(op.results, inferred):
            refined = _refined(result.type, t)
            if refined is not None:
                guessed[id(result)] = refined
    return guessed


#: Ops whose result shape is the value of a shape operand (its index): a conv's gradients.
_SHAPE_OPERAND = {"tir.conv2d_grad_input": 2, "tir.conv2d_grad_filters": 2}


def _shaped_by_operand(op: Operation, guessed: Mapping[int, TensorType],
                       shapes: Mapping[int, tuple[int, ...]]) -> list[TensorType] | None:
    """The result type of an op whose run-time dims come from a shape vector with a guessed
    value (a gradient reshaped back to its value's shape, a conv's input or filter gradient);
    None for the others (type inference decides)."""
    result = op.results[0].type
    if op.name in _SHAPE_OPERAND:
        value = shapes.get(id(op.operands[_SHAPE_OPERAND[op.name]]))
        return None if value is None else [TensorType(result.dtype, value)]
    if op.name == "tir.reshape" and len(op.operands) == 2 and id(op.operands[1]) in shapes:
        value, newshape = shapes[id(op.operands[1])], op.attributes["newshape"]
        if len(value) != len(newshape):
            return None
        dims = [value[i] if d == -2 else d for i, d in enumerate(newshape)]
        if -1 in dims:
            source = guessed.get(id(op.operands[0]), op.operands[0].type)
            known = int(np.prod([d for d in dims if d != -1]))
            if not source.is_static or not known:
                return None
            dims[dims.index(-1)] = int(np.prod(source.shape)) // known
        return [TensorType(result.dtype, tuple(dims))]
    return None


def _refined(declared: TensorType, guess: TensorType) -> TensorType | None:
    """``declared`` with its dynamic dims taken from ``guess``; None when that changes nothing
    or the two disagree (dtype, rank or a static dim)."""
    if guess.dtype != declared.dtype or guess.ndim != declared.ndim:
        return None
    if any(d is not None and g is not None and d != g for d, g in zip(declared.shape, guess.shape)):
        return None
    shape = tuple(g if d is None else d for d, g in zip(declared.shape, guess.shape))
    return None if shape == declared.shape else TensorType(declared.dtype, shape)


class _GuessedValue:
    """A value seen with its guessed type (everything else is the value's own)."""

    __slots__ = ("_value", "type")

    def __init__(self, value: Any, type_: TensorType) -> None:
        self._value = value
        self.type = type_

    def __getattr__(self, name: str) -> Any:
        return getattr(self._value, name)


class GuessedOp:
    """An operation seen with the guessed types of its operands and results, for a step's
    ``predicted_kernels`` (everything else is the operation's own)."""

    def __init__(self, op: Operation, guessed: Mapping[int, TensorType]) -> None:
        self._op = op
        self.operands = [_seen(v, guessed) for v in op.operands]
        self.results = [_seen(v, guessed) for v in op.results]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._op, name)


def _seen(value: Any, guessed: Mapping[int, TensorType]) -> Any:
    t = guessed.get(id(value))
    return value if t is None else _GuessedValue(value, t)
