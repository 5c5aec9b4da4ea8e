"""Scalar lowering of tir elementwise ops to ``arith``/``math`` ops (and our approximations).

One table row per op: ``LOWERINGS["tir.add"](e, args, ctx)`` emits the op on scalar SSA values
that are already converted to the op's compute dtype and returns the result's SSA name. The
compute dtype is the result dtype for arithmetic (NumPy casts the operands to it first), the
common dtype of the operands for comparisons, and the operand's own dtype for predicates.

Dtypes map to MLIR like this: floats are ``f32``/``f64``; integers are signless ``iN`` (the
row picks signed or unsigned ops from the NumPy dtype); ``bool`` is ``i1`` in registers and a
byte in memory. ``float16`` and complex dtypes have no lowering (:class:`NotLowerable`), so
such kernels run on the reference implementation.

Integer division and modulo follow NumPy, including its answers for a zero divisor (0) and for
``INT_MIN // -1`` (wraps), which machine division would trap on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tensorir.codegen.cpu.approx import APPROXIMATIONS
from tensorir.codegen.cpu.mlir_text import KernelEmitter
from tensorir.dialects.types import upcast

__all__ = ["LOWERINGS", "NotLowerable", "OpContext", "cast_scalar", "compute_dtype", "dtype_kind",
           "mlir_type", "memory_type"]


class NotLowerable(Exception):
    """This op (or dtype) has no native lowering; the executor uses the reference instead."""


_MLIR_TYPES = {"bool": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
               "uint8": "i8", "uint16": "i16", "uint32": "i32", "uint64": "i64",
               "float32": "f32", "float64": "f64"}
_BITS = {"bool": 1, "int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16,
         "uint32": 32, "uint64": 64, "float32": 32, "float64": 64}


def mlir_type(dtype: str) -> str:
    """The register type of a NumPy dtype (``bool`` -> ``i1``, ``uint8`` -> ``i8``)."""
    try:
        return _MLIR_TYPES[dtype]
    except KeyError:
        raise NotLowerable(f"dtype {dtype} has no native lowering") from None


def memory_type(dtype: str) -> str:
    """The type of one element in memory (``bool`` is a byte)."""
    return "i8" if dtype == "bool" else mlir_type(dtype)


def dtype_kind(dtype: str) -> str:
    """'b' bool, 's' signed, 'u' unsigned, 'f' float."""
    if dtype == "bool":
        return "b"
    if dtype.startswith("uint"):
        return "u"
    if dtype.startswith("int"):
        return "s"
    mlir_type(dtype)
    return "f"


def cast_scalar(e: KernelEmitter, value: str, src: str, dst: str) -> str:
    """Convert a scalar from NumPy dtype ``src`` to ``dst`` with NumPy's ``astype`` semantics."""
    if src == dst:
        return value
    ts, td = mlir_type(src), mlir_type(dst)
    ks, kd = dtype_kind(src), dtype_kind(dst)
    if kd == "b":
        if ks == "f":
            return e.cmpf("une", value, e.constant(0.0, ts), ts)
        return e.cmpi("ne", value, e.constant(0, ts), ts)
    if ks == "b":
        return e.cast("extui" if kd != "f" else "uitofp", value, ts, td)
    if ks == "f" and kd == "f":
        return e.cast("extf" if _BITS[dst] > _BITS[src] else "truncf", value, ts, td)
    if ks == "f":
        # x86 semantics of C casts: small integer types go through a 64-bit conversion.
        if _BITS[dst] == 64:
            return e.cast("fptoui" if kd == "u" else "fptosi", value, ts, td)
        wide = e.cast("fptosi", value, ts, "i64")
        return e.cast("trunci", wide, "i64", td)
    if kd == "f":
        return e.cast("uitofp" if ks == "u" else "sitofp", value, ts, td)
    if _BITS[dst] == _BITS[src]:
        return value
    if _BITS[dst] < _BITS[src]:
        return e.cast("trunci", value, ts, td)
    return e.cast("extui" if ks == "u" else "extsi", value, ts, td)


@dataclass(frozen=True)
class OpContext:
    """What a lowering row needs besides the operand values."""

    dtype: str  # compute dtype of the operands (and of the result, except for predicates)
    out_dtype: str
    attrs: Mapping[str, Any]

    @property
    def t(self) -> str:
        return mlir_type(self.dtype)

    @property
    def kind(self) -> str:
        return dtype_kind(self.dtype)


