"""PyTensor's scalar ops (the bodies of ``Elemwise``) as tensorir expressions: one entry per class.

Each entry takes the scalar op and its operands (tensorir variables, already broadcast by the
Elemwise semantics tensorir shares with NumPy) and returns the result. ``Composite`` (a fused
scalar graph) is converted by walking its inner graph through this same table. An op class not
in the table, or an entry raising :class:`NotConvertible`, sends its node to PyTensor's own
implementation (linker.py says which and why).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import tensorir.tensor as T
from tensorir.frontend.variable import TensorVariable

__all__ = ["SCALAR_OPS", "NotConvertible", "convert_scalar_op"]


class NotConvertible(Exception):
    """A node tensorir cannot compute; the message says why (shown in the fallback report)."""


ScalarRule = Callable[[Any, Sequence[TensorVariable]], TensorVariable]


def _unary(fn: Callable[[TensorVariable], TensorVariable]) -> ScalarRule:
    return lambda op, xs: fn(xs[0])


def _binary(fn: Callable[[TensorVariable, TensorVariable], TensorVariable]) -> ScalarRule:
    return lambda op, xs: fn(xs[0], xs[1])


def _fold(fn: Callable[[TensorVariable, TensorVariable], TensorVariable]) -> ScalarRule:
    return lambda op, xs: functools.reduce(fn, xs)


def _logical_or_bitwise(logical: Callable[..., TensorVariable], bitwise: Callable[..., TensorVariable]) -> ScalarRule:
    """PyTensor's AND/OR/XOR are bitwise on integers and logical on booleans."""
    def rule(op: Any, xs: Sequence[TensorVariable]) -> TensorVariable:
        fn = logical if all(x.dtype == "bool" for x in xs) else bitwise
        return functools.reduce(fn, xs)

    return rule


def _log1mexp(x: TensorVariable) -> TensorVariable:
    """log(1 - exp(x)) for x <= 0, accurate on both sides of -log 2 (Maechler's rule)."""
    return T.switch(T.lt(x, -math.log(2.0)), T.log1p(-T.exp(x)), T.log(-T.expm1(x)))


def _cast(op: Any, xs: Sequence[TensorVariable]) -> TensorVariable:
    return T.cast(xs[0], op.o_type.dtype)


def _round_half_to_even(op: Any, xs: Sequence[TensorVariable]) -> TensorVariable:
    return T.round(xs[0], mode="half_to_even")


def _round_half_away(op: Any, xs: Sequence[TensorVariable]) -> TensorVariable:
    return T.round(xs[0], mode="half_away_from_zero")


def _unsupported(why: str) -> ScalarRule:
    def rule(op: Any, xs: Sequence[TensorVariable]) -> TensorVariable:
        raise NotConvertible(why)

    return rule


