"""Canonicalization: one normal form for equivalent graphs, then algebraic identities.

The normal form puts constants second in commutative binary ops, so later rewrites look at one
operand order. The identities remove work that does nothing (each pattern's docstring has its
math). A rewrite that replaces ``f(x, c)`` by ``x`` needs the result to have ``x``'s dtype and
provably ``x``'s shape: ``c`` must broadcast into ``x`` (``x + zeros((3, 4))`` is not ``x`` for a
vector ``x``). Constant folding runs in the same worklist, so identities and folding feed each
other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.ir import Operation, Value, walk
from tensorir.dialects.tir.reduction import reduced_axes, reduced_count
from tensorir.passes.fold import DEFAULT_MAX_ELEMENTS, FoldConstant
from tensorir.passes.matching import (
    absorbs,
    cast_to,
    defining,
    is_constant,
    negate,
    same_shape,
    scalar_constant,
    shape_source,
    splat,
)
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern

COMMUTATIVE = (
    "tir.add",
    "tir.mul",
    "tir.maximum",
    "tir.minimum",
    "tir.eq",
    "tir.neq",
    "tir.and",
    "tir.or",
    "tir.xor",
)


class ConstantsRight(RewritePattern):
    """``c op x -> x op c`` for commutative ``op`` (broadcasting is symmetric, so is the result)."""

    ops = COMMUTATIVE

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, y = op.operands
        if constant_value(x) is None or constant_value(y) is not None:
            return False
        op.set_operand(0, y)
        op.set_operand(1, x)
        rewriter.changed = True
        return True


def _identity_operand(op: Operation, keep: Value, other: Value) -> bool:
    """Whether ``op``'s result is exactly ``keep`` when ``other`` is the neutral element."""
    return keep.type.dtype == op.results[0].type.dtype and absorbs(keep, [other])


class NeutralElement(RewritePattern):
    """``x + 0 -> x``, ``x - 0 -> x``, ``0 - x -> -x``, ``x * 1 -> x``, ``x / 1 -> x``, ``x * -1 -> -x``."""

    ops = ("tir.add", "tir.sub", "tir.mul", "tir.true_div")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, y = op.operands
        name = op.name
        if name in ("tir.add", "tir.sub") and is_constant(y, 0) and _identity_operand(op, x, y):
            rewriter.replace(op, [x])
            return True
        if name == "tir.add" and is_constant(x, 0) and _identity_operand(op, y, x):
            rewriter.replace(op, [y])
            return True
        if name == "tir.sub" and is_constant(x, 0) and _identity_operand(op, y, x):
            rewriter.replace(op, [negate(rewriter.builder(op), y)])
            return True
        if name in ("tir.mul", "tir.true_div") and is_constant(y, 1) and _identity_operand(op, x, y):
            rewriter.replace(op, [x])
            return True
        if name == "tir.mul" and is_constant(x, 1) and _identity_operand(op, y, x):
            rewriter.replace(op, [y])
            return True
        if (
            name == "tir.mul"
            and is_constant(y, -1)
            and _identity_operand(op, x, y)
            and x.type.dtype not in ("bool",)
            and not x.type.dtype.startswith("uint")
        ):
            rewriter.replace(op, [negate(rewriter.builder(op), x)])
            return True
        return False


