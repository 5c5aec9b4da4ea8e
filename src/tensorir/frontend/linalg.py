"""``T.dot``, ``@``, ``tensordot``, ``outer``, ``batched_dot``, ``batched_tensordot`` (Theano's semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorir.frontend.variable import GraphError, TensorVariable, apply_values, elemwise, weak_operands

__all__ = ["batched_dot", "batched_tensordot", "dot", "matmul", "outer", "tensordot"]


def _operands(x: Any, y: Any) -> tuple[TensorVariable, TensorVariable]:
    a, b = weak_operands(x, y)
    return a, b


def dot(x: Any, y: Any) -> TensorVariable:
    """``np.dot`` for every rank: inner product of vectors, matrix products, and for N-d operands
    the contraction of x's last axis with y's second-to-last. A scalar operand multiplies."""
    a, b = _operands(x, y)
    if a.ndim == 0 or b.ndim == 0:
        return elemwise("tir.mul", a, b)
    return apply_values("tir.dot", [a.value, b.value], {})


def matmul(x: Any, y: Any) -> TensorVariable:
    """``x @ y`` (NumPy's ``matmul``): stacks of matrices with broadcast batch axes; no scalars."""
    a, b = _operands(x, y)
    if a.ndim == 0 or b.ndim == 0:
        raise GraphError("matmul: operands must not be scalars (use * to multiply by a scalar)")
    if a.ndim <= 2 and b.ndim <= 2:
        # For vectors and matrices matmul is dot; one op for both keeps the BLAS rewrites simple.
        return apply_values("tir.dot", [a.value, b.value], {})
    return apply_values("tir.matmul", [a.value, b.value], {})


AxesPair = tuple[tuple[int, ...], tuple[int, ...]]


def _axes_pair(axes: Any, nx: int, ny: int, batched: bool, what: str) -> AxesPair:
    """Theano's ``axes``: an int n (x's last n axes with y's first n, after the batch axis when
    batched) or a pair of axis lists (negative axes count from the end)."""
    lead = 1 if batched else 0
    if isinstance(axes, int):
        if axes < 0 or axes + lead > nx or axes + lead > ny:
            raise GraphError(f"{what}: axes={axes} is out of range for operands of ranks {nx} and {ny}")
        return tuple(range(nx - axes, nx)), tuple(range(lead, lead + axes))
    try:
        xa, ya = axes
    except (TypeError, ValueError):
        raise GraphError(f"{what}: axes must be an int or a pair of axis lists, got {axes!r}") from None
    xa = [xa] if isinstance(xa, int) else list(xa)
    ya = [ya] if isinstance(ya, int) else list(ya)
    if len(xa) != len(ya):
        raise GraphError(f"{what}: axes {xa} and {ya} must have the same length")
    for ax, n, side in ((xa, nx, "first"), (ya, ny, "second")):
        for a in ax:
            if not -n <= int(a) < n or (batched and int(a) % n == 0):
                raise GraphError(f"{what}: axis {a} is invalid for the {side} operand (rank {n})")
    return tuple(int(a) % nx for a in xa), tuple(int(a) % ny for a in ya)


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> TensorVariable:
    """Contract ``a`` and ``b`` over ``axes`` (``np.tensordot``): x's free axes, then y's."""
    x, y = _operands(a, b)
    xa, ya = _axes_pair(axes, x.ndim, y.ndim, False, "tensordot")
    return apply_values("tir.tensordot", [x.value, y.value], {"axes": (xa, ya)})


def outer(x: Any, y: Any) -> TensorVariable:
    """Outer product of two vectors (other ranks are flattened first, as in Theano)."""
    a, b = _operands(x, y)
    if a.ndim != 1:
        a = a.flatten()
    if b.ndim != 1:
        b = b.flatten()
    return dot(a.dimshuffle(0, "x"), b.dimshuffle("x", 0))


def batched_dot(a: Any, b: Any) -> TensorVariable:
    """``np.dot(a[i], b[i])`` for every i of the shared first axis (Theano's ``batched_dot``).

    (B, n, k) . (B, k, m) -> (B, n, m); a vector operand scales the other per batch entry.
    """
    x, y = _operands(a, b)
    if x.ndim == 0 or y.ndim == 0:
        raise GraphError("batched_dot: operands need a batch axis, got a scalar")
    if x.ndim == 1:
        return x.dimshuffle(0, *(["x"] * (y.ndim - 1))) * y
    if y.ndim == 1:
        return x * y.dimshuffle(0, *(["x"] * (x.ndim - 1)))
    return apply_values("tir.batched_dot", [x.value, y.value], {})


def batched_tensordot(x: Any, y: Any, axes: int | Sequence[Any] = 2) -> TensorVariable:
    """``tensordot`` per entry of the shared first axis; ``axes`` never names axis 0.

    An int n contracts x's last n axes with y's axes 1..n (Theano's rule).
    """
    a, b = _operands(x, y)
    if a.ndim == 0 or b.ndim == 0:
        raise GraphError("batched_tensordot: operands need a batch axis, got a scalar")
    xa, ya = _axes_pair(axes, a.ndim, b.ndim, True, "batched_tensordot")
    return apply_values("tir.batched_tensordot", [a.value, b.value], {"axes": (xa, ya)})
