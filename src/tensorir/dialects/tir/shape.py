"""Shape ops: dimshuffle, reshape, shape, shape_i (more of the family in ``shape_more``).

Conventions shared by ops that take run-time shapes: a ``static_shape``-like attribute holds
what is known at build time, with -1 for a dim only known at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.types import TensorType

DYNAMIC = -1


class DimShuffle(OpDef):
    """Theano's dimshuffle: ``pattern`` lists input axes in output order, -1 for a new 'x' axis.

    Input axes left out must be statically broadcastable (size 1), as in Theano.
    """

    name = "tir.dimshuffle"
    arity = 1
    fusion = "shape"
    attributes = {"pattern": REQUIRED}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["pattern"] = tuple(int(p) for p in out["pattern"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        (t,) = types
        pattern = attrs["pattern"]
        kept = [p for p in pattern if p != -1]
        if len(set(kept)) != len(kept) or any(not 0 <= p < t.ndim for p in kept):
            raise IRError(f"tir.dimshuffle: invalid pattern {pattern} for a tensor of rank {t.ndim}")
        for axis in range(t.ndim):
            if axis not in kept and t.shape[axis] != 1:
                raise IRError(
                    f"tir.dimshuffle: cannot drop axis {axis} of a tensor of type {t}: only broadcastable "
                    "(size-1) axes may be dropped"
                )
        return [TensorType(t.dtype, tuple(1 if p == -1 else t.shape[p] for p in pattern))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        (x,) = inputs
        pattern = attrs["pattern"]
        kept = [p for p in pattern if p != -1]
        dropped = tuple(a for a in range(x.ndim) if a not in kept)
        y = x.reshape([d for a, d in enumerate(x.shape) if a not in dropped]) if dropped else x
        # After dropping, input axis p is axis rank[p] of y.
        rank = {p: r for r, p in enumerate(sorted(kept))}
        y = np.transpose(y, [rank[p] for p in kept]) if kept else y
        return [np.reshape(y, [1 if p == -1 else x.shape[p] for p in pattern])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None:
            return [None]
        pattern = op.attributes["pattern"]
        inverse = tuple(pattern.index(i) if i in pattern else -1 for i in range(op.operands[0].type.ndim))
        return [b.op(self, g, pattern=inverse)]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, **op.attributes)]


class Reshape(OpDef):
    """``reshape(x[, shape])`` with NumPy semantics.

    ``newshape`` holds the static target: ints >= 0, -1 for the dim inferred from the size, and
    -2 for a dim read at run time from the optional int64 ``shape`` operand.
    """

    name = "tir.reshape"
    fusion = "shape"
    attributes = {"newshape": REQUIRED}

    def check_arity(self, n: int) -> None:
        if n not in (1, 2):
            raise IRError(f"tir.reshape takes 1 or 2 operands, got {n}")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["newshape"] = tuple(int(d) for d in out["newshape"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        t = types[0]
        newshape = attrs["newshape"]
        if sum(1 for d in newshape if d == -1) > 1:
            raise IRError(f"tir.reshape: at most one -1 in the new shape, got {newshape}")
        if any(d < -2 for d in newshape):
            raise IRError(f"tir.reshape: invalid new shape {newshape}")
        if -2 in newshape:
            if len(types) != 2 or types[1].ndim != 1 or types[1].dtype not in ("int64", "int32"):
                raise IRError("tir.reshape: run-time dims (-2) need an int vector shape operand")
            if types[1].shape[0] not in (None, len(newshape)):
                raise IRError(f"tir.reshape: shape operand of length {types[1].shape[0]} for rank {len(newshape)}")
        dims: list[int | None] = [d if d >= 0 else None for d in newshape]
        if -1 in newshape and t.is_static and -2 not in newshape:
            known = int(np.prod([d for d in newshape if d >= 0]))
            total = int(np.prod(t.shape))
            if known == 0 or total % known:
                raise IRError(f"tir.reshape: cannot reshape {t} to {newshape}")
            dims[newshape.index(-1)] = total // known
        if t.is_static and all(d is not None for d in dims) and int(np.prod(t.shape)) != int(np.prod(dims)):
            raise IRError(f"tir.reshape: cannot reshape {t} ({int(np.prod(t.shape))} elements) to {tuple(dims)}")
        return [TensorType(t.dtype, dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x = inputs[0]
        newshape = list(attrs["newshape"])
        if len(inputs) == 2:
            runtime = [int(d) for d in inputs[1]]
            newshape = [runtime[i] if d == -2 else d for i, d in enumerate(newshape)]
        return [cast_result(np.reshape(x, newshape), types[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None:
            return [None] * len(op.operands)
        x = op.operands[0]
        return [reshape_like(b, g, x)] + [None] * (len(op.operands) - 1)

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        if t is None:
            return [None]
        return [b.op(self, t, *op.operands[1:], **op.attributes)]


def reshape_like(b, value, like):  # noqa: ANN001, ANN201
    """``value`` reshaped to ``like``'s shape (static when known, else read at run time)."""
    shape = like.type.shape
    if all(d is not None for d in shape):
        return b.op("tir.reshape", value, newshape=tuple(shape))
    dyn = b.op("tir.shape", like)
    return b.op("tir.reshape", value, dyn, newshape=tuple(-2 if d is None else d for d in shape))


