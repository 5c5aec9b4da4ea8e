"""Specialization: cheaper forms of the same values (Theano's ``specialize``).

Powers by small constant exponents become multiplications (``x**2 -> x*x``, ``x**5`` by repeated
squaring), square roots and reciprocals (``x**0.5 -> sqrt(x)``, ``x**-1 -> 1/x``,
``x**-0.5 -> 1/sqrt(x)``); ``1/x -> reciprocal(x)``; a matrix times a vector becomes ``gemv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.types import FLOAT_DTYPES
from tensorir.passes.matching import absorbs, cast_to, is_constant, scalar_constant, splat
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern

#: integer exponents up to this size become multiplication chains (Theano uses 512 on devices).
MAX_INTEGER_POWER = 16


def integer_power(b: Builder, x: Value, n: int) -> Value:
    """``x**n`` for ``n >= 1`` by binary exponentiation: ``O(log n)`` multiplications."""
    result: Value | None = None
    square = x
    while True:
        if n & 1:
            result = square if result is None else b.op("tir.mul", result, square)
        n >>= 1
        if not n:
            break
        square = b.op("tir.mul", square, square)
    assert result is not None
    return result


class SpecializePow(RewritePattern):
    """``x**c`` for a constant scalar exponent ``c``.

    ``c = 0 -> ones``, ``1 -> x``, ``2 -> x*x``, ``n -> `` repeated squaring (``|n| <= 16``),
    ``-n -> 1/x**n``, ``0.5 -> sqrt(x)``, ``-0.5 -> 1/sqrt(x)``.
    """

    ops = ("tir.pow",)

    def __init__(self, max_power: int = MAX_INTEGER_POWER) -> None:
        self.max_power = max_power

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, e = op.operands
        c = scalar_constant(e)
        result = op.results[0]
        dtype = result.type.dtype
        if c is None or not absorbs(x, [e]) or x.type.ndim != result.type.ndim:
            return False
        floating = dtype in FLOAT_DTYPES
        if c == 0:
            b = rewriter.builder(op)
            rewriter.replace(op, [splat(b, 1, x, dtype)])
            return True
        if c in (0.5, -0.5) and floating:
            b = rewriter.builder(op)
            root = b.op("tir.sqrt", cast_to(b, x, dtype))
            rewriter.replace(op, [cast_to(b, root if c > 0 else b.op("tir.reciprocal", root), dtype)])
            return True
        if float(c) != int(c) or abs(int(c)) > self.max_power or (c < 0 and not floating):
            return False
        b = rewriter.builder(op)
        value = integer_power(b, cast_to(b, x, dtype), abs(int(c)))
        if c < 0:
            value = b.op("tir.reciprocal", value)
        rewriter.replace(op, [cast_to(b, value, dtype)])
        return True


class DivToReciprocal(RewritePattern):
    """``1 / x -> reciprocal(x)`` for floats."""

    ops = ("tir.true_div",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        one, x = op.operands
        result = op.results[0]
        if not is_constant(one, 1) or not absorbs(x, [one]) or x.type.dtype != result.type.dtype:
            return False
        rewriter.replace(op, [rewriter.builder(op).op("tir.reciprocal", x)])
        return True


class DotToGemv(RewritePattern):
    """``dot(A, v) -> gemv(0, 1, A, v, 0)`` and ``dot(v, A) -> gemv(0, 1, A^T, v, 0)``: ``y = A v``.

    ``gemv(y, alpha, A, x, beta) = beta*y + alpha*A x``; a zero ``y`` and ``beta`` leave the plain
    product (the BLAS call with beta = 0 never reads ``y``).
    """

    ops = ("tir.dot",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not rewriter.has_op("tir.gemv"):
            return False
        a, v = op.operands
        result = op.results[0]
        dtype = result.type.dtype
        if dtype not in FLOAT_DTYPES or a.type.dtype != dtype or v.type.dtype != dtype:
            return False
        transpose = False
        if a.type.ndim == 1 and v.type.ndim == 2:
            a, v = v, a
            transpose = True
        if a.type.ndim != 2 or v.type.ndim != 1:
            return False
        b = rewriter.builder(op)
        zero = b.constant(np.zeros((), dtype=dtype))
        one = b.constant(np.ones((), dtype=dtype))
        rewriter.replace(op, [b.op("tir.gemv", zero, one, a, v, zero, trans=transpose)])
        return True


def specialization_patterns() -> list[RewritePattern]:
    return [SpecializePow(), DivToReciprocal(), DotToGemv()]


@dataclass
class SpecializePass(PatternPass):
    """Cheaper forms: small integer powers as multiplications, sqrt/reciprocal forms, gemv."""

    name = "specialize"
    summary = "cheaper forms: x**2 -> x*x, small integer powers, sqrt/reciprocal forms, dot(A, v) -> gemv"
    max_power: int = MAX_INTEGER_POWER

    def patterns(self) -> list[RewritePattern]:
        return [SpecializePow(self.max_power), DivToReciprocal(), DotToGemv()]
