"""Linear algebra ops: ``dot``, ``tensordot``, ``batched_dot``, ``batched_tensordot``, ``matmul``.

All are bilinear contractions, so they share one rule for each mode of differentiation:

- jvp: ``d(x . y) = dx . y + x . dy`` (the same op applied to each tangent),
- vjp: the cotangent of an operand is the contraction of the result's cotangent with the other
  operand over that operand's free axes, transposed back to the operand's axis order. No
  Jacobian is ever formed; one contraction per operand, as in the forward pass.

dtype promotion is NumPy's (``np.result_type``); integer and boolean contractions are allowed and
have no gradient. The BLAS ops (gemm, gemv, ger) live in ``blas``; rewrites turn these into them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.tir.elementwise import needs_unbroadcast
from tensorir.dialects.types import FLOAT_DTYPES, Dim, TensorType, broadcast_shapes, shape_str, upcast

Axes = tuple[tuple[int, ...], tuple[int, ...]]


# -- shared helpers --------------------------------------------------------------------------------
def _same_dim(a: Dim, b: Dim, what: str) -> Dim:
    """Two dims that must be equal at run time; the static one wins, two static ones must agree."""
    if a is not None and b is not None and a != b:
        raise IRError(f"{what}: {a} != {b}")
    return a if a is not None else b


def _free_axes(ndim: int, contracted: Sequence[int]) -> list[int]:
    return [i for i in range(ndim) if i not in contracted]


def _check_axes(name: str, x: TensorType, y: TensorType, axes: Axes, first: int) -> None:
    """Validate contraction axes (non-negative, distinct, in range, pairwise equal dims)."""
    xa, ya = axes
    if len(xa) != len(ya):
        raise IRError(f"{name}: axes {xa} and {ya} must have the same length")
    for side, t, ax in (("first", x, xa), ("second", y, ya)):
        if len(set(ax)) != len(ax) or any(not first <= a < t.ndim for a in ax):
            raise IRError(
                f"{name}: invalid axes {ax} for the {side} operand of type {t}"
                + (" (axis 0 is the batch axis)" if first else "")
            )
    for i, j in zip(xa, ya):
        _same_dim(x.shape[i], y.shape[j], f"{name}: contracted dims differ ({x} axis {i}, {y} axis {j})")


def normalize_axes_pair(axes: Any) -> Axes:
    """``((x axes...), (y axes...))`` as a pair of int tuples."""
    try:
        xa, ya = axes
        return tuple(int(a) for a in xa), tuple(int(a) for a in ya)
    except (TypeError, ValueError):
        raise IRError(f"axes must be a pair of int sequences, got {axes!r}") from None


def _grad_dtype_ok(v: Value) -> bool:
    return v.type.dtype in FLOAT_DTYPES


def _cast_to(b: Builder, v: Value, dtype: str) -> Value:
    return v if v.type.dtype == dtype else b.op("tir.cast", v, dtype=dtype)


def _transpose(b: Builder, v: Value, pattern: Sequence[int]) -> Value:
    pattern = tuple(pattern)
    if pattern == tuple(range(v.type.ndim)):
        return v
    return b.op("tir.dimshuffle", v, pattern=pattern)


def _back_to_order(b: Builder, v: Value, order: Sequence[int]) -> Value:
    """``v``'s axis p holds the operand's axis ``order[p]``; transpose to the operand's order."""
    return _transpose(b, v, [list(order).index(i) for i in range(len(order))])