class Shape(OpDef):
    """``shape(x)``: the int64 vector of x's dims."""

    name = "tir.shape"
    arity = 1
    fusion = "shape"
    differentiable = False

    def infer(self, types, attrs):  # noqa: ANN001, ANN201
        return [TensorType("int64", (types[0].ndim,))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [np.asarray(inputs[0].shape, dtype=np.int64).reshape(types[0].shape)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None]


class ShapeI(OpDef):
    """``shape_i(x, i)``: dim ``i`` of x as an int64 scalar."""

    name = "tir.shape_i"
    arity = 1
    fusion = "shape"
    differentiable = False
    attributes = {"i": REQUIRED}

    def infer(self, types, attrs):  # noqa: ANN001, ANN201
        i = attrs["i"]
        if not 0 <= i < types[0].ndim:
            raise IRError(f"tir.shape_i: dim {i} out of range for rank {types[0].ndim}")
        return [TensorType("int64", ())]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [np.asarray(inputs[0].shape[attrs["i"]], dtype=np.int64)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None]


OPS: list[OpDef] = [DimShuffle(), Reshape(), Shape(), ShapeI()]


class MakeVector(OpDef):
    """``make_vector(s0, s1, ...)``: a vector from scalars (symbolic shapes), cast to ``dtype``."""

    name = "tir.make_vector"
    fusion = "shape"
    attributes = {"dtype": "int64"}

    def infer(self, types, attrs):  # noqa: ANN001, ANN201
        for t in types:
            if t.ndim != 0:
                raise IRError(f"tir.make_vector takes scalars, got {t}")
        return [TensorType(attrs["dtype"], (len(types),))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [np.asarray([np.asarray(x).item() for x in inputs], dtype=attrs["dtype"]).reshape(types[0].shape)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None or attrs_not_float(op):
            return [None] * len(op.operands)
        return [None if v.type.dtype not in ("float32", "float64") else _pick(b, g, i, v.type.dtype)
                for i, v in enumerate(op.operands)]


def attrs_not_float(op) -> bool:  # noqa: ANN001
    return op.attributes["dtype"] not in ("float32", "float64")


def _pick(b, g, i, dtype):  # noqa: ANN001, ANN202
    # Element i of a vector as a scalar: a one-hot dot product keeps this family self-contained.
    n = g.type.shape[0]
    onehot = np.zeros((n,), dtype=g.type.dtype)
    onehot[i] = 1
    prod = b.op("tir.mul", g, b.constant(onehot))
    picked = b.op("tir.sum", prod, axis=None, keepdims=False)
    return picked if picked.type.dtype == dtype else b.op("tir.cast", picked, dtype=dtype)


OPS.append(MakeVector())
