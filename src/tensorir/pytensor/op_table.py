"""PyTensor's tensor ops as tensorir graph pieces: one entry per op class.

An entry takes the node (for the op's parameters and the output types) and its inputs as
tensorir variables (PyTensor scalars are 0-d tensors here) and returns one tensorir variable
per output. Outputs are cast to the node's dtypes by the caller. An entry raises
:class:`NotConvertible` for an instance it cannot express (a symbolic axis, a slice object
input, ...); a class missing from the table is not converted either. Either way the node runs
PyTensor's own implementation (linker.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import tensorir.tensor as T
from tensorir.frontend.ifelse import ifelse
from tensorir.frontend.variable import TensorVariable
from tensorir.pytensor.scalar_table import NotConvertible, convert_scalar_op

__all__ = ["LEFT_TO_PYTENSOR", "OPS", "convert_node", "rule_for"]

OpRule = Callable[[Any, Sequence[TensorVariable]], list[TensorVariable]]


def _constant_int(v: Any, what: str) -> int:
    """The value of a PyTensor constant input, e.g. Join's axis; symbolic ones cannot be converted."""
    data = getattr(v, "data", None)
    if data is None:
        raise NotConvertible(f"{what} is symbolic ({v}); tensorir needs it constant")
    return int(np.asarray(data))