class SubSelf(RewritePattern):
    """``x - x -> zeros_like(x)``, only under fast math: it maps ``inf - inf`` and ``nan - nan``
    (nan in NumPy) to 0, as Theano's canonizer did."""

    ops = ("tir.sub",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, y = op.operands
        if x is not y:
            return False
        rewriter.replace(op, [splat(rewriter.builder(op), 0, x, op.results[0].type.dtype)])
        return True


class DoubleNegation(RewritePattern):
    """``-(-x) -> x``."""

    ops = ("tir.neg",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = defining(op.operands[0], "tir.neg")
        if inner is None:
            return False
        rewriter.replace(op, [inner.operands[0]])
        return True


# ops whose results are never negative, so exp(log(y)) = y for them (log(0) = -inf, exp(-inf) = 0)
NON_NEGATIVE = ("tir.exp", "tir.exp2", "tir.sqrt", "tir.sqr", "tir.abs", "tir.sigmoid", "tir.softplus")


class ExpLog(RewritePattern):
    """``log(exp(x)) -> x`` for floats; ``exp(log(x)) -> x`` only where ``x >= 0`` is known.

    ``log(exp(x)) = x`` for every real ``x`` (and the left side overflows for x > 709).
    ``exp(log(x)) = x`` needs ``x >= 0``: ``log`` of a negative number is nan.
    """

    ops = ("tir.log", "tir.exp")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inverse = "tir.exp" if op.name == "tir.log" else "tir.log"
        inner = defining(op.operands[0], inverse)
        if inner is None:
            return False
        x = inner.operands[0]
        if x.type.dtype != op.results[0].type.dtype:
            return False
        if op.name == "tir.exp":
            arr = constant_value(x)
            known = defining(x, *NON_NEGATIVE) is not None or (arr is not None and bool(np.all(arr >= 0)))
            if not known:
                return False
        rewriter.replace(op, [x])
        return True


class MergeDimshuffles(RewritePattern):
    """``dimshuffle(dimshuffle(x, p), q) -> dimshuffle(x, [p[i] for i in q])``; identity patterns go."""

    ops = ("tir.dimshuffle",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        pattern = op.attributes["pattern"]
        x = op.operands[0]
        if pattern == tuple(range(x.type.ndim)):
            rewriter.replace(op, [x])
            return True
        inner = defining(x, "tir.dimshuffle")
        if inner is None:
            return False
        first = inner.attributes["pattern"]
        merged = tuple(-1 if q == -1 else first[q] for q in pattern)
        b = rewriter.builder(op)
        rewriter.replace(op, [b.op("tir.dimshuffle", inner.operands[0], pattern=merged)])
        return True


class SimplifyReshape(RewritePattern):
    """``reshape(reshape(x, s1), s2) -> reshape(x, s2)``; ``reshape(x, shape(x)) -> x``; static targets.

    A reshape only depends on the elements in order, so an inner reshape is irrelevant. A shape
    operand that is a constant becomes the static ``newshape``.
    """

    ops = ("tir.reshape",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = op.operands[0]
        newshape = op.attributes["newshape"]
        result = op.results[0]
        if x.type.is_static and result.type == x.type:
            rewriter.replace(op, [x])
            return True
        if len(op.operands) == 2:
            shape_vec = op.operands[1]
            arr = constant_value(shape_vec)
            if arr is not None:
                static = tuple(int(arr[i]) if d == -2 else d for i, d in enumerate(newshape))
                if all(d >= -1 for d in static):
                    rewriter.replace(op, [rewriter.builder(op).op("tir.reshape", x, newshape=static)])
                    return True
            src = defining(shape_vec, "tir.shape")
            if (
                src is not None
                and src.operands[0] is x
                and len(newshape) == x.type.ndim
                and all(d == -2 or d == x.type.shape[i] for i, d in enumerate(newshape))
            ):
                rewriter.replace(op, [x])
                return True
        inner = defining(x, "tir.reshape")
        if inner is not None:
            b = rewriter.builder(op)
            rewriter.replace(op, [b.op("tir.reshape", inner.operands[0], *op.operands[1:], newshape=newshape)])
            return True
        return False


class UselessCast(RewritePattern):
    """``cast(x, dtype(x)) -> x``; ``cast(cast(x, a), b) -> cast(x, b)`` when ``x -> a`` is lossless."""

    ops = ("tir.cast",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = op.operands[0]
        dtype = op.results[0].type.dtype
        if x.type.dtype == dtype:
            rewriter.replace(op, [x])
            return True
        inner = defining(x, "tir.cast")
        if inner is not None:
            source = inner.operands[0]
            if np.can_cast(source.type.dtype, x.type.dtype, "safe"):
                rewriter.replace(op, [cast_to(rewriter.builder(op), source, dtype)])
                return True
        return False


class StaticShape(RewritePattern):
    """``shape_i(x, i) -> constant`` when dim ``i`` is static; ``shape(x) -> constant`` when all are."""

    ops = ("tir.shape_i", "tir.shape")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        t = op.operands[0].type
        if op.name == "tir.shape_i":
            d = t.shape[op.attributes["i"]]
            if d is None:
                return False
            value = np.asarray(d, dtype=np.int64)
        else:
            if not t.is_static:
                return False
            value = np.asarray(t.shape, dtype=np.int64)
        rewriter.replace(op, [rewriter.builder(op).constant(value)])
        return True


def _sum_to_axes(x_shape: tuple, like_shape: tuple) -> tuple[list[int], list[int]] | None:
    """Statically decided ``sum_to``: (leading axes to drop, aligned axes summed with keepdims), or None."""
    lead = len(x_shape) - len(like_shape)
    keep_summed: list[int] = []
    for k, t in enumerate(like_shape):
        d = x_shape[lead + k]
        if t == 1:
            if d != 1:
                keep_summed.append(lead + k)
        elif t is None and d != 1:
            return None  # like's dim may be 1 at run time (then x is summed there) or not
    return list(range(lead)), keep_summed


class StaticSumTo(RewritePattern):
    """``sum_to(x, like)`` decided from static shapes: ``x`` itself, or a plain ``sum`` + dimshuffle.

    ``sum_to`` sums the leading axes ``like`` lacks and the axes where ``like`` has size 1; when
    every such axis is known statically it is ``sum(x, axes)`` with the size-1 axes put back.
    """

    ops = ("tir.sum_to",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, like = op.operands
        if same_shape(x, like) and x.type.dtype == op.results[0].type.dtype:
            rewriter.replace(op, [x])
            return True
        decided = _sum_to_axes(x.type.shape, like.type.shape)
        if decided is None:
            return False
        lead, ones = decided
        if not lead and not ones:
            rewriter.replace(op, [x])
            return True
        b = rewriter.builder(op)
        axes = tuple(lead + ones)
        summed = b.op("tir.sum", x, axis=axes, keepdims=False)
        summed = cast_to(b, summed, op.results[0].type.dtype)
        if ones:
            kept = [a for a in range(x.type.ndim) if a not in axes]
            pattern: list[int] = []
            k = 0
            for a in range(len(lead), x.type.ndim):
                if a in ones:
                    pattern.append(-1)
                else:
                    pattern.append(k)
                    k += 1
            assert k == len(kept)
            summed = b.op("tir.dimshuffle", summed, pattern=tuple(pattern))
        rewriter.replace(op, [summed])
        return True


class UselessBroadcast(RewritePattern):
    """``broadcast_like(x, like) -> x`` when ``like`` broadcasts into ``x`` (nothing to broadcast)."""

    ops = ("tir.broadcast_like",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, like = op.operands
        if x.type.ndim == op.results[0].type.ndim and absorbs(x, [like]):
            rewriter.replace(op, [x])
            return True
        return False


class SumOfBroadcast(RewritePattern):
    """``sum(broadcast_like(s, like)) -> s * size(like)`` for a scalar ``s`` summed over every axis.

    An empty ``like`` sums to 0, where ``s * 0`` is nan for an infinite or nan ``s``: unless the
    size is statically nonzero, the product is ``switch(size > 0, s * size, 0)``.
    """

    ops = ("tir.sum",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        bcast = defining(op.operands[0], "tir.broadcast_like")
        if bcast is None or bcast.operands[0].type.ndim != 0:
            return False
        full = bcast.results[0]
        if reduced_axes(op.attributes["axis"], full.type.ndim) != tuple(range(full.type.ndim)):
            return False
        b = rewriter.builder(op)
        dtype = op.results[0].type.dtype
        s = cast_to(b, bcast.operands[0], dtype)
        count = reduced_count(b, full, None, dtype)
        total = b.op("tir.mul", s, count.v)
        static = constant_value(count.v)
        if static is None or not np.all(static > 0):
            zero = b.constant(np.zeros((), dtype=dtype))
            total = count.gt(zero).where(total, zero).v
        if op.attributes["keepdims"]:
            total = b.op("tir.dimshuffle", total, pattern=(-1,) * full.type.ndim)
        rewriter.replace(op, [total])
        return True


class UselessReduction(RewritePattern):
    """A reduction over no axes, or only over static size-1 axes, is its operand (those axes dropped).

    ``sum(x, axis=()) = x``; ``max(x, axis=k) = x`` without axis ``k`` when ``x.shape[k] == 1``.
    """

    ops = ("tir.sum", "tir.prod", "tir.max", "tir.min", "tir.mean")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = op.operands[0]
        result = op.results[0]
        if result.type.dtype != x.type.dtype:
            return False
        axes = reduced_axes(op.attributes["axis"], x.type.ndim)
        if any(x.type.shape[a] != 1 for a in axes):
            return False
        if op.attributes["keepdims"] or not axes:
            rewriter.replace(op, [x])
            return True
        pattern = tuple(a for a in range(x.type.ndim) if a not in axes)
        rewriter.replace(op, [rewriter.builder(op).op("tir.dimshuffle", x, pattern=pattern)])
        return True


class SumOfSum(RewritePattern):
    """``sum(sum(x, a), b) -> sum(x, a + b')`` where ``b'`` are ``b``'s axes as axes of ``x``."""

    ops = ("tir.sum",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = defining(op.operands[0], "tir.sum")
        if (
            inner is None
            or inner.attributes["keepdims"]
            or op.attributes["keepdims"]
            or len(inner.results[0].uses) != 1
        ):
            return False
        x = inner.operands[0]
        if inner.results[0].type.dtype != x.type.dtype:
            return False
        first = reduced_axes(inner.attributes["axis"], x.type.ndim)
        remaining = [a for a in range(x.type.ndim) if a not in first]
        second = reduced_axes(op.attributes["axis"], len(remaining))
        axes = tuple(sorted(set(first) | {remaining[a] for a in second}))
        b = rewriter.builder(op)
        rewriter.replace(op, [b.op("tir.sum", x, axis=axes, keepdims=False)])
        return True


class ConstantSwitch(RewritePattern):
    """``switch(c, a, b) -> a`` (or ``b``) for a constant ``c``; ``switch(c, a, a) -> a``."""

    ops = ("tir.switch",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        c, a, b = op.operands
        result = op.results[0]
        chosen: Value | None = None
        if a is b:
            chosen = a
        else:
            value = scalar_constant(c)
            if value is not None:
                chosen = a if value else b
        if chosen is None or chosen.type.dtype != result.type.dtype:
            return False
        if not absorbs(chosen, [v for v in op.operands if v is not chosen]):
            return False
        rewriter.replace(op, [chosen])
        return True


class ShapeOnlyOperand(RewritePattern):
    """Operands read only for their shape (``sum_to``/``broadcast_like``'s ``like``, ``shape``,
    ``shape_i``) are replaced by an earlier value of the same shape, so what computed them may die:
    ``sum_to(g, x + b) -> sum_to(g, x)`` when ``b`` broadcasts into ``x``."""

    ops = ("tir.sum_to", "tir.broadcast_like", "tir.shape", "tir.shape_i")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        changed = False
        for i in op.opdef.shape_operands:
            like = op.operands[i]
            source = shape_source(like)
            if source is not like:
                op.set_operand(i, source)
                rewriter.push(like.owner)
                changed = True
        rewriter.changed |= changed
        return changed


class NestedSumTo(RewritePattern):
    """``sum_to(sum_to(g, y), x) -> sum_to(g, x)`` when ``x`` is an operand of the elementwise op
    computing ``y`` (or ``y`` itself): ``x`` then broadcasts into ``y``, which broadcasts into ``g``,
    and summing over the axes of ``y``'s broadcast and then of ``x``'s is summing over ``x``'s.

    The gradient of ``z = (a + p) + b`` reads ``a + p`` only for this; with the shortcut the two
    adds fuse into one kernel (an LSTM's backward loop recomputes its gate inputs so).
    """

    ops = ("tir.sum_to",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner, x = op.operands
        nested = defining(inner, "tir.sum_to")
        if nested is None:
            return False
        g, y = nested.operands
        producer = y.owner
        if x is not y and (producer is None or producer.opdef.fusion != "elementwise"
                           or all(v is not x for v in producer.operands)):
            return False
        op.set_operand(0, g)
        rewriter.push(nested)
        rewriter.changed = True
        return True


_WRITES = ("tir.inc_subtensor", "tir.set_subtensor", "tir.advanced_inc_subtensor", "tir.advanced_set_subtensor")


def _shape_root(v: Value) -> Value:
    """The earliest value provably of ``v``'s shape: through index writes (their result has the
    written tensor's shape), broadcasts of a scalar (``like``'s shape) and :func:`shape_source`."""
    while True:
        op = v.owner
        if op is not None and op.name in _WRITES:
            v = op.operands[0]
        elif op is not None and op.name == "tir.broadcast_like" and op.operands[0].type.ndim == 0:
            v = op.operands[1]
        else:
            source = shape_source(v)
            if source is v:
                return v
            v = source


def _zeros_of_shape(v: Value) -> bool:
    """Whether ``v`` is a scalar zero broadcast to a shape (the zeros the gradient builds)."""
    op = defining(v, "tir.broadcast_like")
    return op is not None and op.operands[0].type.ndim == 0 and is_constant(op.operands[0], 0)


class SerializeIncrements(RewritePattern):
    """``inc(a, b, i) + q -> inc(a + q, b, i)`` when ``q`` provably has ``a``'s shape (Theano's
    ``local_IncSubtensor_serialize``). The gradient of slicing a tensor into parts (an LSTM's four
    gates) is a sum of increments of zeros, each a full-size copy; serialized, it is one chain
    of writes into one buffer, which the runtime does in place."""

    ops = ("tir.add",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0].type
        for p, q in (op.operands, tuple(reversed(op.operands))):
            inc = defining(p, "tir.inc_subtensor")
            if inc is None or p.type != result or q.type.dtype != result.dtype or q.type.ndim != result.ndim:
                continue
            a = inc.operands[0]
            if _shape_root(a) is not _shape_root(q):
                continue
            b = rewriter.builder(op)
            base = b.op("tir.add", a, q)
            rewriter.replace(op, [b.op("tir.inc_subtensor", base, *inc.operands[1:], **inc.attributes)])
            return True
        return False


class AddZerosOfShape(RewritePattern):
    """``x + zeros_like(y) -> x`` when ``y`` provably has ``x``'s shape and dtype (what is left of
    :class:`SerializeIncrements` on the gradient's zeros)."""

    ops = ("tir.add",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0].type
        for x, z in (op.operands, tuple(reversed(op.operands))):
            if x.type == result and _zeros_of_shape(z) and _shape_root(x) is _shape_root(z):
                rewriter.replace(op, [x])
                return True
        return False


GRADIENT_STOPS = ("tir.zero_grad", "tir.disconnected_grad", "tir.grad_clip", "tir.grad_scale")


class ForwardIdentity(RewritePattern):
    """Gradient stops are the identity forward: ``zero_grad(x) -> x`` once no ``tir.grad`` is left."""

    ops = GRADIENT_STOPS

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        rewriter.replace(op, [op.operands[0]])
        return True


#: Identities that hold for finite values only (they change how nan and inf propagate): applied
#: only when the pass's ``fast_math`` option (the ``fast_math`` config flag) allows it.
FAST_MATH_PATTERNS: tuple[type[RewritePattern], ...] = (SubSelf,)


def canonicalization_patterns(max_elements: int = DEFAULT_MAX_ELEMENTS, fold: bool = True,
                              fast_math: bool = False) -> list[RewritePattern]:
    patterns: list[RewritePattern] = [
        ConstantsRight(),
        NeutralElement(),
        *(cls() for cls in FAST_MATH_PATTERNS if fast_math),
        DoubleNegation(),
        ExpLog(),
        MergeDimshuffles(),
        SimplifyReshape(),
        UselessCast(),
        StaticShape(),
        ShapeOnlyOperand(),
        NestedSumTo(),
        StaticSumTo(),
        UselessBroadcast(),
        SumOfBroadcast(),
        UselessReduction(),
        SumOfSum(),
        ConstantSwitch(),
        SerializeIncrements(),
        AddZerosOfShape(),
    ]
    if fold:
        patterns.append(FoldConstant(max_elements))
    return patterns


@dataclass
class CanonicalizePass(PatternPass):
    """Normal form and algebraic identities, with constant folding in the same worklist."""

    name = "canonicalize"
    summary = ("normal form and identities (x*1, x+0, -(-x), casts, reshapes, dimshuffles, static shapes; "
               "x-x under fast_math)")
    fold: bool = True
    max_elements: int = DEFAULT_MAX_ELEMENTS
    #: also the identities that hold only for finite values (:data:`FAST_MATH_PATTERNS`)
    fast_math: bool = False

    def patterns(self) -> list[RewritePattern]:
        return canonicalization_patterns(self.max_elements, self.fold, self.fast_math)

    def run(self, func: Operation) -> bool:
        patterns = self.patterns()
        if not any(op.name == "tir.grad" for op in walk(func)):
            patterns.append(ForwardIdentity())
        from tensorir.passes.rewriter import apply_patterns

        return apply_patterns(func, patterns)


__all__ = ["FAST_MATH_PATTERNS", "CanonicalizePass", "canonicalization_patterns"]
