"""Shape ops that allocate or expand: alloc, arange, eye, tile, repeat.

They follow the run-time dims convention of ``shape``: a static attribute with -1 for each dim
known only at run time, read in order from int scalar operands after the tensor operands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.tir.shape import (
    DYNAMIC,
    check_dim_operands,
    dim_of,
    reshape_to,
    resolve_static,
    static_dim,
    zeros_like_value,
)
from tensorir.dialects.types import COMPLEX_DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType, normalize_dtype


def _int_tuple(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in value)


def _check_static(name: str, static: Sequence[int], what: str) -> None:
    if any(d < DYNAMIC for d in static):
        raise IRError(f"{name}: {what} entries must be >= 0 (or -1 for run-time), got {tuple(static)}")


class Alloc(OpDef):
    """``alloc(value, *dims)``: ``value`` broadcast to the shape ``shape`` (Theano's ``Alloc``).

    ``value`` may have fewer dims than the result (NumPy broadcasting from the right).
    """

    name = "tir.alloc"
    fusion = "elementwise"
    attributes = {"shape": REQUIRED}

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.alloc needs the value to broadcast")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["shape"] = _int_tuple(out["shape"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        value, *dyn = types
        shape = attrs["shape"]
        _check_static("tir.alloc", shape, "shape")
        check_dim_operands("tir.alloc", dyn, shape)
        if value.ndim > len(shape):
            raise IRError(f"tir.alloc: the value {value} has more dims than the shape {shape}")
        lead = len(shape) - value.ndim
        for i, d in enumerate(value.shape):
            target = shape[lead + i]
            if d is not None and d != 1 and target >= 0 and d != target:
                raise IRError(f"tir.alloc: the value {value} cannot be broadcast to the shape {shape}")
        return [TensorType(value.dtype, [static_dim(d) for d in shape])]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        value, *dyn = inputs
        shape = resolve_static(attrs["shape"], dyn)
        if any(d < 0 for d in shape):
            raise ValueError(f"alloc: negative dimensions are not allowed, got shape {tuple(shape)}")
        return [np.array(np.broadcast_to(value, shape), dtype=types[0].dtype)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        value = op.operands[0]
        rest = [None] * (len(op.operands) - 1)
        if g is None or value.type.dtype not in FLOAT_DTYPES:
            return [None, *rest]
        return [b.op("tir.sum_to", g, value), *rest]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, *op.operands[1:], **op.attributes)]


class Arange(OpDef):
    """``arange(start, stop, step)`` as NumPy; ``length`` is the static length or -1."""

    name = "tir.arange"
    arity = 3
    fusion = "opaque"
    differentiable = False
    attributes = {"dtype": "int64", "length": DYNAMIC}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["dtype"] = normalize_dtype(out["dtype"])
        out["length"] = int(out["length"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        for what, t in zip(("start", "stop", "step"), types):
            if t.ndim != 0 or t.dtype in COMPLEX_DTYPES:
                raise IRError(f"tir.arange: {what} must be a real scalar, got {t}")
        if attrs["dtype"] in COMPLEX_DTYPES or attrs["length"] < DYNAMIC:
            raise IRError(f"tir.arange: invalid dtype {attrs['dtype']} or length {attrs['length']}")
        return [TensorType(attrs["dtype"], (static_dim(attrs["length"]),))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        start, stop, step = (np.asarray(x).item() for x in inputs)
        if step == 0:
            raise ValueError("arange: step must not be zero")
        out = np.arange(start, stop, step).astype(attrs["dtype"])
        if attrs["length"] >= 0 and len(out) != attrs["length"]:
            raise ValueError(f"arange: {len(out)} values, the static length is {attrs['length']}")
        return [out]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None, None, None]


class Eye(OpDef):
    """``eye(n, m)`` with ones on diagonal ``k``; ``shape`` is (n, m), -1 for run-time operands."""

    name = "tir.eye"
    fusion = "opaque"
    differentiable = False
    attributes = {"shape": REQUIRED, "k": 0, "dtype": "float64"}

    def check_arity(self, n: int) -> None:
        if n > 2:
            raise IRError(f"tir.eye takes at most 2 operands, got {n}")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["shape"] = _int_tuple(out["shape"])
        out["k"] = int(out["k"])
        out["dtype"] = normalize_dtype(out["dtype"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        shape = attrs["shape"]
        if len(shape) != 2:
            raise IRError(f"tir.eye: shape must have 2 dims, got {shape}")
        _check_static("tir.eye", shape, "shape")
        check_dim_operands("tir.eye", types, shape)
        return [TensorType(attrs["dtype"], [static_dim(d) for d in shape])]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        n, m = resolve_static(attrs["shape"], inputs)
        if n < 0 or m < 0:
            raise ValueError(f"eye: negative dimensions are not allowed, got ({n}, {m})")
        return [np.eye(n, m, attrs["k"], dtype=attrs["dtype"])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None] * len(op.operands)


def _tiled_shape(x: TensorType, reps: Sequence[int]) -> tuple[tuple[int | None, ...], tuple[int, ...]]:
    """Result dims of NumPy's tile and the reps padded to the result rank."""
    n = max(x.ndim, len(reps))
    xs = (1,) * (n - x.ndim) + x.shape
    rs = (1,) * (n - len(reps)) + tuple(reps)
    dims: list[int | None] = []
    for d, r in zip(xs, rs):
        if d == 0 or r == 0:
            dims.append(0)
        elif d is None or r == DYNAMIC:
            dims.append(None)
        else:
            dims.append(d * r)
    return tuple(dims), rs


class Tile(OpDef):
    """``tile(x, *reps)`` as NumPy; ``reps`` holds the repetitions, -1 for run-time operands."""

    name = "tir.tile"
    fusion = "opaque"
    attributes = {"reps": REQUIRED}

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.tile needs the tensor to tile")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["reps"] = _int_tuple(out["reps"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, *dyn = types
        _check_static("tir.tile", attrs["reps"], "reps")
        check_dim_operands("tir.tile", dyn, attrs["reps"], "repetition")
        return [x.with_shape(_tiled_shape(x, attrs["reps"])[0])]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, *dyn = inputs
        reps = resolve_static(attrs["reps"], dyn)
        if any(r < 0 for r in reps):
            raise ValueError(f"tile: repetitions must be >= 0, got {tuple(reps)}")
        return [cast_result(np.tile(x, reps), types[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        # g has dims (r_i * d_i); viewed as (r_0, d_0, r_1, d_1, ...) the sum over the r_i axes is
        # the cotangent of x (padded to the result rank, then reshaped to x's shape).
        g = grads[0]
        x, *dyn = op.operands
        rest = [None] * len(dyn)
        if g is None or x.type.dtype not in FLOAT_DTYPES:
            return [None, *rest]
        _, rs = _tiled_shape(x.type, op.attributes["reps"])
        it = iter(dyn)
        reps = [next(it) if r == DYNAMIC else r for r in rs]
        n = len(rs)
        lead = n - x.type.ndim
        dims = [1 if i < lead else dim_of(b, x, i - lead) for i in range(n)]
        interleaved = [v for pair in zip(reps, dims) for v in pair]
        summed = b.op(
            "tir.sum", reshape_to(b, g, interleaved), axis=tuple(range(0, 2 * n, 2)), keepdims=False
        )
        return [reshape_to(b, summed, [dim_of(b, x, i) for i in range(x.type.ndim)]), *rest]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, *op.operands[1:], **op.attributes)]


class Repeat(OpDef):
    """``repeat(x, repeats)`` along ``axis`` as NumPy; ``repeats`` is an int scalar or vector.

    ``length`` is the static length of the repeated axis, or -1.
    """

    name = "tir.repeat"
    arity = 2
    fusion = "opaque"
    attributes = {"axis": REQUIRED, "length": DYNAMIC}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, repeats = types
        axis, length = attrs["axis"], attrs["length"]
        if not isinstance(axis, int) or not 0 <= axis < x.ndim:
            raise IRError(f"tir.repeat: axis {axis} is out of range for a tensor of rank {x.ndim}")
        if repeats.ndim > 1 or repeats.dtype not in INT_DTYPES:
            raise IRError(f"tir.repeat: repeats must be an integer scalar or vector, got {repeats}")
        d = x.shape[axis]
        if repeats.ndim == 1 and None not in (d, repeats.shape[0]) and repeats.shape[0] not in (1, d):
            raise IRError(f"tir.repeat: {repeats.shape[0]} repeats for an axis of length {d}")
        if length < DYNAMIC:
            raise IRError(f"tir.repeat: invalid static length {length}")
        out = 0 if d == 0 else static_dim(length)
        return [x.with_shape(x.shape[:axis] + (out,) + x.shape[axis + 1:])]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, repeats = inputs
        if np.any(repeats < 0):
            raise ValueError("repeat: repeats must be >= 0")
        return [cast_result(np.repeat(x, repeats, axis=attrs["axis"]), types[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        # Each input position i went to the positions where repeat(arange(d), repeats) == i: the
        # cotangent is a scatter-add of g at those positions.
        g = grads[0]
        x, repeats = op.operands
        if g is None or x.type.dtype not in FLOAT_DTYPES:
            return [None, None]
        axis = op.attributes["axis"]
        d = dim_of(b, x, axis)
        stop = b.constant(np.int64(d)) if isinstance(d, int) else d
        positions = b.op("tir.arange", b.constant(np.int64(0)), stop, b.constant(np.int64(1)), dtype="int64",
                         length=d if isinstance(d, int) else DYNAMIC)
        source = b.op(self, positions, repeats, axis=0, length=op.attributes["length"])
        index = ", ".join([":"] * axis + ["@"])
        return [b.op("tir.advanced_inc_subtensor", zeros_like_value(b, x), g, source, index=index), None]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, op.operands[1], **op.attributes)]


OPS: list[OpDef] = [Alloc(), Arange(), Eye(), Tile(), Repeat()]
