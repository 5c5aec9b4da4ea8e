"""Transfer ops: a value moving between host memory and a GPU's memory.

``tir.to_device(x)`` is ``x`` in the GPU's memory, ``tir.to_host(x)`` is ``x`` in host memory.
Values are unchanged: the NumPy reference is a copy (the moved value is a new buffer on the
other side), the vjp of a transfer is the opposite transfer of the cotangent, the jvp the same
transfer of the tangent. They are inserted by a rewrite where values cross between ops that run
on the GPU and ops that run on the host (``passes/device_transfer.py``), so ``debugprint`` of a
``device=cuda`` function shows every crossing; they are never built by users.

The rewrite runs after every other rewrite of the pipeline, so no rewrite folds a transfer away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.opdef import OpDef
from tensorir.dialects.types import TensorType

__all__ = ["OPS", "TO_DEVICE", "TO_HOST", "TransferOp"]


class TransferOp(OpDef):
    """``tir.to_device(x)`` / ``tir.to_host(x)``: ``x`` on the other side, of ``x``'s type."""

    arity = 1
    fusion = "opaque"
    #: the opposite transfer's name (its vjp).
    opposite: str = ""

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return [types[0]]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [np.array(inputs[0], copy=True)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        (g,) = grads
        if g is None:
            return [None]
        from tensorir.dialects.registry import OPS as REGISTRY

        return [b.create(REGISTRY[self.opposite], [g], {}).results[0]]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        (t,) = tangents
        return [None if t is None else b.create(self, [t], {}).results[0]]


TO_DEVICE = TransferOp("tir.to_device", opposite="tir.to_host", doc="the value in the GPU's memory")
TO_HOST = TransferOp("tir.to_host", opposite="tir.to_device", doc="the value in host memory")

OPS: list[OpDef] = [TO_DEVICE, TO_HOST]