def contract(b: Builder, x: Value, y: Value, xa: Sequence[int], ya: Sequence[int]) -> Value:
    """``tensordot(x, y, (xa, ya))`` (result: x's free axes then y's), as ``tir.dot`` where it can be.

    Matrix and vector contractions become ``dot`` of (transposed) operands, products with a scalar
    become ``mul``, and everything else a ``tensordot``, so rewrites to BLAS see the usual forms.
    """
    xa, ya = tuple(xa), tuple(ya)
    nx, ny = x.type.ndim, y.type.ndim
    if not xa and (nx == 0 or ny == 0):
        return b.op("tir.mul", x, y)
    if not xa and nx == 1 and ny == 1:
        return b.op("tir.dot", _transpose(b, x, (0, -1)), _transpose(b, y, (-1, 0)))
    if len(xa) == 1 and nx <= 2 and ny <= 2:
        if nx == 2 and xa == (0,):
            x = _transpose(b, x, (1, 0))
        if ny == 2 and ya == (1,):
            y = _transpose(b, y, (1, 0))
        return b.op("tir.dot", x, y)
    return b.op("tir.tensordot", x, y, axes=(xa, ya))


def batched_contract(b: Builder, x: Value, y: Value, xa: Sequence[int], ya: Sequence[int]) -> Value:
    """``batched_tensordot(x, y, (xa, ya))`` (axis 0 the batch), as ``tir.batched_dot`` where it can be."""
    xa, ya = tuple(xa), tuple(ya)
    nx, ny = x.type.ndim, y.type.ndim
    if len(xa) == 1 and nx == 3 and ny == 3:
        # Stacks of matrices: transpose so that it is x's last axis against y's middle one.
        if xa == (1,):
            x, xa = _transpose(b, x, (0, 2, 1)), (2,)
        if ya == (2,):
            y, ya = _transpose(b, y, (0, 2, 1)), (1,)
    if xa == (nx - 1,) and nx >= 2 and ny >= 2 and ya == (max(1, ny - 2),):
        return b.op("tir.batched_dot", x, y)
    return b.op("tir.batched_tensordot", x, y, axes=(xa, ya))


def contraction_vjp(
    b: Builder, op: Operation, g: Value | None, xa: Sequence[int], ya: Sequence[int], batched: bool
) -> list[Value | None]:
    """Cotangents of both operands of a (batched) tensordot with contraction axes ``xa``/``ya``.

    With ``out = x_free + y_free`` (after the batch axis when batched):
    ``dx = tensordot(g, y, (g's y_free positions, y_free))`` has axes ``x_free + xa[ya order]``;
    ``dy = tensordot(x, g, (x_free, g's x_free positions))`` has axes ``ya[xa order] + y_free``.
    Each is transposed back to its operand's axis order.
    """
    x, y = op.operands
    if g is None:
        return [None, None]
    lead = 1 if batched else 0
    xf = _free_axes(x.type.ndim, xa)[lead:]
    yf = _free_axes(y.type.ndim, ya)[lead:]
    fn = batched_contract if batched else contract
    out: list[Value | None] = [None, None]
    if _grad_dtype_ok(x):
        gpos = [lead + len(xf) + k for k in range(len(yf))]
        dx = fn(b, g, y, gpos, yf)
        order = [0] * lead + xf + [xa[list(ya).index(j)] for j in sorted(ya)]
        out[0] = _cast_to(b, _back_to_order(b, dx, order), x.type.dtype)
    if _grad_dtype_ok(y):
        gpos = [lead + k for k in range(len(xf))]
        dy = fn(b, x, g, xf, gpos)
        order = [0] * lead + [ya[list(xa).index(i)] for i in sorted(xa)] + yf
        out[1] = _cast_to(b, _back_to_order(b, dy, order), y.type.dtype)
    return out


