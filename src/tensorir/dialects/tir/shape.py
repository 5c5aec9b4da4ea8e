"""Shape ops: dimshuffle, reshape, shape, shape_i, make_vector, join, split, specify_shape.

Allocation and expansion (alloc, arange, eye, tile, repeat) live in ``shape_alloc``.

Conventions shared by ops that take run-time shapes: a static attribute holds what is known at
build time, with -1 for a dim only known at run time; each -1 is read, in order, from one int
scalar operand after the tensor operands (``tir.reshape`` predates this and uses -2 and a vector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, TensorType, upcast

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
                raise IRError(
                    f"tir.reshape: shape operand of length {types[1].shape[0]} for rank {len(newshape)}"
                )
        dims: list[int | None] = [d if d >= 0 else None for d in newshape]
        if -1 in newshape and t.is_static and -2 not in newshape:
            known = int(np.prod([d for d in newshape if d >= 0]))
            total = int(np.prod(t.shape))
            if known == 0 or total % known:
                raise IRError(f"tir.reshape: cannot reshape {t} to {newshape}")
            dims[newshape.index(-1)] = total // known
        if t.is_static and all(d is not None for d in dims) and int(np.prod(t.shape)) != int(np.prod(dims)):
            size = int(np.prod(t.shape))
            raise IRError(f"tir.reshape: cannot reshape {t} ({size} elements) to {tuple(dims)}")
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
    shape_operands = (0,)
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
    shape_operands = (0,)
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
        values = [np.asarray(x).item() for x in inputs]
        return [np.asarray(values, dtype=attrs["dtype"]).reshape(types[0].shape)]

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


# -- shared helpers for ops with run-time dims -----------------------------------------------------
def dynamic_count(static: Sequence[Any]) -> int:
    """How many entries of a static-dims attribute are read from operands (the -1 entries)."""
    return sum(1 for d in static if d == DYNAMIC)


def check_dim_operands(
    name: str, types: Sequence[TensorType], static: Sequence[Any], what: str = "dim"
) -> None:
    """Each -1 in ``static`` is read from one int scalar operand, in order."""
    want = dynamic_count(static)
    if len(types) != want:
        raise IRError(
            f"{name}: {want} run-time {what} operand(s) expected for {tuple(static)}, got {len(types)}"
        )
    for t in types:
        if t.ndim != 0 or t.dtype not in INT_DTYPES:
            raise IRError(f"{name}: a run-time {what} must be an integer scalar, got {t}")


def resolve_static(static: Sequence[Any], values: Sequence[np.ndarray]) -> list[Any]:
    """The attribute with each -1 replaced by the next run-time value."""
    it = iter(values)
    return [int(next(it)) if d == DYNAMIC else d for d in static]


def static_dim(d: Any) -> int | None:
    return None if d is None or d == DYNAMIC else int(d)


def zeros_like_value(b: Builder, v: Value, dtype: str | None = None) -> Value:
    """Zeros with ``v``'s shape (and its dtype unless given): a broadcast scalar, no shape arithmetic."""
    zero = b.constant(np.zeros((), dtype=dtype or v.type.dtype))
    return b.op("tir.broadcast_like", zero, v)


def dim_of(b: Builder, v: Value, axis: int) -> int | Value:
    """Dim ``axis`` of ``v``: its static size, or a ``tir.shape_i`` value."""
    d = v.type.shape[axis]
    return d if d is not None else b.op("tir.shape_i", v, i=axis)


def split_dims(dims: Sequence[int | Value]) -> tuple[tuple[int, ...], list[Value]]:
    """Static attribute (-1 for run-time dims) and the run-time operands of a list of dims."""
    static = tuple(d if isinstance(d, int) else DYNAMIC for d in dims)
    return static, [d for d in dims if not isinstance(d, int)]


