"""BLAS ops: ``gemm``, ``gemv`` and ``ger``, produced by the ``blas`` and ``specialize`` rewrites.

- ``gemm(c, alpha, a, b, beta) = beta*c + alpha * op(a) @ op(b)``, ``op`` transposing when
  ``trans_a`` / ``trans_b`` is set (BLAS reads the transposed operand in place);
- ``gemv(y, alpha, a, x, beta) = beta*y + alpha * op(a) @ x``;
- ``ger(a, alpha, x, y) = a + alpha * outer(x, y)``.

``alpha`` and ``beta`` are rank-0 operands (a learning rate is a variable), all operands share
one float dtype. The accumulated operand (``c``, ``y``, ``a``) may broadcast into the result
(a bias row, or a zero scalar when there is nothing to add); with ``beta == 0`` it is not read,
as in BLAS. ``inplace`` (set by the ``memory`` pass) names the operand whose buffer the result
may reuse, or is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import IRError, OpDef, cast_result
from tensorir.dialects.types import FLOAT_DTYPES, Dim, TensorType, broadcast_shapes


def _common_dtype(name: str, types: Sequence[TensorType]) -> str:
    dtype = types[0].dtype
    if dtype not in FLOAT_DTYPES or any(t.dtype != dtype for t in types):
        raise IRError(f"{name}: operands must share one float dtype, got {', '.join(map(str, types))}")
    return dtype


def _scalar(name: str, what: str, t: TensorType) -> None:
    if t.ndim != 0:
        raise IRError(f"{name}: {what} must be a scalar, got {t}")


def _agree(name: str, a: Dim, b: Dim) -> None:
    if a is not None and b is not None and a != b:
        raise IRError(f"{name}: inner dimensions {a} and {b} differ")


def _accumulated(name: str, acc: TensorType, shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """The result shape: ``shape`` refined by the accumulated operand, which must broadcast into it."""
    if acc.ndim > len(shape):
        raise IRError(f"{name}: accumulated operand {acc} has a higher rank than the result {len(shape)}")
    try:
        return broadcast_shapes(acc.shape, shape, what=f"{name} operands")
    except ValueError as exc:
        raise IRError(str(exc)) from None


def _sum_to(b: Builder, g: Value, like: Value) -> Value:
    if like.type.shape == g.type.shape and like.type.is_static:
        return g
    return b.op("tir.sum_to", g, like)


def _total(b: Builder, v: Value) -> Value:
    return b.op("tir.sum", v, axis=None, keepdims=False)


class Gemm(OpDef):
    """``gemm(c, alpha, a, b, beta) = beta*c + alpha * op(a) @ op(b)``.

    vjp with ``A = op(a)``, ``B = op(b)``: ``dc = sum_to(beta*g, c)``, ``dalpha = sum(g * A@B)``,
    ``dbeta = sum(g * c)``, ``dA = alpha * g @ B^T``, ``dB = alpha * A^T @ g`` (transposed back
    when the operand is stored transposed), each itself a ``gemm``.
    """

    name = "tir.gemm"
    arity = 5
    fusion = "opaque"
    attributes = {"trans_a": False, "trans_b": False, "inplace": None}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        c, alpha, a, b, beta = types
        dtype = _common_dtype(self.name, types)
        _scalar(self.name, "alpha", alpha)
        _scalar(self.name, "beta", beta)
        if a.ndim != 2 or b.ndim != 2:
            raise IRError(f"{self.name}: a and b must be matrices, got {a} and {b}")
        m, k1 = reversed(a.shape) if attrs["trans_a"] else a.shape
        k2, n = reversed(b.shape) if attrs["trans_b"] else b.shape
        _agree(self.name, k1, k2)
        return [TensorType(dtype, _accumulated(self.name, c, (m, n)))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        c, alpha, a, b, beta = inputs
        a = a.T if attrs["trans_a"] else a
        b = b.T if attrs["trans_b"] else b
        out = alpha * np.dot(a, b)
        if beta != 0:
            out = out + beta * c
        return [cast_result(np.array(np.broadcast_to(out, np.broadcast_shapes(out.shape, np.shape(c)))), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None] * 5
        c, alpha, a, bm, beta = op.operands
        ta, tb = op.attributes["trans_a"], op.attributes["trans_b"]
        zero = b.constant(np.zeros((), dtype=g.type.dtype))
        one = b.constant(np.ones((), dtype=g.type.dtype))
        dc = _sum_to(b, b.op("tir.mul", g, beta), c)
        product = b.op(self, zero, one, a, bm, zero, trans_a=ta, trans_b=tb)
        dalpha = _total(b, b.op("tir.mul", g, product))
        dbeta = _total(b, b.op("tir.mul", g, c))
        if ta:
            da = b.op(self, zero, alpha, bm, g, zero, trans_a=tb, trans_b=True)
        else:
            da = b.op(self, zero, alpha, g, bm, zero, trans_a=False, trans_b=not tb)
        if tb:
            db = b.op(self, zero, alpha, g, a, zero, trans_a=True, trans_b=ta)
        else:
            db = b.op(self, zero, alpha, a, g, zero, trans_a=not ta, trans_b=False)
        return [dc, dalpha, da, db, dbeta]


class Gemv(OpDef):
    """``gemv(y, alpha, a, x, beta) = beta*y + alpha * op(a) @ x``.

    vjp with ``M = op(a)``: ``dy = sum_to(beta*g, y)``, ``dalpha = sum(g * M@x)``,
    ``dbeta = sum(g * y)``, ``dM = alpha * outer(g, x)`` (a ``ger``), ``dx = alpha * M^T @ g``.
    """

    name = "tir.gemv"
    arity = 5
    fusion = "opaque"
    attributes = {"trans": False, "inplace": None}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        y, alpha, a, x, beta = types
        dtype = _common_dtype(self.name, types)
        _scalar(self.name, "alpha", alpha)
        _scalar(self.name, "beta", beta)
        if a.ndim != 2 or x.ndim != 1:
            raise IRError(f"{self.name}: needs a matrix and a vector, got {a} and {x}")
        m, k = reversed(a.shape) if attrs["trans"] else a.shape
        _agree(self.name, k, x.shape[0])
        return [TensorType(dtype, _accumulated(self.name, y, (m,)))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        y, alpha, a, x, beta = inputs
        a = a.T if attrs["trans"] else a
        out = alpha * np.dot(a, x)
        if beta != 0:
            out = out + beta * y
        return [cast_result(np.array(np.broadcast_to(out, np.broadcast_shapes(out.shape, np.shape(y)))), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None] * 5
        y, alpha, a, x, beta = op.operands
        trans = op.attributes["trans"]
        zero = b.constant(np.zeros((), dtype=g.type.dtype))
        one = b.constant(np.ones((), dtype=g.type.dtype))
        dy = _sum_to(b, b.op("tir.mul", g, beta), y)
        dalpha = _total(b, b.op("tir.mul", g, b.op(self, zero, one, a, x, zero, trans=trans)))
        dbeta = _total(b, b.op("tir.mul", g, y))
        da = b.op("tir.ger", zero, alpha, x, g) if trans else b.op("tir.ger", zero, alpha, g, x)
        dx = b.op(self, zero, alpha, a, g, zero, trans=not trans)
        return [dy, dalpha, da, dx, dbeta]


class Ger(OpDef):
    """``ger(a, alpha, x, y) = a + alpha * outer(x, y)`` (a rank-1 update).

    vjp: ``da = sum_to(g, a)``, ``dalpha = sum(x * (g @ y))``, ``dx = alpha * g @ y``,
    ``dy = alpha * g^T @ x`` (each a ``gemv``).
    """

    name = "tir.ger"
    arity = 4
    fusion = "opaque"
    attributes = {"inplace": None}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        a, alpha, x, y = types
        dtype = _common_dtype(self.name, types)
        _scalar(self.name, "alpha", alpha)
        if x.ndim != 1 or y.ndim != 1:
            raise IRError(f"{self.name}: x and y must be vectors, got {x} and {y}")
        return [TensorType(dtype, _accumulated(self.name, a, (x.shape[0], y.shape[0])))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        a, alpha, x, y = inputs
        out = a + alpha * np.outer(x, y)
        return [cast_result(out, types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None] * 4
        a, alpha, x, y = op.operands
        zero = b.constant(np.zeros((), dtype=g.type.dtype))
        one = b.constant(np.ones((), dtype=g.type.dtype))
        gy = b.op("tir.gemv", zero, one, g, y, zero)
        dalpha = _total(b, b.op("tir.mul", x, gy))
        dx = b.op("tir.mul", gy, alpha)
        dy = b.op("tir.gemv", zero, alpha, g, x, zero, trans=True)
        return [_sum_to(b, g, a), dalpha, dx, dy]


OPS: list[OpDef] = [Gemm(), Gemv(), Ger()]

__all__ = ["OPS", "Gemm", "Gemv", "Ger"]