def bilinear_jvp(b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
    """``d(x . y) = dx . y + x . dy``: the op itself applied to each tangent."""
    x, y = op.operands
    out_type = op.results[0].type
    terms: list[Value] = []
    tx, ty = tangents
    if tx is not None and _grad_dtype_ok(x):
        terms.append(b.op(op.opdef, tx, y, **op.attributes))
    if ty is not None and _grad_dtype_ok(y):
        terms.append(b.op(op.opdef, x, ty, **op.attributes))
    if not terms:
        return [None]
    total = terms[0] if len(terms) == 1 else b.op("tir.add", terms[0], terms[1])
    return [_cast_to(b, total, out_type.dtype)]


class Contraction(OpDef):
    """Family base: two operands, NumPy dtype promotion, bilinear jvp."""

    arity = 2
    fusion = "opaque"

    def result_dtype(self, x: TensorType, y: TensorType) -> str:
        return upcast(x.dtype, y.dtype)

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        return bilinear_jvp(b, op, tangents)


# -- dot -------------------------------------------------------------------------------------------
def dot_axes(nx: int, ny: int) -> Axes:
    """The contraction of ``np.dot``: x's last axis with y's second-to-last (its only for a vector)."""
    return (nx - 1,), (max(ny - 2, 0),)


class Dot(Contraction):
    """``dot(x, y)`` with ``np.dot``'s semantics for every rank (Theano's ``T.dot``).

    vector . vector -> scalar, matrix . vector -> vector, vector . matrix -> vector, matrix .
    matrix -> matrix; N-d . M-d contracts x's last axis with y's second-to-last; a scalar operand
    multiplies elementwise.
    """

    name = "tir.dot"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, y = types
        dtype = self.result_dtype(x, y)
        if x.ndim == 0 or y.ndim == 0:
            return [TensorType(dtype, y.shape if x.ndim == 0 else x.shape)]
        xa, ya = dot_axes(x.ndim, y.ndim)
        what = f"tir.dot: shapes {shape_str(x.shape)} and {shape_str(y.shape)} not aligned"
        _same_dim(x.shape[xa[0]], y.shape[ya[0]], what)
        return [TensorType(dtype, x.shape[:-1] + tuple(y.shape[i] for i in _free_axes(y.ndim, ya)))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, y = inputs
        return [cast_result(np.dot(x, y), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        x, y = op.operands
        if x.type.ndim == 0 or y.type.ndim == 0:
            g = grads[0]
            if g is None:
                return [None, None]
            out: list[Value | None] = []
            for v, other in ((x, y), (y, x)):
                if not _grad_dtype_ok(v):
                    out.append(None)
                    continue
                d = b.op("tir.mul", g, other)
                if v.type.ndim == 0 and other.type.ndim != 0:
                    d = b.op("tir.sum", d, axis=None, keepdims=False)
                out.append(_cast_to(b, d, v.type.dtype))
            return out
        xa, ya = dot_axes(x.type.ndim, y.type.ndim)
        return contraction_vjp(b, op, grads[0], xa, ya, batched=False)


# -- tensordot -------------------------------------------------------------------------------------
class Tensordot(Contraction):
    """``tensordot(x, y, axes=(xa, ya))``: contract x's axes ``xa`` with y's ``ya`` pairwise.

    The result has x's free axes then y's free axes, each in their original order (``np.tensordot``).
    """

    name = "tir.tensordot"
    attributes = {"axes": REQUIRED}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["axes"] = normalize_axes_pair(out["axes"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, y = types
        xa, ya = attrs["axes"]
        _check_axes(self.name, x, y, (xa, ya), 0)
        shape = [x.shape[i] for i in _free_axes(x.ndim, xa)] + [y.shape[j] for j in _free_axes(y.ndim, ya)]
        return [TensorType(self.result_dtype(x, y), shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, y = inputs
        xa, ya = attrs["axes"]
        return [cast_result(np.tensordot(x, y, axes=(list(xa), list(ya))), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        xa, ya = op.attributes["axes"]
        return contraction_vjp(b, op, grads[0], xa, ya, batched=False)


# -- batched contractions --------------------------------------------------------------------------
def _letters(n: int, start: int) -> list[str]:
    return [chr(ord("a") + start + k) for k in range(n)]


def batched_tensordot_numpy(x: np.ndarray, y: np.ndarray, xa: Sequence[int], ya: Sequence[int]) -> np.ndarray:
    """Per batch (axis 0 of both), ``np.tensordot(x[i], y[i], (xa - 1, ya - 1))``, by einsum."""
    xs = _letters(x.ndim, 0)
    ys = _letters(y.ndim, x.ndim)
    ys[0] = xs[0]
    for i, j in zip(xa, ya):
        ys[j] = xs[i]
    out = [xs[0]] + [xs[i] for i in _free_axes(x.ndim, xa)[1:]] + [ys[j] for j in _free_axes(y.ndim, ya)[1:]]
    dtype = np.result_type(x, y)
    spec = f"{''.join(xs)},{''.join(ys)}->{''.join(out)}"
    return np.einsum(spec, x.astype(dtype, copy=False), y.astype(dtype, copy=False))


def _batch_dim(name: str, x: TensorType, y: TensorType) -> Dim:
    if x.ndim < 1 or y.ndim < 1:
        raise IRError(f"{name}: operands need a batch axis, got {x} and {y}")
    return _same_dim(x.shape[0], y.shape[0], f"{name}: batch sizes differ ({x} vs {y})")


class BatchedTensordot(Contraction):
    """``batched_tensordot(x, y, axes=(xa, ya))``: a tensordot per entry of the shared axis 0.

    ``xa``/``ya`` name non-batch axes (>= 1). Result: batch, x's free axes, y's free axes.
    """

    name = "tir.batched_tensordot"
    attributes = {"axes": REQUIRED}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["axes"] = normalize_axes_pair(out["axes"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, y = types
        batch = _batch_dim(self.name, x, y)
        xa, ya = attrs["axes"]
        _check_axes(self.name, x, y, (xa, ya), 1)
        shape = (
            [batch]
            + [x.shape[i] for i in _free_axes(x.ndim, xa)[1:]]
            + [y.shape[j] for j in _free_axes(y.ndim, ya)[1:]]
        )
        return [TensorType(self.result_dtype(x, y), shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, y = inputs
        _check_batch(x, y)
        xa, ya = attrs["axes"]
        return [cast_result(batched_tensordot_numpy(x, y, xa, ya), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        xa, ya = op.attributes["axes"]
        return contraction_vjp(b, op, grads[0], xa, ya, batched=True)


def _check_batch(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"batch sizes differ: {x.shape} and {y.shape}")


def batched_dot_axes(nx: int, ny: int) -> Axes:
    """Per batch entry, ``np.dot``'s contraction: x's last axis with y's second-to-last (or only)."""
    return (nx - 1,), (max(1, ny - 2),)


class BatchedDot(Contraction):
    """``batched_dot(x, y)``: ``np.dot(x[i], y[i])`` for each i of the shared axis 0 (ranks >= 2).

    The usual case is (B, n, k) . (B, k, m) -> (B, n, m); (B, k) . (B, k) -> (B,) is a per-row
    inner product.
    """

    name = "tir.batched_dot"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, y = types
        if x.ndim < 2 or y.ndim < 2:
            raise IRError(f"tir.batched_dot needs operands of rank >= 2, got {x} and {y}")
        return BATCHED_TENSORDOT.infer(types, {"axes": batched_dot_axes(x.ndim, y.ndim)})

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, y = inputs
        _check_batch(x, y)
        if x.ndim == 3 and y.ndim == 3:
            return [cast_result(_matmul_numpy(x, y), types[0])]
        xa, ya = batched_dot_axes(x.ndim, y.ndim)
        return [cast_result(batched_tensordot_numpy(x, y, xa, ya), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        xa, ya = batched_dot_axes(op.operands[0].type.ndim, op.operands[1].type.ndim)
        return contraction_vjp(b, op, grads[0], xa, ya, batched=True)


# -- matmul ----------------------------------------------------------------------------------------
class Matmul(Contraction):
    """``x @ y`` with NumPy's semantics: stacks of matrices with broadcast batch axes.

    A 1-D operand is a matrix with a new axis (a row on the left, a column on the right) that is
    removed from the result. Scalars are not allowed (use ``mul``).
    """

    name = "tir.matmul"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, y = types
        if x.ndim == 0 or y.ndim == 0:
            raise IRError(f"tir.matmul: operands must not be scalars, got {x} and {y} (use tir.mul)")
        x2 = x.shape if x.ndim >= 2 else (1,) + x.shape
        y2 = y.shape if y.ndim >= 2 else y.shape + (1,)
        what = f"tir.matmul: shapes {shape_str(x.shape)} and {shape_str(y.shape)} not aligned"
        _same_dim(x2[-1], y2[-2], what)
        try:
            batch = broadcast_shapes(x2[:-2], y2[:-2], what="tir.matmul batch axes")
        except ValueError as exc:
            raise IRError(str(exc)) from None
        shape = batch + ((x2[-2],) if x.ndim >= 2 else ()) + ((y2[-1],) if y.ndim >= 2 else ())
        return [TensorType(self.result_dtype(x, y), shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, y = inputs
        return [cast_result(_matmul_numpy(x, y), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        """With x, y promoted to matrices (x1, y1) and g to g1: ``dx1 = g1 @ y1^T``, ``dy1 = x1^T @ g1``.

        Each is summed over the batch axes its operand was broadcast along, and a promoted axis
        is dropped again.
        """
        g = grads[0]
        x, y = op.operands
        if g is None:
            return [None, None]
        x1 = x if x.type.ndim >= 2 else _transpose(b, x, (-1, 0))
        y1 = y if y.type.ndim >= 2 else _transpose(b, y, (0, -1))
        nbatch = g.type.ndim - (x.type.ndim >= 2) - (y.type.ndim >= 2)
        pattern = list(range(nbatch))
        k = nbatch
        for promoted in (x.type.ndim >= 2, y.type.ndim >= 2):
            pattern.append(k if promoted else -1)
            k += promoted
        g1 = _transpose(b, g, pattern)
        out: list[Value | None] = [None, None]
        if _grad_dtype_ok(x):
            dx = _matmul_or_dot(b, g1, _swap_last(b, y1))
            out[0] = _finish_matmul_grad(b, dx, x1, x, y1, keep=x.type.ndim >= 2, pattern=(1,))
        if _grad_dtype_ok(y):
            dy = _matmul_or_dot(b, _swap_last(b, x1), g1)
            out[1] = _finish_matmul_grad(b, dy, y1, y, x1, keep=y.type.ndim >= 2, pattern=(0,))
        return out


def _matmul_numpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # np.matmul has no bool-with-int loops; compute in the promoted dtype.
    dtype = np.result_type(x, y)
    return np.matmul(x.astype(dtype, copy=False), y.astype(dtype, copy=False))


def _swap_last(b: Builder, v: Value) -> Value:
    n = v.type.ndim
    return _transpose(b, v, list(range(n - 2)) + [n - 1, n - 2])


def _matmul_or_dot(b: Builder, x: Value, y: Value) -> Value:
    if x.type.ndim == 2 and y.type.ndim == 2:
        return b.op("tir.dot", x, y)
    return b.op("tir.matmul", x, y)


def _finish_matmul_grad(
    b: Builder, d: Value, v1: Value, v: Value, other1: Value, keep: bool, pattern: tuple[int, ...]
) -> Value:
    """Sum ``d`` back over broadcast batch axes to ``v1``'s shape, drop a promoted axis, cast."""
    batch_v = TensorType(v1.type.dtype, v1.type.shape[:-2])
    batch_o = TensorType(other1.type.dtype, other1.type.shape[:-2])
    batch_out = TensorType(d.type.dtype, d.type.shape[:-2])
    if needs_unbroadcast([batch_v, batch_o], 0, batch_out) or d.type.ndim != v1.type.ndim:
        d = b.op("tir.sum_to", d, v1)
    if not keep:
        d = _transpose(b, d, pattern)
    return _cast_to(b, d, v.type.dtype)


BATCHED_TENSORDOT = BatchedTensordot()

OPS: list[OpDef] = [Dot(), Tensordot(), BATCHED_TENSORDOT, BatchedDot(), Matmul()]

__all__ = [
    "OPS",
    "batched_contract",
    "batched_dot_axes",
    "batched_tensordot_numpy",
    "contract",
    "contraction_vjp",
    "dot_axes",
    "normalize_axes_pair",
]
