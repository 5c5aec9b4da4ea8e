"""Elementwise ops: arithmetic, comparisons and logic, math functions, casts and rounding.

Every op broadcasts its operands like NumPy. An op is one row: its name, arity, NumPy function,
dtype rule and derivative. The derivative rule ``d(x..., z, g)`` returns, per operand, ``g`` times
the partial derivative of the result ``z`` (in the result's shape). The vjp sums that back to each
operand's shape; the jvp sums the rule applied to each operand's tangent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.special

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import IRError, OpDef, cast_result
from tensorir.dialects.tir.expr import Ex
from tensorir.dialects.types import (
    DISCRETE_DTYPES,
    FLOAT_DTYPES,
    TensorType,
    broadcast_shapes,
    normalize_dtype,
    upcast,
    upgrade_to_float,
)

DerivRule = Callable[..., Sequence[Ex | None]]


# -- dtype rules -----------------------------------------------------------------------------------
def _upcast(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return upcast(*dtypes)


def _numeric(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    out = upcast(*dtypes)
    if out == "bool":
        raise IRError("subtraction and negation are not defined for bool tensors (use xor / invert)")
    return out


def _float(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return upgrade_to_float(upcast(*dtypes))


def _bool(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return "bool"


def _switch(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return upcast(*dtypes[1:])


def _cast(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return normalize_dtype(attrs["dtype"])


def _bitwise(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    for d in dtypes:
        if d not in DISCRETE_DTYPES:
            raise IRError(f"bitwise/logical ops need bool or integer operands, got {d}")
    return upcast(*dtypes)


def _int_div(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    out = upcast(*dtypes)
    return "int8" if out == "bool" else out


class Elementwise(OpDef):
    """An op applied element by element to broadcast operands."""

    fusion = "elementwise"

    def __init__(
        self,
        name: str,
        arity: int,
        numpy_fn: Callable[..., Any],
        dtype_rule: Callable[[Sequence[str], Mapping[str, Any]], str],
        deriv: DerivRule | None = None,
        *,
        compute_in_out_dtype: bool = False,
        attributes: Mapping[str, Any] | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(name)
        self.arity = arity
        self.numpy_fn = numpy_fn
        self.dtype_rule = dtype_rule
        self.deriv = deriv
        # True when inputs are converted to the result dtype before the NumPy function runs
        # (Theano's exp(int8) is float32, NumPy's would be float16).
        self.compute_in_out_dtype = compute_in_out_dtype
        self.differentiable = deriv is not None
        self.attributes = dict(attributes or {})
        self.doc = doc

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        try:
            shape = broadcast_shapes(*[t.shape for t in types], what=f"{self.name} operands")
        except ValueError as exc:
            raise IRError(str(exc)) from None
        return [TensorType(self.dtype_rule([t.dtype for t in types], attrs), shape)]

    def reference(
        self, inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], types: Sequence[TensorType]
    ) -> list[np.ndarray]:
        out_type = types[0]
        if self.compute_in_out_dtype:
            inputs = [np.asarray(x, dtype=out_type.dtype) for x in inputs]
        with np.errstate(all="ignore"):
            result = self.numpy_fn(*inputs, **attrs) if self.attributes else self.numpy_fn(*inputs)
        return [cast_result(result, out_type)]

    def partials(self, b: Builder, op: Operation, g: Value, which: Sequence[int]) -> list[Ex | None]:
        assert self.deriv is not None
        xs = [Ex(b, v) for v in op.operands]
        z = Ex(b, op.results[0])
        if g.type.dtype != z.dtype:
            g = b.op("tir.cast", g, dtype=z.dtype)
        parts = list(self.deriv(*xs, z, Ex(b, g), **op.attributes) if self.attributes else self.deriv(*xs, z, Ex(b, g)))
        return [parts[i] if i in which else None for i in range(len(parts))]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None] * len(op.operands)
        wanted = [i for i, v in enumerate(op.operands) if v.type.dtype in FLOAT_DTYPES]
        parts = self.partials(b, op, g, wanted)
        out: list[Value | None] = []
        for i, (v, p) in enumerate(zip(op.operands, parts)):
            if p is None:
                out.append(None)
                continue
            grad = p.v
            if grad.type.dtype != v.type.dtype:
                grad = b.op("tir.cast", grad, dtype=v.type.dtype)
            if needs_unbroadcast([x.type for x in op.operands], i, op.results[0].type):
                grad = b.op("tir.sum_to", grad, v)
            out.append(grad)
        return out

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        total: Ex | None = None
        for i, t in enumerate(tangents):
            if t is None or op.operands[i].type.dtype not in FLOAT_DTYPES:
                continue
            part = self.partials(b, op, t, [i])[i]
            if part is None:
                continue
            total = part if total is None else total + part
        if total is None:
            return [None]
        result = total.v
        if result.type.shape != op.results[0].type.shape:
            result = b.op("tir.broadcast_like", result, op.results[0])
        return [result]


def needs_unbroadcast(types: Sequence[TensorType], i: int, out: TensorType) -> bool:
    """Whether operand ``i`` may have been broadcast, so its cotangent must be summed back.

    Decided from static shapes: a missing or static-1 dim under a bigger result dim was
    broadcast; a dynamic dim may be 1 at run time only if another operand could be larger there.
    """
    mine = types[i].shape
    if len(mine) < out.ndim:
        return True
    for k, d in enumerate(mine):
        if d == 1 and out.shape[k] != 1:
            return True
        if d is None:
            for j, t in enumerate(types):
                if j == i:
                    continue
                kk = k - (out.ndim - t.ndim)
                if kk >= 0 and t.shape[kk] != 1:
                    return True
    return False


# -- derivative rules: g times dz/dx_i -------------------------------------------------------------
LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _d_add(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    return [g, g]


def _d_sub(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    return [g, -g]


def _d_mul(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    return [g * y, g * x]


def _d_true_div(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    return [g / y, -(g * z) / y]


def _d_pow(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    # d/dx x**y = y*x**(y-1); d/dy = log(x)*x**y (Theano's rule, nan for x<0 as there).
    return [g * y * (x ** (y - 1)), g * z * x.log()]


def _d_mod(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex | None]:
    # x mod y = x - floor(x/y)*y, piecewise linear.
    return [g, -(g * (x / y).op("tir.floor"))]


def _d_maximum(x: Ex, y: Ex, z: Ex, g: Ex) -> list[Ex]:
    # Theano's rule: on ties both operands receive the gradient.
    return [g * z.eq(x).cast(g.dtype), g * z.eq(y).cast(g.dtype)]


def _d_clip(x: Ex, lo: Ex, hi: Ex, z: Ex, g: Ex) -> list[Ex]:
    inside = x.ge(lo).op("tir.and", x.le(hi))
    return [g * inside.cast(g.dtype), g * x.lt(lo).cast(g.dtype), g * x.gt(hi).cast(g.dtype)]


def _d_switch(c: Ex, a: Ex, b: Ex, z: Ex, g: Ex) -> list[Ex | None]:
    zero = g * 0
    return [None, c.where(g, zero), c.where(zero, g)]


def _d_arctan2(y: Ex, x: Ex, z: Ex, g: Ex) -> list[Ex]:
    r2 = x * x + y * y
    return [g * x / r2, -(g * y) / r2]


def _d_cast(x: Ex, z: Ex, g: Ex, dtype: str = "") -> list[Ex]:
    return [g.cast(x.dtype) if x.dtype in FLOAT_DTYPES else g]


def _unary(rule: Callable[[Ex, Ex, Ex], Ex]) -> DerivRule:
    def deriv(x: Ex, z: Ex, g: Ex) -> list[Ex]:
        return [rule(x, z, g)]

    return deriv


_D_UNARY: dict[str, Callable[[Ex, Ex, Ex], Ex]] = {
    "neg": lambda x, z, g: -g,
    "abs": lambda x, z, g: g * x.sign(),
    "reciprocal": lambda x, z, g: -(g * z * z),
    "sqr": lambda x, z, g: g * x * 2,
    "sqrt": lambda x, z, g: g * 0.5 / z,
    "exp": lambda x, z, g: g * z,
    "exp2": lambda x, z, g: g * z * LN2,
    "expm1": lambda x, z, g: g * (z + 1),
    "log": lambda x, z, g: g / x,
    "log2": lambda x, z, g: g / (x * LN2),
    "log10": lambda x, z, g: g / (x * LN10),
    "log1p": lambda x, z, g: g / (x + 1),
    "sin": lambda x, z, g: g * x.cos(),
    "cos": lambda x, z, g: -(g * x.sin()),
    "tan": lambda x, z, g: g * (z * z + 1),
    "arcsin": lambda x, z, g: g / (1 - x * x).sqrt(),
    "arccos": lambda x, z, g: -g / (1 - x * x).sqrt(),
    "arctan": lambda x, z, g: g / (x * x + 1),
    "sinh": lambda x, z, g: g * x.cosh(),
    "cosh": lambda x, z, g: g * x.sinh(),
    "tanh": lambda x, z, g: g * (1 - z * z),
    "arcsinh": lambda x, z, g: g / (x * x + 1).sqrt(),
    "arccosh": lambda x, z, g: g / (x * x - 1).sqrt(),
    "arctanh": lambda x, z, g: g / (1 - x * x),
    "erf": lambda x, z, g: g * TWO_OVER_SQRT_PI * (-(x * x)).exp(),
    "erfc": lambda x, z, g: -(g * TWO_OVER_SQRT_PI * (-(x * x)).exp()),
    "sigmoid": lambda x, z, g: g * z * (1 - z),
    "softplus": lambda x, z, g: g * x.sigmoid(),
}


# -- NumPy references with Theano semantics where NumPy differs -------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return scipy.special.expit(x)


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _round(x: np.ndarray, mode: str = "half_away_from_zero") -> np.ndarray:
    if mode == "half_to_even":
        return np.round(x)
    if mode == "half_away_from_zero":
        if x.dtype.kind in "biu":
            return x.copy()
        return np.sign(x) * np.floor(np.abs(x) + 0.5)
    raise ValueError(f"tir.round: unknown mode {mode!r}")


def _sign(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.bool_:
        return x.copy()
    return np.sign(x)


def _abs(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.bool_:
        return x.copy()
    return np.abs(x)


def _int_div_fn(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.floor_divide(x, y)


def _cast_fn(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(x).astype(dtype)


def _switch_fn(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(c.astype(bool), a, b)


def _invert(x: np.ndarray) -> np.ndarray:
    return np.invert(x)


def _make_ops() -> list[Elementwise]:
    ops: list[Elementwise] = [
        Elementwise("tir.add", 2, np.add, _upcast, _d_add, doc="x + y"),
        Elementwise("tir.sub", 2, np.subtract, _numeric, _d_sub, doc="x - y"),
        Elementwise("tir.mul", 2, np.multiply, _upcast, _d_mul, doc="x * y"),
        Elementwise("tir.true_div", 2, np.true_divide, _float, _d_true_div, compute_in_out_dtype=True),
        Elementwise("tir.int_div", 2, _int_div_fn, _int_div, None, doc="floor division x // y"),
        Elementwise("tir.mod", 2, np.mod, _upcast, _d_mod, doc="x % y with the sign of y (Python's)"),
        Elementwise("tir.pow", 2, np.power, _upcast, _d_pow),
        Elementwise("tir.maximum", 2, np.maximum, _upcast, _d_maximum),
        Elementwise("tir.minimum", 2, np.minimum, _upcast, _d_maximum),
        Elementwise("tir.arctan2", 2, np.arctan2, _float, _d_arctan2, compute_in_out_dtype=True),
        Elementwise("tir.clip", 3, np.clip, _upcast, _d_clip, doc="clip(x, lo, hi)"),
        Elementwise("tir.switch", 3, _switch_fn, _switch, _d_switch, doc="where(cond, a, b)"),
        Elementwise(
            "tir.cast", 1, _cast_fn, _cast, _d_cast, attributes={"dtype": "float64"}, doc="x.astype(dtype)"
        ),
        Elementwise(
            "tir.round",
            1,
            _round,
            _upcast,
            None,
            attributes={"mode": "half_away_from_zero"},
        ),
        Elementwise("tir.sign", 1, _sign, _upcast, None),
        Elementwise("tir.floor", 1, np.floor, _float, None, compute_in_out_dtype=True),
        Elementwise("tir.ceil", 1, np.ceil, _float, None, compute_in_out_dtype=True),
        Elementwise("tir.trunc", 1, np.trunc, _float, None, compute_in_out_dtype=True),
        Elementwise("tir.isnan", 1, np.isnan, _bool, None),
        Elementwise("tir.isinf", 1, np.isinf, _bool, None),
    ]
    for name, fn in {"lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal,
                     "eq": np.equal, "neq": np.not_equal}.items():
        ops.append(Elementwise(f"tir.{name}", 2, fn, _bool, None))
    for name, fn in {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}.items():
        ops.append(Elementwise(f"tir.{name}", 2, fn, _bitwise, None))
    ops.append(Elementwise("tir.invert", 1, _invert, _bitwise, None))
    ops.append(Elementwise("tir.neg", 1, np.negative, _numeric, _unary(_D_UNARY["neg"])))
    same_dtype = {"abs": _abs, "sqr": np.square}
    float_fns: dict[str, Callable[..., Any]] = {
        "reciprocal": np.reciprocal,
        "sqrt": np.sqrt,
        "exp": np.exp,
        "exp2": np.exp2,
        "expm1": np.expm1,
        "log": np.log,
        "log2": np.log2,
        "log10": np.log10,
        "log1p": np.log1p,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "arcsin": np.arcsin,
        "arccos": np.arccos,
        "arctan": np.arctan,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "tanh": np.tanh,
        "arcsinh": np.arcsinh,
        "arccosh": np.arccosh,
        "arctanh": np.arctanh,
        "erf": scipy.special.erf,
        "erfc": scipy.special.erfc,
        "sigmoid": _sigmoid,
        "softplus": _softplus,
    }
    for name, fn in same_dtype.items():
        ops.append(Elementwise(f"tir.{name}", 1, fn, _upcast, _unary(_D_UNARY[name])))
    for name, fn in float_fns.items():
        ops.append(
            Elementwise(f"tir.{name}", 1, fn, _float, _unary(_D_UNARY[name]), compute_in_out_dtype=True)
        )
    return ops


OPS: list[Elementwise] = _make_ops()