Lowering = Callable[[KernelEmitter, Sequence[str], OpContext], str]

_COMPARISONS = {"lt": ("olt", "slt", "ult"), "gt": ("ogt", "sgt", "ugt"), "le": ("ole", "sle", "ule"),
                "ge": ("oge", "sge", "uge"), "eq": ("oeq", "eq", "eq"), "neq": ("une", "ne", "ne")}
_PREDICATES = ("tir.isnan", "tir.isinf", "tir.sign", "tir.abs", "tir.round")


def compute_dtype(name: str, in_dtypes: Sequence[str], out_dtype: str) -> str:
    """The dtype the operands of ``name`` are converted to before the op runs."""
    short = name.removeprefix("tir.")
    if short in _COMPARISONS:
        return upcast(*in_dtypes)
    if name in _PREDICATES or name == "tir.cast":
        return in_dtypes[0]
    return out_dtype


def _float_or_int(f: str, s: str, u: str, b: str | None = None) -> Lowering:
    def lower(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
        name = {"f": f, "s": s, "u": u, "b": b or u}[c.kind]
        return e.op(name, list(a), c.t)

    return lower


def _compare(short: str) -> Lowering:
    fpred, spred, upred = _COMPARISONS[short]

    def lower(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
        if c.kind == "f":
            return e.cmpf(fpred, a[0], a[1], c.t)
        return e.cmpi(spred if c.kind == "s" else upred, a[0], a[1], c.t)

    return lower


def _neg(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind == "f":
        return e.neg(a[0], c.t)
    return e.int_op("subi", e.constant(0, c.t), a[0], c.t)


def _abs(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind == "f":
        return e.abs(a[0], c.t)
    if c.kind == "s":
        negative = e.cmpi("slt", a[0], e.constant(0, c.t), c.t)
        return e.select(negative, _neg(e, a, c), a[0], c.t)
    return a[0]


def _sign(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    x, t = a[0], c.t
    if c.kind == "b":
        return x
    zero, one = e.constant(0, t), e.constant(1, t)
    if c.kind == "f":
        pos = e.select(e.cmpf("ogt", x, zero, t), one, x, t)  # keeps 0, -0 and nan
        return e.select(e.cmpf("olt", x, zero, t), e.constant(-1.0, t), pos, t)
    if c.kind == "u":
        return e.select(e.cmpi("ne", x, zero, t), one, zero, t)
    pos = e.select(e.cmpi("sgt", x, zero, t), one, zero, t)
    return e.select(e.cmpi("slt", x, zero, t), e.constant(-1, t), pos, t)


def _round(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind != "f":
        return a[0]
    if c.attrs.get("mode", "half_away_from_zero") == "half_to_even":
        return e.unary_math("roundeven", a[0], c.t)
    # The reference's formula, sign(x) * floor(|x| + 0.5), kept bit for bit.
    up = e.unary_math("floor", e.add(e.abs(a[0], c.t), e.constant(0.5, c.t), c.t), c.t)
    return e.mul(_sign(e, a, c), up, c.t)


def _isnan(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind != "f":
        return e.constant(0, "i1")
    return e.cmpf("uno", a[0], a[0], c.t)


def _isinf(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind != "f":
        return e.constant(0, "i1")
    return e.cmpf("oeq", e.abs(a[0], c.t), e.constant(float("inf"), c.t), c.t)


def _select_max(e: KernelEmitter, x: str, y: str, c: OpContext, largest: bool) -> str:
    if c.kind == "f":
        return e.op("arith.maximumf" if largest else "arith.minimumf", [x, y], c.t)
    if c.kind == "b":
        return e.logical("ori" if largest else "andi", x, y, c.t)
    name = ("arith.max" if largest else "arith.min") + ("si" if c.kind == "s" else "ui")
    return e.op(name, [x, y], c.t)


def _clip(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return _select_max(e, _select_max(e, a[0], a[1], c, True), a[2], c, False)


def _int_divmod(e: KernelEmitter, x: str, y: str, c: OpContext) -> tuple[str, str]:
    """NumPy's floor division and modulo of integers, safe for y == 0 and INT_MIN // -1."""
    t = c.t
    zero, one = e.constant(0, t), e.constant(1, t)
    y_zero = e.cmpi("eq", y, zero, t)
    if c.kind == "u":
        safe = e.select(y_zero, one, y, t)
        q = e.op("arith.divui", [x, safe], t)
        r = e.op("arith.remui", [x, safe], t)
        return e.select(y_zero, zero, q, t), e.select(y_zero, zero, r, t)
    minus_one = e.constant(-1, t)
    y_m1 = e.cmpi("eq", y, minus_one, t)
    # Division by 1 instead of 0 or -1 (which trap); the answers are patched below.
    safe = e.select(e.logical("ori", y_zero, y_m1, "i1"), one, y, t)
    q = e.op("arith.divsi", [x, safe], t)
    r = e.op("arith.remsi", [x, safe], t)
    # Floor: when the remainder is nonzero and its sign differs from the divisor's, step down.
    adjust = e.logical("andi", e.cmpi("ne", r, zero, t),
                       e.cmpi("ne", e.cmpi("slt", r, zero, t), e.cmpi("slt", y, zero, t), "i1"), "i1")
    q = e.select(adjust, e.int_op("subi", q, one, t), q, t)
    r = e.select(adjust, e.int_op("addi", r, y, t), r, t)
    q = e.select(y_m1, e.int_op("subi", zero, x, t), q, t)
    r = e.select(y_m1, zero, r, t)
    return e.select(y_zero, zero, q, t), e.select(y_zero, zero, r, t)


def _float_divmod(e: KernelEmitter, x: str, y: str, c: OpContext) -> tuple[str, str]:
    """NumPy's ``npy_divmod`` for floats (floor division and a modulo with the divisor's sign)."""
    t = c.t
    zero = e.constant(0.0, t)
    mod = e.op("arith.remf", [x, y], t)
    div = e.div(e.sub(x, mod, t), y, t)
    sign_differs = e.cmpi("ne", e.cmpf("olt", y, zero, t), e.cmpf("olt", mod, zero, t), "i1")
    fix = e.logical("andi", e.cmpf("une", mod, zero, t), sign_differs, "i1")
    mod = e.select(fix, e.add(mod, y, t), mod, t)
    div = e.select(fix, e.sub(div, e.constant(1.0, t), t), div, t)
    mod = e.select(e.cmpf("oeq", mod, zero, t), e.copysign(zero, y, t), mod, t)
    floordiv = e.unary_math("floor", div, t)
    round_up = e.cmpf("ogt", e.sub(div, floordiv, t), e.constant(0.5, t), t)
    floordiv = e.select(round_up, e.add(floordiv, e.constant(1.0, t), t), floordiv, t)
    nonzero_div = e.cmpf("une", div, zero, t)
    floordiv = e.select(nonzero_div, floordiv, e.copysign(zero, e.div(x, y, t), t), t)
    y_zero = e.cmpf("oeq", y, zero, t)
    return e.select(y_zero, e.div(x, y, t), floordiv, t), mod


def _int_div(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind == "f":
        return _float_divmod(e, a[0], a[1], c)[0]
    return _int_divmod(e, a[0], a[1], c)[0]


def _mod(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind == "f":
        return _float_divmod(e, a[0], a[1], c)[1]
    if c.kind == "b":
        raise NotLowerable("bool modulo")
    return _int_divmod(e, a[0], a[1], c)[1]


def _pow(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind != "f":
        raise NotLowerable("integer power (NumPy raises for negative exponents)")
    return APPROXIMATIONS["power"](e, a[0], a[1], c.t)


def _float_only(name: str) -> Lowering:
    emit = APPROXIMATIONS[name]

    def lower(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
        if c.kind != "f":
            raise NotLowerable(f"{name} of {c.dtype}")
        return emit(e, *a, c.t)

    return lower


def _log1p(e: KernelEmitter, x: str, t: str) -> str:
    return APPROXIMATIONS["log1p"](e, x, t)


def _arcsinh(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    # asinh(|x|) = log1p(|x| + x^2 / (1 + sqrt(1 + x^2))), or log(|x|) + ln 2 past 2**28.
    t, x = c.t, a[0]
    ax = e.abs(x, t)
    one = e.constant(1.0, t)
    x2 = e.mul(ax, ax, t)
    small = _log1p(e, e.add(ax, e.div(x2, e.add(one, e.unary_math("sqrt", e.add(one, x2, t), t), t), t), t), t)
    big = e.add(APPROXIMATIONS["log"](e, ax, t), e.constant(0.6931471805599453, t), t)
    r = e.select(e.cmpf("ogt", ax, e.constant(2.0**28, t), t), big, small, t)
    return e.copysign(r, x, t)


def _arccosh(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    # acosh(x) = log1p(u + sqrt(2u + u^2)), u = x - 1; log(x) + ln 2 past 2**28; nan below 1.
    t, x = c.t, a[0]
    u = e.sub(x, e.constant(1.0, t), t)
    root = e.unary_math("sqrt", e.fma(u, u, e.add(u, u, t), t), t)
    small = _log1p(e, e.add(u, root, t), t)
    big = e.add(APPROXIMATIONS["log"](e, x, t), e.constant(0.6931471805599453, t), t)
    r = e.select(e.cmpf("ogt", x, e.constant(2.0**28, t), t), big, small, t)
    return e.select(e.cmpf("olt", x, e.constant(1.0, t), t), e.constant(float("nan"), t), r, t)


def _arctanh(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    # atanh(x) = log1p(2x / (1 - x)) / 2.
    t, x = c.t, a[0]
    ratio = e.div(e.add(x, x, t), e.sub(e.constant(1.0, t), x, t), t)
    return e.mul(_log1p(e, ratio, t), e.constant(0.5, t), t)


def _sigmoid_bce(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    # max(x, 0) - x t + log1p(exp(-|x|)).
    t, (x, target) = c.t, a
    tail = _log1p(e, APPROXIMATIONS["exp"](e, e.neg(e.abs(x, t), t), t), t)
    return e.add(e.sub(e.op("arith.maximumf", [x, e.constant(0.0, t)], t), e.mul(x, target, t), t), tail, t)


def _reciprocal(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return e.div(e.constant(1.0, c.t), a[0], c.t)


def _sqr(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    if c.kind == "b":
        return a[0]
    return e.op("arith.mulf" if c.kind == "f" else "arith.muli", [a[0], a[0]], c.t)


def _true_div(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return e.div(a[0], a[1], c.t)


def _switch(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return e.select(a[0], a[1], a[2], c.t)


def _invert(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return e.logical("xori", a[0], e.constant(1 if c.kind == "b" else -1, c.t), c.t)


def _identity(e: KernelEmitter, a: Sequence[str], c: OpContext) -> str:
    return a[0]


def _build_table() -> dict[str, Lowering]:
    table: dict[str, Lowering] = {
        "tir.add": _float_or_int("arith.addf", "arith.addi", "arith.addi", "arith.ori"),
        "tir.sub": _float_or_int("arith.subf", "arith.subi", "arith.subi"),
        "tir.mul": _float_or_int("arith.mulf", "arith.muli", "arith.muli", "arith.andi"),
        "tir.true_div": _true_div,
        "tir.int_div": _int_div,
        "tir.mod": _mod,
        "tir.pow": _pow,
        "tir.maximum": lambda e, a, c: _select_max(e, a[0], a[1], c, True),
        "tir.minimum": lambda e, a, c: _select_max(e, a[0], a[1], c, False),
        "tir.clip": _clip,
        "tir.switch": _switch,
        "tir.cast": _identity,  # the conversion itself is the operand cast (see compute_dtype)
        "tir.round": _round,
        "tir.sign": _sign,
        "tir.isnan": _isnan,
        "tir.isinf": _isinf,
        "tir.and": _float_or_int("", "arith.andi", "arith.andi", "arith.andi"),
        "tir.or": _float_or_int("", "arith.ori", "arith.ori", "arith.ori"),
        "tir.xor": _float_or_int("", "arith.xori", "arith.xori", "arith.xori"),
        "tir.invert": _invert,
        "tir.neg": _neg,
        "tir.abs": _abs,
        "tir.sqr": _sqr,
        "tir.reciprocal": _reciprocal,
        "tir.arcsinh": _arcsinh,
        "tir.arccosh": _arccosh,
        "tir.arctanh": _arctanh,
        "tir.sigmoid_binary_crossentropy": _sigmoid_bce,
        "tir.broadcast_like": _identity,
    }
    for short in _COMPARISONS:
        table[f"tir.{short}"] = _compare(short)
    for name in ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "tanh", "sigmoid", "softplus",
                 "erf", "erfc", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "sqrt",
                 "floor", "ceil", "trunc", "arctan2"):
        table[f"tir.{name}"] = _float_only(name)
    for name in ("tir.zero_grad", "tir.disconnected_grad", "tir.grad_clip", "tir.grad_scale"):
        table[name] = _identity
    return table


#: tir op name -> scalar lowering.
LOWERINGS: dict[str, Lowering] = _build_table()