def _elemwise(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return convert_scalar_op(node.op.scalar_op, xs, [o.type.dtype for o in node.outputs])


_REDUCERS: dict[str, Callable[..., TensorVariable]] = {
    "Add": T.sum, "Mul": T.prod, "Maximum": T.max, "Minimum": T.min, "AND": T.all, "OR": T.any,
}


def _careduce(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    op = node.op
    reducer = _REDUCERS.get(type(op.scalar_op).__name__)
    if reducer is None:
        raise NotConvertible(f"reduction by {type(op.scalar_op).__name__} has no tensorir reduction")
    x = xs[0]
    acc = getattr(op, "acc_dtype", None) or node.outputs[0].type.dtype
    if reducer in (T.sum, T.prod) and x.dtype != acc:
        x = T.cast(x, acc)  # PyTensor accumulates in acc_dtype (e.g. int8 sums in int64)
    axis = None if op.axis is None else tuple(op.axis)
    if axis == ():
        return [x]
    return [reducer(x, axis=axis)]


def _argmax(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    axis = node.op.axis
    if axis is not None and len(axis) != 1:
        if len(axis) != xs[0].ndim:
            raise NotConvertible(f"argmax over axes {axis}")
        axis = None
    return [T.argmax(xs[0], axis=None if axis is None else axis[0])]


def _dimshuffle(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [T.dimshuffle(xs[0], list(node.op.new_order))]


def _dot(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [T.dot(xs[0], xs[1])]


def _blockwise(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    core = type(node.op.core_op).__name__
    if core in ("Dot", "Dot22", "_Matmul", "Matmul"):
        return [T.matmul(xs[0], xs[1])]
    raise NotConvertible(f"Blockwise of {core} has no tensorir rule")


def _indices(node: Any, xs: Sequence[TensorVariable], first: int) -> tuple[Any, ...]:
    """The index tuple of a (Inc)Subtensor node, its scalar inputs replaced by tensorir values."""
    from pytensor.scalar import ScalarType

    inputs = iter(xs[first:])
    out: list[Any] = []

    def one(entry: Any) -> Any:
        if entry is None:
            return None
        if isinstance(entry, ScalarType) or hasattr(entry, "dtype"):
            return next(inputs)
        raise NotConvertible(f"index entry {entry!r}")

    for entry in node.op.idx_list:
        if isinstance(entry, slice):
            out.append(slice(one(entry.start), one(entry.stop), one(entry.step)))
        else:
            out.append(one(entry))
    return tuple(out)


def _subtensor(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [xs[0][_indices(node, xs, 1)]]


def _inc_subtensor(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    view = xs[0][_indices(node, xs, 2)]
    fn = T.set_subtensor if node.op.set_instead_of_inc else T.inc_subtensor
    return [fn(view, xs[1])]


def _advanced_subtensor1(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [xs[0][xs[1]]]


def _advanced_inc_subtensor1(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    fn = T.set_subtensor if node.op.set_instead_of_inc else T.inc_subtensor
    return [fn(xs[0][xs[2]], xs[1])]


def _tensor_indices(node: Any, inputs: Sequence[Any]) -> None:
    """Advanced indexing converts when every index is a tensor (no slice or None objects)."""
    from pytensor.tensor.type import TensorType as PyTensorType

    for v in inputs:
        if not isinstance(v.type, PyTensorType):
            raise NotConvertible(f"advanced index of type {v.type} (slices and newaxis mixed with arrays)")


def _advanced_subtensor(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    _tensor_indices(node, node.inputs[1:])
    return [xs[0][tuple(xs[1:])]]


def _advanced_inc_subtensor(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    _tensor_indices(node, node.inputs[2:])
    if getattr(node.op, "ignore_duplicates", False) and not node.op.set_instead_of_inc:
        raise NotConvertible("inc_subtensor with ignore_duplicates=True")
    fn = T.set_subtensor if node.op.set_instead_of_inc else T.inc_subtensor
    return [fn(xs[0][tuple(xs[2:])], xs[1])]


def _alloc(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [T.alloc(xs[0], *xs[1:])]


def _alloc_empty(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    # Uninitialized memory in PyTensor: zeros are one of its allowed contents.
    return [T.alloc(T.constant(np.zeros((), dtype=node.outputs[0].type.dtype)), *xs)]


def _join(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    axis = _constant_int(node.inputs[0], "Join's axis")
    return [T.join(axis, *xs[1:])]


def _make_vector(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    dtype = node.outputs[0].type.dtype
    if not xs:
        return [T.constant(np.zeros(0, dtype=dtype))]
    return [T.stack([x if x.dtype == dtype else T.cast(x, dtype) for x in xs])]


def _shape(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [xs[0].shape]


def _shape_i(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [xs[0].shape[node.op.i]]


def _identity_first(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [xs[0]]


def _reshape(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [T.reshape(xs[0], xs[1], ndim=node.op.ndim)]


def _arange(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    return [T.arange(xs[0], xs[1], xs[2], dtype=node.outputs[0].type.dtype)]


def _softmax(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    if node.op.axis is None:
        raise NotConvertible("softmax over all axes (axis=None)")
    fn = T.nnet.log_softmax if type(node.op).__name__ == "LogSoftmax" else T.nnet.softmax
    x = xs[0]
    if x.ndim == 1:  # tensorir (like Theano) reads a vector as one row: make the row explicit
        return [fn(T.dimshuffle(x, ["x", 0]), axis=-1)[0]]
    return [fn(x, axis=node.op.axis)]


def _softmax_grad(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    """d softmax: dx = (dy - sum(dy * sm, axis, keepdims)) * sm."""
    dy, sm = xs
    axis = node.op.axis
    if axis is None:
        raise NotConvertible("softmax gradient over all axes (axis=None)")
    return [(dy - T.sum(dy * sm, axis=axis, keepdims=True)) * sm]


def _ifelse(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    n = node.op.n_outs
    out = ifelse(xs[0], list(xs[1:1 + n]), list(xs[1 + n:]))
    return list(out) if isinstance(out, list | tuple) else [out]


#: PyTensor op class name -> rule (names, as in scalar_table.py).
OPS: dict[str, OpRule] = {
    "Elemwise": _elemwise,
    "CAReduce": _careduce,
    "Sum": _careduce,
    "Prod": _careduce,
    "Max": _careduce,
    "Min": _careduce,
    "All": _careduce,
    "Any": _careduce,
    "Argmax": _argmax,
    "DimShuffle": _dimshuffle,
    "Dot": _dot,
    "Dot22": _dot,
    "Blockwise": _blockwise,
    "Subtensor": _subtensor,
    "IncSubtensor": _inc_subtensor,
    "AdvancedSubtensor1": _advanced_subtensor1,
    "AdvancedIncSubtensor1": _advanced_inc_subtensor1,
    "AdvancedSubtensor": _advanced_subtensor,
    "AdvancedIncSubtensor": _advanced_inc_subtensor,
    "Alloc": _alloc,
    "AllocEmpty": _alloc_empty,
    "Join": _join,
    "MakeVector": _make_vector,
    "Shape": _shape,
    "Shape_i": _shape_i,
    "SpecifyShape": _identity_first,
    "Reshape": _reshape,
    "ARange": _arange,
    "Eye": lambda node, xs: _eye(node, xs),  # defined below, beside the scalar-node rule
    "TensorFromScalar": _identity_first,
    "ScalarFromTensor": _identity_first,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
    "SoftmaxGrad": _softmax_grad,
    "IfElse": _ifelse,
    "DeepCopyOp": _identity_first,
    "OutputGuard": _identity_first,
}

#: Op classes known and left to PyTensor on purpose: class name -> why (the fallback report).
LEFT_TO_PYTENSOR: dict[str, str] = {
    "Scan": "the inner graph of Scan is not converted yet (tensorir.scan could express it)",
    "RandomVariable": "random draws use PyTensor's numpy Generator state",
    "CheckAndRaise": "raising with PyTensor's message needs Python",
    "Assert": "raising with PyTensor's message needs Python",
    "PdbBreakpoint": "a debugger breakpoint runs in Python",
    "Print": "printing runs in Python",
}


def _scalar_node(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    """A node of PyTensor scalars (a ScalarOp applied outside Elemwise): 0-d tensors here."""
    return convert_scalar_op(node.op, xs, [o.type.dtype for o in node.outputs])


def _eye(node: Any, xs: Sequence[TensorVariable]) -> list[TensorVariable]:
    k = _constant_int(node.inputs[2], "Eye's diagonal offset k")
    return [T.eye(xs[0], xs[1], k=k, dtype=node.outputs[0].type.dtype)]


def rule_for(node: Any) -> OpRule:
    """The rule converting ``node``'s op (by class, then by base class), or NotConvertible."""
    name = type(node.op).__name__
    rule = OPS.get(name)
    if rule is None and any(cls.__name__ == "ScalarOp" for cls in type(node.op).__mro__):
        rule = _scalar_node
    if rule is None:
        for cls in type(node.op).__mro__:
            if cls.__name__ in LEFT_TO_PYTENSOR:
                raise NotConvertible(LEFT_TO_PYTENSOR[cls.__name__])
            rule = OPS.get(cls.__name__)
            if rule is not None:
                break
    if rule is None:
        raise NotConvertible(f"op {name} has no tensorir rule (tensorir/pytensor/op_table.py)")
    return rule


def convert_node(node: Any, inputs: Sequence[TensorVariable]) -> list[TensorVariable]:
    """tensorir variables for ``node``'s outputs (cast to their dtypes), or NotConvertible."""
    name = type(node.op).__name__
    rule = rule_for(node)
    outs = rule(node, inputs)
    if len(outs) != len(node.outputs):
        raise NotConvertible(f"{name}: {len(outs)} results for {len(node.outputs)} outputs")
    results = []
    for out, var in zip(outs, node.outputs):
        dtype = var.type.dtype
        out = out if out.dtype == dtype else T.cast(out, dtype)
        if out.ndim != var.type.ndim:
            raise NotConvertible(f"{name}: rank {out.ndim} where PyTensor has {var.type.ndim}")
        results.append(out)
    return results
