"""Moving a function to a GPU: explicit ``tir.to_device`` / ``tir.to_host`` where values cross.

Each op runs either on the GPU (it has a GPU step: the caller's ``runs_on_device``) or on the
host (its NumPy reference). Each value lives where the op that made it ran; the function's
arguments and results live where ``value_on_device`` puts their type (Theano's rule: arrays of
rank >= 1 of float and int dtypes on the GPU, scalars and the rest on the host; the runtime
uploads and downloads at the call's edges). Wherever an op reads a value that lives on the other
side, a transfer is inserted before it, once per value and direction (every reader shares it).

Operands a host op reads only for their shape (``shape_operands``) are not moved: a shape is
known on both sides without copying the data (a GPU op's are: its kernel takes every address;
not those it reads on the host for their shape alone).
Constants are host values; a GPU op reading one reads its ``tir.to_device`` (the runtime
uploads each constant once, at its first call).

Run after every other rewrite of the pipeline (no rewrite then folds a transfer away). The
rewrite is in place and returns the ops that run on the host, for the one-time warning the
caller gives about them.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.tir.transfer import TO_DEVICE, TO_HOST
from tensorir.dialects.types import TensorType

__all__ = ["insert_transfers"]

_TERMINATORS = ("func.return", "tir.yield")


def insert_transfers(func: Operation, runs_on_device: Callable[[Operation], bool],
                     value_on_device: Callable[[TensorType], bool],
                     host_operands: Callable[[Operation], tuple[int, ...]] = lambda op: ()) -> list[Operation]:
    """Insert the transfers of ``func`` (module docstring); returns the ops left on the host
    (constants not counted). ``host_operands(op)``: operands a GPU op reads on the host (a
    product's alpha and beta, read in Python)."""
    block = func.regions[0].block
    on_device: dict[int, bool] = {id(a): value_on_device(a.type) for a in block.arguments}
    moved: dict[tuple[int, bool], Value] = {}
    host_ops: list[Operation] = []

    def placed(value: Value, device: bool, before: Operation) -> Value:
        if on_device.get(id(value), False) == device:
            return value
        key = (id(value), device)
        copy = moved.get(key)
        if copy is None:
            transfer = Operation(TO_DEVICE if device else TO_HOST, [value], [value.type], location=before.location)
            block.insert_before(before, transfer)
            copy = moved[key] = transfer.results[0]
            on_device[id(copy)] = device
        return copy

    for op in list(block.operations):
        if op.name in _TERMINATORS:
            for i, v in enumerate(op.operands):
                op.set_operand(i, placed(v, value_on_device(v.type), op))
            continue
        if op.opdef is CONSTANT:
            device = False
        else:
            device = bool(runs_on_device(op))
            if not device:
                host_ops.append(op)
            # A host op reads a device value's shape without the data; a GPU kernel takes every
            # operand's address, so a GPU op's shape operands are moved like the others, except
            # those its step reads on the host for their shape alone (``sum_to``'s ``like``): no
            # download of a whole array for its shape.
            on_host = set(host_operands(op)) if device else set()
            shape_only = set(op.opdef.shape_operands) & on_host if device else set(op.opdef.shape_operands)
            for i, v in enumerate(op.operands):
                if i not in shape_only:
                    op.set_operand(i, placed(v, device and i not in on_host, op))
        for r in op.results:
            on_device[id(r)] = device
    return host_ops