#: PyTensor scalar op class name -> rule. Names, not classes: the table reads without importing
#: PyTensor, and a class a PyTensor release lacks is simply never met.
SCALAR_OPS: dict[str, ScalarRule] = {
    "Add": _fold(T.add),
    "Mul": _fold(T.mul),
    "Sub": _binary(T.sub),
    "TrueDiv": _binary(T.true_div),
    "IntDiv": _binary(T.int_div),
    "Mod": _binary(T.mod),
    "Pow": _binary(T.pow),
    "Neg": _unary(T.neg),
    "Abs": _unary(T.abs),
    "Sign": _unary(T.sgn),
    "Ceil": _unary(T.ceil),
    "Floor": _unary(T.floor),
    "Trunc": _unary(T.trunc),
    "RoundHalfToEven": _round_half_to_even,
    "RoundHalfAwayFromZero": _round_half_away,
    "Reciprocal": _unary(T.reciprocal),
    "Exp": _unary(T.exp),
    "Exp2": _unary(T.exp2),
    "Expm1": _unary(T.expm1),
    "Log": _unary(T.log),
    "Log2": _unary(T.log2),
    "Log10": _unary(T.log10),
    "Log1p": _unary(T.log1p),
    "Log1mexp": _unary(_log1mexp),
    "Sqr": _unary(T.sqr),
    "Sqrt": _unary(T.sqrt),
    "Deg2Rad": _unary(T.deg2rad),
    "Rad2Deg": _unary(T.rad2deg),
    "Cos": _unary(T.cos),
    "Sin": _unary(T.sin),
    "Tan": _unary(T.tan),
    "ArcCos": _unary(T.arccos),
    "ArcSin": _unary(T.arcsin),
    "ArcTan": _unary(T.arctan),
    "ArcTan2": _binary(T.arctan2),
    "Cosh": _unary(T.cosh),
    "Sinh": _unary(T.sinh),
    "Tanh": _unary(T.tanh),
    "ArcCosh": _unary(T.arccosh),
    "ArcSinh": _unary(T.arcsinh),
    "ArcTanh": _unary(T.arctanh),
    "Erf": _unary(T.erf),
    "Erfc": _unary(T.erfc),
    "Sigmoid": _unary(T.sigmoid),
    "Softplus": _unary(T.softplus),
    "IsNan": _unary(T.isnan),
    "IsInf": _unary(T.isinf),
    "LT": _binary(T.lt),
    "GT": _binary(T.gt),
    "LE": _binary(T.le),
    "GE": _binary(T.ge),
    "EQ": _binary(T.eq),
    "NEQ": _binary(T.neq),
    "AND": _logical_or_bitwise(T.and_, T.bitwise_and),
    "OR": _logical_or_bitwise(T.or_, T.bitwise_or),
    "XOR": _logical_or_bitwise(T.xor, T.bitwise_xor),
    "Invert": lambda op, xs: T.invert(xs[0]) if xs[0].dtype == "bool" else T.bitwise_not(xs[0]),
    "Maximum": _fold(T.maximum),
    "Minimum": _fold(T.minimum),
    "Switch": lambda op, xs: T.switch(xs[0], xs[1], xs[2]),
    "Clip": lambda op, xs: T.clip(xs[0], xs[1], xs[2]),
    "Second": _binary(T.second),
    "Identity": _unary(lambda x: x),
    "Cast": _cast,
    "Real": _unsupported("complex numbers are not a tensorir dtype"),
    "Imag": _unsupported("complex numbers are not a tensorir dtype"),
    "Complex": _unsupported("complex numbers are not a tensorir dtype"),
}


def convert_scalar_op(scalar_op: Any, operands: Sequence[TensorVariable], out_dtypes: Sequence[str]) -> list[Any]:
    """The results of ``scalar_op`` (elementwise over ``operands``), cast to ``out_dtypes``."""
    name = type(scalar_op).__name__
    if name == "Composite":
        results = _composite(scalar_op, operands)
    else:
        rule = SCALAR_OPS.get(name)
        if rule is None:
            raise NotConvertible(f"scalar op {name} has no tensorir rule (tensorir/pytensor/scalar_table.py)")
        results = [rule(scalar_op, operands)]
    return [r if r.dtype == d else T.cast(r, d) for r, d in zip(results, out_dtypes)]


def _composite(op: Any, operands: Sequence[TensorVariable]) -> list[TensorVariable]:
    """A fused scalar graph, node by node through the table."""
    fgraph = op.fgraph
    values: dict[Any, TensorVariable] = dict(zip(fgraph.inputs, operands))

    def value(v: Any) -> TensorVariable:
        if v in values:
            return values[v]
        data = getattr(v, "data", None)
        if data is None:
            raise NotConvertible(f"Composite input {v} is neither an input nor a constant")
        return T.constant(np.asarray(data, dtype=v.type.dtype))

    for node in fgraph.toposort():
        results = convert_scalar_op(node.op, [value(i) for i in node.inputs], [o.type.dtype for o in node.outputs])
        values.update(zip(node.outputs, results))
    return [value(o) for o in fgraph.outputs]