def reshape_to(b: Builder, v: Value, dims: Sequence[int | Value]) -> Value:
    """``v`` reshaped to dims given as ints or int64 scalar values."""
    if all(isinstance(d, int) for d in dims):
        return b.op("tir.reshape", v, newshape=tuple(dims))  # type: ignore[arg-type]
    parts = [b.constant(np.int64(d)) if isinstance(d, int) else d for d in dims]
    parts = [p if p.type.dtype == "int64" else b.op("tir.cast", p, dtype="int64") for p in parts]
    vec = b.op("tir.make_vector", *parts, dtype="int64")
    return b.op("tir.reshape", v, vec, newshape=tuple(d if isinstance(d, int) else -2 for d in dims))


def _merge_dim(name: str, axis: int, dims: Sequence[int | None]) -> int | None:
    known = {d for d in dims if d is not None}
    if len(known) > 1:
        raise IRError(f"{name}: operands differ in dim {axis}: {sorted(known)}")
    return known.pop() if known else None


class Join(OpDef):
    """``join(x_0, ..., x_n)`` along ``axis``: NumPy's concatenate; the dtype is the upcast of all."""

    name = "tir.join"
    fusion = "shape"
    attributes = {"axis": REQUIRED}

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.join needs at least one operand")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        ndim = types[0].ndim
        axis = attrs["axis"]
        if ndim == 0:
            raise IRError("tir.join: cannot join scalars (rank 0); stack them instead")
        if any(t.ndim != ndim for t in types):
            raise IRError(f"tir.join: all operands must have the same rank, got {[t.ndim for t in types]}")
        if not isinstance(axis, int) or not 0 <= axis < ndim:
            raise IRError(f"tir.join: axis {axis} is out of range for tensors of rank {ndim}")
        dims: list[int | None] = []
        for i in range(ndim):
            column = [t.shape[i] for t in types]
            if i == axis:
                dims.append(None if None in column else sum(column))  # type: ignore[arg-type]
            else:
                dims.append(_merge_dim("tir.join", i, column))
        return [TensorType(upcast(*[t.dtype for t in types]), dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [cast_result(np.concatenate([np.asarray(x) for x in inputs], axis=attrs["axis"]), types[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None:
            return [None] * len(op.operands)
        axis = op.attributes["axis"]
        static, dyn = split_dims([dim_of(b, x, axis) for x in op.operands])
        pieces = b.op("tir.split", g, *dyn, axis=axis, sizes=static)
        pieces = pieces if isinstance(pieces, tuple) else (pieces,)
        out: list[Value | None] = []
        for x, p in zip(op.operands, pieces):
            if x.type.dtype not in FLOAT_DTYPES:
                out.append(None)
            else:
                out.append(p if p.type.dtype == x.type.dtype else b.op("tir.cast", p, dtype=x.type.dtype))
        return out

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        if all(t is None for t in tangents):
            return [None]
        dtype = op.results[0].type.dtype
        parts = [zeros_like_value(b, x, dtype) if t is None else t for x, t in zip(op.operands, tangents)]
        return [b.op(self, *parts, **op.attributes)]


class Split(OpDef):
    """``split(x, *sizes)``: pieces of ``x`` along ``axis``, one result per entry of ``sizes``.

    ``sizes`` holds the static piece lengths, -1 for a length read from the next int operand.
    The lengths must add up to the length of the axis (checked at run time).
    """

    name = "tir.split"
    fusion = "shape"
    attributes = {"axis": REQUIRED, "sizes": REQUIRED}

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.split needs the tensor to split")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["sizes"] = tuple(int(s) for s in out["sizes"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, *dyn = types
        axis, sizes = attrs["axis"], attrs["sizes"]
        if not isinstance(axis, int) or not 0 <= axis < x.ndim:
            raise IRError(f"tir.split: axis {axis} is out of range for a tensor of rank {x.ndim}")
        if not sizes:
            raise IRError("tir.split: at least one piece is needed")
        if any(s < DYNAMIC for s in sizes):
            raise IRError(f"tir.split: piece sizes must be >= 0 (or -1 for run-time), got {sizes}")
        check_dim_operands("tir.split", dyn, sizes, "piece size")
        if DYNAMIC not in sizes and x.shape[axis] is not None and sum(sizes) != x.shape[axis]:
            raise IRError(f"tir.split: piece sizes {sizes} add up to {sum(sizes)}, axis {axis} of {x} has "
                          f"length {x.shape[axis]}")
        return [x.with_shape(x.shape[:axis] + (static_dim(s),) + x.shape[axis + 1:]) for s in sizes]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, *dyn = inputs
        axis = attrs["axis"]
        sizes = resolve_static(attrs["sizes"], dyn)
        if any(s < 0 for s in sizes):
            raise ValueError(f"split sizes must be >= 0, got {tuple(sizes)}")
        if sum(sizes) != x.shape[axis]:
            raise ValueError(f"split sizes {tuple(sizes)} add up to {sum(sizes)}, but axis {axis} of the "
                             f"input (shape {x.shape}) has length {x.shape[axis]}")
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
        return [cast_result(p, t) for p, t in zip(pieces, types)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        n_dyn = len(op.operands) - 1
        x = op.operands[0]
        if all(g is None for g in grads) or x.type.dtype not in FLOAT_DTYPES:
            return [None] * (1 + n_dyn)
        parts = [zeros_like_value(b, r) if g is None else g for r, g in zip(op.results, grads)]
        return [b.op("tir.join", *parts, axis=op.attributes["axis"])] + [None] * n_dyn

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        if t is None:
            return [None] * len(op.results)
        out = b.op(self, t, *op.operands[1:], **op.attributes)
        return list(out) if isinstance(out, tuple) else [out]


class SpecifyShape(OpDef):
    """``specify_shape(x, *dims)``: ``x`` with a more precise (or, for None, a looser) static shape.

    ``shape`` has one entry per dim: an int (static, checked at run time), -1 (checked against
    the next int operand) or None (not specified: the result dim is dynamic). Theano's
    ``addbroadcast``/``unbroadcast``/``patternbroadcast`` are this op. ``what``: the value's
    name in the user's terms for the error (a scan output checked against its initial value).
    """

    name = "tir.specify_shape"
    fusion = "shape"
    attributes = {"shape": REQUIRED, "what": None}

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.specify_shape needs the tensor")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["shape"] = tuple(None if d is None else int(d) for d in out["shape"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, *dyn = types
        shape = attrs["shape"]
        if len(shape) != x.ndim:
            raise IRError(f"tir.specify_shape: shape {shape} has {len(shape)} dims, {x} has {x.ndim}")
        check_dim_operands("tir.specify_shape", dyn, [d for d in shape if d is not None])
        dims: list[int | None] = []
        for i, (want, have) in enumerate(zip(shape, x.shape)):
            if want is not None and want < DYNAMIC:
                raise IRError(f"tir.specify_shape: invalid dim {want} in {shape}")
            if want is not None and want >= 0 and have is not None and want != have:
                raise IRError(f"tir.specify_shape: dim {i} of {x} is {have}, specified as {want}")
            dims.append(None if want is None else (have if want == DYNAMIC else want))
        return [x.with_shape(dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, *dyn = inputs
        it = iter(dyn)
        for i, want in enumerate(attrs["shape"]):
            if want is None:
                continue
            expected = int(next(it)) if want == DYNAMIC else want
            if x.shape[i] != expected:
                raise ValueError(f"{attrs.get('what') or 'specify_shape'}: dim {i} of the value is {x.shape[i]}, "
                                 f"expected {expected} (value shape {x.shape})")
        return [x]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        rest = [None] * (len(op.operands) - 1)
        if g is None:
            return [None, *rest]
        x = op.operands[0]
        if g.type.shape != x.type.shape and any(d is not None for d in x.type.shape):
            # The cotangent gets the operand's static dims back (unbroadcast's adjoint is addbroadcast).
            g = b.op(self, g, shape=x.type.shape)
        return [g, *rest]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, *op.operands[1:], **op.attributes)]


OPS += [Join(), Split(), SpecifyShape()]
