"""Reductions over axes (sum prod max min argmax argmin mean var std all any) and their adjoints.

Attributes: ``axis`` is None (all axes) or a sorted tuple of non-negative ints, ``keepdims`` a bool.
``tir.sum_to`` (sum a cotangent back to an operand's shape) and ``tir.broadcast_like`` are each
other's adjoints; the vjp of elementwise ops uses the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.tir.expr import Ex
from tensorir.dialects.types import FLOAT_DTYPES, TensorType, broadcast_shapes, upgrade_to_float


def normalize_axis(axis: Any, ndim: int, what: str = "axis") -> tuple[int, ...] | None:
    """None, an int or a sequence of ints -> None or a sorted tuple of distinct axes in [0, ndim)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise IRError(f"{what} {a} is out of range for a tensor of rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise IRError(f"repeated {what} in {axes}")
    return tuple(sorted(out))


def reduced_axes(axis: tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else axis


def reduced_shape(shape: Sequence[Any], axis: tuple[int, ...] | None, keepdims: bool) -> tuple[Any, ...]:
    axes = reduced_axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _sum_dtype(dtype: str) -> str:
    # NumPy's (and Theano's) accumulator rule: small ints accumulate in the platform int.
    if dtype in ("bool", "int8", "int16", "int32"):
        return "int64"
    if dtype in ("uint8", "uint16", "uint32"):
        return "uint64"
    return dtype


class Reduction(OpDef):
    fusion = "reduction"
    arity = 1

    def __init__(
        self,
        name: str,
        numpy_fn: Callable[..., Any],
        dtype_rule: Callable[[str], str],
        grad: Callable[[Builder, Operation, Ex], Ex] | None = None,
        extra_attrs: Mapping[str, Any] | None = None,
        identity: float | None = None,
    ) -> None:
        super().__init__(name)
        self.numpy_fn = numpy_fn
        self.dtype_rule = dtype_rule
        self.grad = grad
        self.differentiable = grad is not None
        self.attributes = {"axis": None, "keepdims": False, **(extra_attrs or {})}
        # Value of an empty reduction, where defined (sum 0, prod 1); max/min of nothing raises.
        self.identity = identity

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        if out["axis"] is not None:
            out["axis"] = tuple(int(a) for a in out["axis"]) if not isinstance(out["axis"], int) else (out["axis"],)
        out["keepdims"] = bool(out["keepdims"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        (t,) = types
        axis = normalize_axis(attrs["axis"], t.ndim)
        if axis is not None and tuple(attrs["axis"]) != axis:
            raise IRError(f"{self.name}: axis must be normalized (sorted, non-negative), got {attrs['axis']}")
        return [TensorType(self.dtype_rule(t.dtype), reduced_shape(t.shape, axis, attrs["keepdims"]))]

    def reference(
        self, inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], types: Sequence[TensorType]
    ) -> list[np.ndarray]:
        (x,) = inputs
        axis = attrs["axis"]
        extra = {k: v for k, v in attrs.items() if k not in ("axis", "keepdims")}
        with np.errstate(all="ignore"):
            out = self.numpy_fn(x, axis=axis, keepdims=attrs["keepdims"], out_dtype=types[0].dtype, **extra)
        return [cast_result(out, types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        x = op.operands[0]
        if g is None or self.grad is None or x.type.dtype not in FLOAT_DTYPES:
            return [None]
        result = self.grad(b, op, Ex(b, g))
        return [result.cast(x.type.dtype).v]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        t = tangents[0]
        if t is None or self.name not in _LINEAR_JVP:
            return [None] if t is None else self._jvp_nonlinear(b, op, Ex(b, t))
        return [b.op(self, t, **op.attributes)]

    def _jvp_nonlinear(self, b: Builder, op: Operation, t: Ex) -> list[Value | None]:
        x, z = Ex(b, op.operands[0]), Ex(b, op.results[0])
        attrs = op.attributes
        if self.name in ("tir.max", "tir.min"):
            # Tangent at the extremum; ties averaged so the result is well defined.
            mask = x.eq(expand_reduced(b, z, attrs, x.ndim)).cast(t.dtype)
            num = (t * mask).op("tir.sum", **attrs)
            den = mask.op("tir.sum", **attrs)
            return [(num / den).v]
        if self.name == "tir.prod":
            return [(expand_reduced(b, z, attrs, x.ndim) / x * t).op("tir.sum", **attrs).v]
        if self.name in ("tir.var", "tir.std"):
            mean = x.op("tir.mean", axis=attrs["axis"], keepdims=True)
            n = reduced_count(b, op.operands[0], attrs["axis"], t.dtype) - attrs["ddof"]
            dvar = ((x - mean) * t).op("tir.sum", axis=attrs["axis"], keepdims=attrs["keepdims"]) * 2 / n
            if self.name == "tir.var":
                return [dvar.v]
            return [(dvar / (z * 2)).v]
        raise NotImplementedError(f"{self.name} has no jvp")


_LINEAR_JVP = {"tir.sum", "tir.mean"}


def expand_reduced(b: Builder, z: Ex, attrs: Mapping[str, Any], ndim: int) -> Ex:
    """A reduction result with the reduced axes put back as size-1 dims (keepdims form)."""
    if attrs["keepdims"]:
        return z
    axes = reduced_axes(attrs["axis"], ndim)
    pattern: list[int] = []
    k = 0
    for i in range(ndim):
        if i in axes:
            pattern.append(-1)
        else:
            pattern.append(k)
            k += 1
    if not axes:
        return z
    return z.op("tir.dimshuffle", pattern=tuple(pattern))


def reduced_count(b: Builder, x: Value, axis: tuple[int, ...] | None, dtype: str) -> Ex:
    """Number of elements reduced over, as a scalar of ``dtype`` (static when the dims are)."""
    axes = reduced_axes(axis, x.type.ndim)
    dims = [x.type.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return Ex(b, b.constant(np.asarray(float(np.prod(dims)) if dims else 1.0, dtype=dtype)))
    total: Ex | None = None
    for a in axes:
        d = Ex(b, b.op("tir.shape_i", x, i=a)).cast(dtype)
        total = d if total is None else total * d
    assert total is not None
    return total


def _broadcast_back(b: Builder, op: Operation, g: Ex) -> Ex:
    x = op.operands[0]
    expanded = expand_reduced(b, g, op.attributes, x.type.ndim)
    return Ex(b, b.op("tir.broadcast_like", expanded.v, x))


def _grad_sum(b: Builder, op: Operation, g: Ex) -> Ex:
    return _broadcast_back(b, op, g)


def _grad_mean(b: Builder, op: Operation, g: Ex) -> Ex:
    n = reduced_count(b, op.operands[0], op.attributes["axis"], g.dtype)
    return _broadcast_back(b, op, g / n)


def _grad_prod(b: Builder, op: Operation, g: Ex) -> Ex:
    x = Ex(b, op.operands[0])
    z = expand_reduced(b, Ex(b, op.results[0]), op.attributes, x.ndim)
    return expand_reduced(b, g, op.attributes, x.ndim) * z / x


def _grad_extremum(b: Builder, op: Operation, g: Ex) -> Ex:
    # Theano's rule: the gradient goes to every position equal to the extremum.
    x = Ex(b, op.operands[0])
    z = expand_reduced(b, Ex(b, op.results[0]), op.attributes, x.ndim)
    return expand_reduced(b, g, op.attributes, x.ndim) * x.eq(z).cast(g.dtype)


def _grad_var(b: Builder, op: Operation, g: Ex) -> Ex:
    x = Ex(b, op.operands[0])
    attrs = op.attributes
    mean = x.op("tir.mean", axis=attrs["axis"], keepdims=True)
    n = reduced_count(b, op.operands[0], attrs["axis"], g.dtype) - attrs["ddof"]
    return expand_reduced(b, g, attrs, x.ndim) * (x - mean) * 2 / n


def _grad_std(b: Builder, op: Operation, g: Ex) -> Ex:
    # d std = d var / (2 std); g and the result have the same (reduced) shape.
    return _grad_var(b, op, g / (Ex(b, op.results[0]) * 2))


def _np_reduce(fn: Callable[..., Any], pass_dtype: bool) -> Callable[..., Any]:
    def run(x: np.ndarray, axis: Any, keepdims: bool, out_dtype: str, **kw: Any) -> Any:
        if pass_dtype:
            return fn(x, axis=axis, keepdims=keepdims, dtype=out_dtype, **kw)
        return fn(x, axis=axis, keepdims=keepdims, **kw)

    return run


def _np_arg(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: np.ndarray, axis: Any, keepdims: bool, out_dtype: str) -> Any:
        # NumPy's argmax takes one axis; several axes are flattened together (Theano's rule).
        ndim = x.ndim
        axes = tuple(range(ndim)) if axis is None else axis
        keep = [i for i in range(ndim) if i not in axes]
        moved = np.transpose(x, keep + list(axes))
        flat = moved.reshape([x.shape[i] for i in keep] + [-1])
        out = fn(flat, axis=-1)
        if keepdims:
            out = out.reshape([1 if i in axes else x.shape[i] for i in range(ndim)])
        return out

    return run


def _np_var(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: np.ndarray, axis: Any, keepdims: bool, out_dtype: str, ddof: int) -> Any:
        return fn(x.astype(out_dtype), axis=axis, keepdims=keepdims, ddof=ddof)

    return run


def _float_of(d: str) -> str:
    return upgrade_to_float(d)


OPS: list[OpDef] = [
    Reduction("tir.sum", _np_reduce(np.sum, True), _sum_dtype, _grad_sum, identity=0.0),
    Reduction("tir.prod", _np_reduce(np.prod, True), _sum_dtype, _grad_prod, identity=1.0),
    Reduction("tir.max", _np_reduce(np.max, False), lambda d: d, _grad_extremum),
    Reduction("tir.min", _np_reduce(np.min, False), lambda d: d, _grad_extremum),
    Reduction("tir.argmax", _np_arg(np.argmax), lambda d: "int64"),
    Reduction("tir.argmin", _np_arg(np.argmin), lambda d: "int64"),
    Reduction("tir.mean", _np_reduce(np.mean, True), _float_of, _grad_mean),
    Reduction("tir.var", _np_var(np.var), _float_of, _grad_var, {"ddof": 0}),
    Reduction("tir.std", _np_var(np.std), _float_of, _grad_std, {"ddof": 0}),
    Reduction("tir.all", _np_reduce(np.all, False), lambda d: "bool"),
    Reduction("tir.any", _np_reduce(np.any, False), lambda d: "bool"),
]


class SumTo(OpDef):
    """``sum_to(x, like)``: sum ``x`` over the axes where it was broadcast against ``like``'s shape.

    Leading axes that ``like`` lacks are summed away; axes where ``like`` has size 1 and ``x`` does
    not are summed with keepdims. Decided at run time, so dynamic dims are handled exactly.
    """

    fusion = "reduction"
    arity = 2
    shape_operands = (1,)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, like = types
        if like.ndim > x.ndim:
            raise IRError(f"tir.sum_to: target rank {like.ndim} exceeds operand rank {x.ndim}")
        return [TensorType(x.dtype, like.shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, like = inputs
        return [cast_result(sum_to_shape(x, like.shape), types[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        return [None if g is None else b.op("tir.broadcast_like", g, op.operands[0]), None]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, op.operands[1])]


def sum_to_axes(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...] | None:
    """The axes ``sum_to`` adds up to turn ``shape`` into ``target`` (summed with keepdims, then
    the leading ones dropped), or None when no sum does."""
    lead = len(shape) - len(target)
    if lead < 0:
        return None
    axes = list(range(lead))
    for i, d in enumerate(target):
        have = shape[lead + i]
        if d == 1 and have != 1:
            axes.append(lead + i)
        elif d != have:
            return None
    return tuple(axes)


def sum_to_shape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    axes = sum_to_axes(x.shape, shape)
    if axes is None:
        raise ValueError(f"cannot sum shape {x.shape} to shape {tuple(shape)}")
    out = x.sum(axis=axes, keepdims=True) if axes else x
    lead = x.ndim - len(shape)
    return out.reshape(out.shape[lead:]) if lead else out


class BroadcastLike(OpDef):
    """``broadcast_like(x, like)``: ``x`` broadcast to the shape of ``broadcast(x, like)``.

    The result has ``x``'s dtype; ``like`` only gives the shape (its values are not read).
    """

    fusion = "elementwise"
    arity = 2
    shape_operands = (1,)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, like = types
        if x.ndim > like.ndim:
            raise IRError(f"tir.broadcast_like: operand rank {x.ndim} exceeds target rank {like.ndim}")
        try:
            shape = broadcast_shapes(x.shape, like.shape, what="tir.broadcast_like operands")
        except ValueError as exc:
            raise IRError(str(exc)) from None
        return [TensorType(x.dtype, shape)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, like = inputs
        shape = np.broadcast_shapes(x.shape, like.shape)
        return [np.array(np.broadcast_to(x, shape))]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        return [None if g is None else b.op("tir.sum_to", g, op.operands[0]), None]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, op.operands[1])]


OPS += [SumTo("tir.sum_to"), BroadcastLike("tir.broadcast_like")]

__all__ = ["OPS", "REQUIRED", "Reduction", "normalize_axis", "reduced_shape", "sum_to_shape"]
