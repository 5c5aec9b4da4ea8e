"""Numerical stabilization: naive graphs that overflow or lose precision, rewritten to stable forms.

Each pattern's docstring gives the identity it uses. Every rewrite keeps the value where the naive
graph is finite and is finite (and exact) where the naive graph gives inf or nan, e.g. for
logits of +-800. Rewrites to ops of the ``nn`` family skip when those ops are not declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.types import INT_DTYPES
from tensorir.passes.canonicalize import DoubleNegation
from tensorir.passes.matching import (
    absorbs,
    cast_to,
    constant_value,
    defining,
    is_constant,
    negate,
    scalar_constant,
    shapes_may_agree,
)
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern


def plus_constant(v: Value, value: float) -> Value | None:
    """``x`` when ``v = x + c`` or ``c + x`` with every element of ``c`` equal to ``value``.

    ``c`` must broadcast into ``x`` so that ``v`` has ``x``'s shape.
    """
    op = defining(v, "tir.add")
    if op is None:
        return None
    x, y = op.operands
    if is_constant(y, value) and absorbs(x, [y]):
        return x
    if is_constant(x, value) and absorbs(y, [x]):
        return y
    return None


def constant_minus(v: Value, value: float) -> Value | None:
    """``x`` when ``v = c - x`` with ``c`` all equal to ``value`` (and broadcasting into ``x``)."""
    op = defining(v, "tir.sub")
    if op is None:
        return None
    c, x = op.operands
    if is_constant(c, value) and absorbs(x, [c]):
        return x
    return None


class Log1p(RewritePattern):
    """``log(1 + x) -> log1p(x)``; ``log(1 - x) -> log1p(-x)`` (exact for tiny ``x``)."""

    ops = ("tir.log",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        arg = op.operands[0]
        x = plus_constant(arg, 1)
        negative = False
        if x is None:
            x = constant_minus(arg, 1)
            negative = True
        if x is None:
            return False
        b = rewriter.builder(op)
        x = cast_to(b, x, arg.type.dtype)
        if negative:
            x = negate(b, x)
        rewriter.replace(op, [cast_to(b, b.op("tir.log1p", x), op.results[0].type.dtype)])
        return True


class Expm1(RewritePattern):
    """``exp(x) - 1 -> expm1(x)`` (and ``exp(x) + (-1)``), exact for tiny ``x``."""

    ops = ("tir.sub", "tir.add")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        e: Value | None = None
        if op.name == "tir.sub":
            left, c = op.operands
            if is_constant(c, 1) and absorbs(left, [c]):
                e = left
        else:
            for left, c in (op.operands, reversed(op.operands)):
                if is_constant(c, -1) and absorbs(left, [c]):
                    e = left
                    break
        exp = defining(e, "tir.exp") if e is not None else None
        if exp is None:
            return False
        b = rewriter.builder(op)
        rewriter.replace(op, [cast_to(b, b.op("tir.expm1", exp.operands[0]), op.results[0].type.dtype)])
        return True


class Softplus(RewritePattern):
    """``log1p(exp(x)) -> softplus(x)`` (``log(1 + exp(x))`` reaches it through ``Log1p``).

    ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``: ``x`` itself for ``x = 800`` where the naive
    form is inf.
    """

    ops = ("tir.log1p",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        exp = defining(op.operands[0], "tir.exp")
        if exp is None or exp.results[0].type.dtype != op.results[0].type.dtype:
            return False
        rewriter.replace(op, [rewriter.builder(op).op("tir.softplus", exp.operands[0])])
        return True


class LogSigmoid(RewritePattern):
    """``log(sigmoid(x)) -> -softplus(-x)``; ``log1p(-sigmoid(x)) -> -softplus(x)``.

    ``log(1 - sigmoid(x)) = log(sigmoid(-x))``, so both are log-sigmoids: -800 where the naive
    graph gives -inf.
    """

    ops = ("tir.log", "tir.log1p")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        arg = op.operands[0]
        b: Builder
        if op.name == "tir.log":
            sig = defining(arg, "tir.sigmoid")
            if sig is None or sig.results[0].type.dtype != op.results[0].type.dtype:
                return False
            b = rewriter.builder(op)
            x = negate(b, sig.operands[0])
        else:
            neg = defining(arg, "tir.neg")
            sig = defining(neg.operands[0], "tir.sigmoid") if neg is not None else None
            if sig is None or sig.results[0].type.dtype != op.results[0].type.dtype:
                return False
            b = rewriter.builder(op)
            x = sig.operands[0]
        rewriter.replace(op, [b.op("tir.neg", b.op("tir.softplus", x))])
        return True


class OneMinusSigmoid(RewritePattern):
    """``1 - sigmoid(x) -> sigmoid(-x)`` (exact: no cancellation for large ``x``)."""

    ops = ("tir.sub",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = constant_minus(op.results[0], 1)
        sig = defining(x, "tir.sigmoid") if x is not None else None
        if sig is None or sig.results[0].type.dtype != op.results[0].type.dtype:
            return False
        b = rewriter.builder(op)
        rewriter.replace(op, [b.op("tir.sigmoid", negate(b, sig.operands[0]))])
        return True


class SigmoidFromExp(RewritePattern):
    """``1 / (1 + exp(y)) -> sigmoid(-y)`` (so ``1/(1+exp(-x)) -> sigmoid(x)``).

    And ``exp(x)/(1+exp(x)) -> sigmoid(x)``.

    Also ``reciprocal(1 + exp(y))``. The naive forms give nan for x = 800 (inf/inf).
    """

    ops = ("tir.true_div", "tir.reciprocal")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0]
        if op.name == "tir.true_div":
            num, den = op.operands
        else:
            num, den = None, op.operands[0]
        inner = plus_constant(den, 1)
        exp = defining(inner, "tir.exp") if inner is not None else None
        if exp is None or exp.results[0].type.dtype != result.type.dtype:
            return False
        y = exp.operands[0]
        b: Builder
        if num is None or (is_constant(num, 1) and absorbs(den, [num])):
            b = rewriter.builder(op)
            rewriter.replace(op, [b.op("tir.sigmoid", negate(b, y))])
            return True
        num_exp = defining(num, "tir.exp")
        if num_exp is not None and num_exp.operands[0] is y:
            b = rewriter.builder(op)
            rewriter.replace(op, [b.op("tir.sigmoid", y)])
            return True
        return False


class LogSumExp(RewritePattern):
    """``log(sum(exp(x), axis)) -> logsumexp(x, axis) = m + log(sum(exp(x - m)))``, ``m = max(x)``."""

    ops = ("tir.log",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not rewriter.has_op("tir.logsumexp"):
            return False
        total = defining(op.operands[0], "tir.sum")
        exp = defining(total.operands[0], "tir.exp") if total is not None else None
        if exp is None or total.results[0].type.dtype != op.results[0].type.dtype:  # type: ignore[union-attr]
            return False
        b = rewriter.builder(op)
        lse = b.op("tir.logsumexp", exp.operands[0], **total.attributes)  # type: ignore[union-attr]
        rewriter.replace(op, [cast_to(b, lse, op.results[0].type.dtype)])
        return True


def _single_axis_sum_of(den: Value, e: Value, ndim: int) -> int | None:
    """The axis ``a`` when ``den`` is ``sum(e, axis=a)`` with that axis kept as size 1, else None."""
    shuffle = defining(den, "tir.dimshuffle")
    if shuffle is not None:
        total = defining(shuffle.operands[0], "tir.sum")
        if total is None or total.attributes["keepdims"]:
            return None
        axes = total.attributes["axis"]
        if total.operands[0] is not e or axes is None or len(axes) != 1:
            return None
        a = axes[0]
        expected = tuple(range(a)) + (-1,) + tuple(range(a, ndim - 1))
        return a if shuffle.attributes["pattern"] == expected else None
    total = defining(den, "tir.sum")
    if total is None or total.operands[0] is not e or not total.attributes["keepdims"]:
        return None
    axes = total.attributes["axis"]
    if axes is None and ndim == 1:
        return 0
    return axes[0] if axes is not None and len(axes) == 1 else None


class RecognizeSoftmax(RewritePattern):
    """``exp(x) / sum(exp(x), axis=a, keepdims=True) -> softmax(x, axis=a)`` (also the dimshuffle form).

    The same value without overflow: ``softmax`` subtracts ``max(x)`` first (Theano's
    ``softmax_simplifier``).
    """

    ops = ("tir.true_div",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not rewriter.has_op("tir.softmax"):
            return False
        num, den = op.operands
        exp = defining(num, "tir.exp")
        if exp is None or exp.results[0].type.dtype != op.results[0].type.dtype:
            return False
        axis = _single_axis_sum_of(den, num, num.type.ndim)
        if axis is None:
            return False
        rewriter.replace(op, [rewriter.builder(op).op("tir.softmax", exp.operands[0], axis=axis)])
        return True


class LogSoftmax(RewritePattern):
    """``log(softmax(x)) -> log_softmax(x) = x - m - log(sum(exp(x - m)))``.

    Finite where ``softmax`` underflows to 0 and its log is -inf.
    """

    ops = ("tir.log",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        sm = defining(op.operands[0], "tir.softmax")
        if sm is None or not rewriter.has_op("tir.log_softmax"):
            return False
        rewriter.replace(op, [rewriter.builder(op).op("tir.log_softmax", sm.operands[0], **sm.attributes)])
        return True


class SoftmaxCrossentropy(RewritePattern):
    """``crossentropy_categorical(softmax(z), y) -> softmax_crossentropy(z, y) = logsumexp(z) - z[y]``.

    With a distribution ``t`` instead of labels: ``-sum(t * log_softmax(z), -1)`` (a zero target
    entry contributes 0, as ``xlogy`` does).
    """

    ops = ("tir.crossentropy_categorical",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        p, t = op.operands
        sm = defining(p, "tir.softmax")
        if sm is None or sm.attributes["axis"] % p.type.ndim != p.type.ndim - 1:
            return False
        z = sm.operands[0]
        result = op.results[0]
        b: Builder
        if t.type.ndim == p.type.ndim - 1:
            if not rewriter.has_op("tir.softmax_crossentropy"):
                return False
            b = rewriter.builder(op)
            loss = b.op("tir.softmax_crossentropy", z, t)
        else:
            if not rewriter.has_op("tir.log_softmax") or not shapes_may_agree(t, p):
                return False
            b = rewriter.builder(op)
            logp = b.op("tir.log_softmax", z, axis=-1)
            dtype = result.type.dtype
            prod = b.op("tir.mul", cast_to(b, t, dtype), cast_to(b, logp, dtype))
            loss = b.op("tir.neg", b.op("tir.sum", prod, axis=(p.type.ndim - 1,), keepdims=False))
        rewriter.replace(op, [cast_to(b, loss, result.type.dtype)])
        return True


def _strip_casts(v: Value) -> Value:
    while (op := defining(v, "tir.cast")) is not None:
        v = op.operands[0]
    return v


def _counts_rows(n: Value, rows: Sequence[Value]) -> bool:
    """Whether ``n`` is the number of rows of one of ``rows`` (``shape_i(v, 0)`` or its static size)."""
    n = _strip_casts(n)
    shape = defining(n, "tir.shape_i")
    if shape is not None:
        return shape.attributes["i"] == 0 and any(shape.operands[0] is r for r in rows)
    known = scalar_constant(n)
    return known is not None and any(r.type.shape[0] == known for r in rows)


def _arange_of_rows(v: Value, rows: Sequence[Value]) -> bool:
    """Whether ``v`` is ``arange(0, n, 1)`` with ``n`` the number of rows (labels or scores),
    as the op or as the constant it folds to when ``n`` is static."""
    op = defining(v, "tir.arange")
    if op is None:
        known = constant_value(v)
        return (known is not None and known.ndim == 1 and known.dtype.kind in "iu"
                and np.array_equal(known, np.arange(known.size)) and any(r.type.shape[0] == known.size for r in rows))
    start, stop, step = op.operands
    return is_constant(start, 0) and is_constant(step, 1) and _counts_rows(stop, rows)


class IndexedCrossentropy(RewritePattern):
    """``log_softmax(z)[arange(n), y] -> -softmax_crossentropy(z, y)`` (the tutorials' loss form).

    With ``n`` the number of labels (or of rows of ``z``), row ``i`` picks ``log_softmax(z)[i, y_i]
    = z[i, y_i] - logsumexp(z[i])``, the negated cross-entropy of the row. (``log(softmax(z))`` is
    rewritten to ``log_softmax(z)`` first.)
    """

    ops = ("tir.advanced_subtensor",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.attributes.get("index", "").replace(" ", "") != "@,@" or len(op.operands) != 3:
            return False
        logp, rows, y = op.operands
        ls = defining(logp, "tir.log_softmax")
        if ls is None or logp.type.ndim != 2 or ls.attributes["axis"] % 2 != 1:
            return False
        z = ls.operands[0]
        if y.type.ndim != 1 or y.type.dtype not in INT_DTYPES or not rewriter.has_op("tir.softmax_crossentropy"):
            return False
        if not _arange_of_rows(rows, [y, z, logp]):
            return False
        b = rewriter.builder(op)
        loss = b.op("tir.softmax_crossentropy", z, y)
        rewriter.replace(op, [cast_to(b, b.op("tir.neg", loss), op.results[0].type.dtype)])
        return True


class IndexedCrossentropyGrad(RewritePattern):
    """The gradient of ``log_softmax(z)[arange(n), y]`` (cotangent ``v`` per row) with respect
    to ``z`` -> ``softmax_crossentropy_grad(-v, z, y)`` (Theano's
    ``local_advanced_indexing_crossentropy_onehot_grad``).

    The indexing's gradient ``g`` is zeros with ``v[i]`` at ``(i, y[i])``; log_softmax's vjp is
    ``g - exp(log_softmax(z)) * sum(g, -1)``. Each row of ``g`` holds exactly one entry, so
    ``sum(g, -1) = v`` and the whole is ``v * (onehot(y) - softmax(z))``: one row kernel instead
    of zeros, a scatter, a row sum and a product over the full scores.
    """

    ops = ("tir.sub",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        g, scaled = op.operands
        mul = defining(scaled, "tir.mul")
        if mul is None or not rewriter.has_op("tir.softmax_crossentropy_grad"):
            return False
        for e, s in (mul.operands, tuple(reversed(mul.operands))):
            exp = defining(e, "tir.exp")
            total = defining(s, "tir.sum")
            if exp is None or total is None or total.operands[0] is not g:
                continue
            ls = defining(exp.operands[0], "tir.log_softmax")
            if ls is None or ls.results[0].type.ndim != 2 or ls.attributes["axis"] % 2 != 1:
                continue
            if tuple(total.attributes["axis"] or ()) not in ((1,), (-1,)) or not total.attributes["keepdims"]:
                continue
            found = self._indexed_gradient(g, ls)
            if found is None:
                continue
            v, y = found
            b = rewriter.builder(op)
            dtype = op.results[0].type.dtype
            dz = b.op("tir.softmax_crossentropy_grad", cast_to(b, b.op("tir.neg", v), dtype), ls.operands[0], y)
            rewriter.replace(op, [cast_to(b, dz, dtype)])
            return True
        return False

    @staticmethod
    def _indexed_gradient(g: Value, ls: Operation) -> tuple[Value, Value] | None:
        """``(v, y)`` when ``g`` is ``inc(zeros like log_softmax(z), v, arange(n), y)``."""
        inc = defining(g, "tir.advanced_inc_subtensor")
        if inc is None or len(inc.operands) != 4 or inc.attributes.get("index", "").replace(" ", "") != "@,@":
            return None
        zeros, v, rows, y = inc.operands
        fill = defining(zeros, "tir.broadcast_like")
        logp, z = ls.results[0], ls.operands[0]
        if fill is None or fill.operands[0].type.ndim != 0 or not is_constant(fill.operands[0], 0):
            return None
        if fill.operands[1] is not logp and fill.operands[1] is not z:
            return None
        if y.type.ndim != 1 or y.type.dtype not in INT_DTYPES or v.type.ndim > 1:
            return None
        if not _arange_of_rows(rows, [y, z, logp]):
            return None
        return v, y


def _log_sigmoid_of(v: Value) -> Value | None:
    """``x`` when ``v`` computes ``log(sigmoid(x))`` (naive or already stabilized)."""
    op = defining(v, "tir.log")
    if op is not None:
        sig = defining(op.operands[0], "tir.sigmoid")
        return sig.operands[0] if sig is not None else None
    neg = defining(v, "tir.neg")
    sp = defining(neg.operands[0], "tir.softplus") if neg is not None else None
    if sp is not None:
        inner = defining(sp.operands[0], "tir.neg")
        return inner.operands[0] if inner is not None else None
    return None


def _log_one_minus_sigmoid_of(v: Value) -> Value | None:
    """``x`` when ``v`` computes ``log(1 - sigmoid(x))`` in any of its forms."""
    op = defining(v, "tir.log", "tir.log1p")
    if op is not None and op.name == "tir.log":
        arg = constant_minus(op.operands[0], 1)
        if arg is not None:
            sig = defining(arg, "tir.sigmoid")
            return sig.operands[0] if sig is not None else None
        inner = _log_sigmoid_of(v)  # log(sigmoid(-x))
        neg = defining(inner, "tir.neg") if inner is not None else None
        return neg.operands[0] if neg is not None else None
    if op is not None:
        neg = defining(op.operands[0], "tir.neg")
        sig = defining(neg.operands[0], "tir.sigmoid") if neg is not None else None
        return sig.operands[0] if sig is not None else None
    neg = defining(v, "tir.neg")
    sp = defining(neg.operands[0], "tir.softplus") if neg is not None else None
    return sp.operands[0] if sp is not None else None


class SigmoidBinaryCrossentropy(RewritePattern):
    """``t*log(sigmoid(x)) + (1-t)*log(1-sigmoid(x)) -> -sigmoid_binary_crossentropy(x, t)``.

    The logits form ``max(x, 0) - x*t + log1p(exp(-|x|))`` is finite for every ``x``; the naive
    form is ``0 * -inf = nan`` at x = -800, t = 0. Matches the log-sigmoids naive or stabilized.
    """

    ops = ("tir.add",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not rewriter.has_op("tir.sigmoid_binary_crossentropy"):
            return False
        for first, second in (op.operands, tuple(reversed(op.operands))):
            found = self._match(first, second)
            if found is not None:
                x, t = found
                b = rewriter.builder(op)
                loss = b.op("tir.sigmoid_binary_crossentropy", x, t)
                if loss.type.shape != op.results[0].type.shape and not absorbs(loss, [op.results[0]]):
                    return False
                rewriter.replace(op, [b.op("tir.neg", cast_to(b, loss, op.results[0].type.dtype))])
                return True
        return False

    @staticmethod
    def _match(pos: Value, neg: Value) -> tuple[Value, Value] | None:
        a = defining(pos, "tir.mul")
        c = defining(neg, "tir.mul")
        if a is None or c is None:
            return None
        for t, log_p in (a.operands, tuple(reversed(a.operands))):
            x = _log_sigmoid_of(log_p)
            if x is None:
                continue
            for one_minus_t, log_q in (c.operands, tuple(reversed(c.operands))):
                if constant_minus(one_minus_t, 1) is t and _log_one_minus_sigmoid_of(log_q) is x:
                    return x, t
        return None


def stabilization_patterns() -> list[RewritePattern]:
    return [
        Log1p(),
        Expm1(),
        Softplus(),
        LogSigmoid(),
        OneMinusSigmoid(),
        SigmoidFromExp(),
        LogSumExp(),
        RecognizeSoftmax(),
        LogSoftmax(),
        SoftmaxCrossentropy(),
        IndexedCrossentropy(),
        IndexedCrossentropyGrad(),
        SigmoidBinaryCrossentropy(),
        DoubleNegation(),
    ]


@dataclass
class StabilizePass(PatternPass):
    """Rewrite overflow-prone graphs to stable forms (log1p, expm1, softplus, logsumexp, log-softmax...)."""

    name = "stabilize"
    summary = "numerically stable forms: log1p, expm1, softplus, log-sigmoid, logsumexp, log-softmax, xent"

    def patterns(self) -> list[RewritePattern]:
        return stabilization_patterns()
