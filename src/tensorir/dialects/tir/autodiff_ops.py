"""Ops about differentiation: gradient stops and scalings, and ``tir.grad`` (expanded by ``autodiff``).

``zero_grad``, ``disconnected_grad``, ``grad_clip`` and ``grad_scale`` are the identity forward and
change only what flows backward. ``tir.grad(cost, wrt...)`` stands for the gradients of ``cost``
with respect to each ``wrt`` until the ``autodiff`` pass replaces it by the vjp graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tensorir.dialects.opdef import IRError, OpDef
from tensorir.dialects.tir.expr import Ex
from tensorir.dialects.types import TensorType


class GradientStop(OpDef):
    """Identity forward; backward the cotangent is dropped (zero) or changed."""

    arity = 1
    fusion = "elementwise"

    def __init__(self, name: str, mode: str, attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(name)
        self.mode = mode
        self.attributes = dict(attributes or {})

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return [types[0]]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [inputs[0]]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None or self.mode in ("zero", "disconnected"):
            return [None]
        gx = Ex(b, g)
        if self.mode == "clip":
            lo = op.attributes["lower"]
            hi = op.attributes["upper"]
            return [gx.op("tir.clip", lo, hi).v]
        return [(gx * op.attributes["multiplier"]).v]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        # Forward mode sees the identity function.
        return [tangents[0]]


class GradOp(OpDef):
    """``tir.grad(cost, wrt_0, ..., wrt_n)``: one result per ``wrt``, of its type."""

    name = "tir.grad"
    differentiable = False

    def check_arity(self, n: int) -> None:
        if n < 2:
            raise IRError("tir.grad takes a cost and at least one variable to differentiate with respect to")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        cost, *wrt = types
        if cost.ndim != 0:
            raise IRError(f"tir.grad: the cost must be a scalar, got {cost}")
        return list(wrt)


OPS: list[OpDef] = [
    GradientStop("tir.zero_grad", "zero"),
    GradientStop("tir.disconnected_grad", "disconnected"),
    GradientStop("tir.grad_clip", "clip", {"lower": -1.0, "upper": 1.0}),
    GradientStop("tir.grad_scale", "scale", {"multiplier": 1.0}),
    GradOp(),
]
