"""BLAS rewrites: matrix products with their scalings and accumulations folded in (Theano's BlasOpt).

- ``dot(A, B) -> gemm(0, 1, A, B, 0)`` for matrices, a transposed operand read in place
  (``dot(x.T, y) -> gemm(.., x, y, .., trans_a)``); ``dot(col(x), row(y)) -> ger(0, 1, x, y)``.
- ``s * P -> P'`` with ``alpha' = s*alpha``, ``beta' = s*beta`` for a scalar ``s`` and a product
  ``P`` (``gemm``/``gemv``/``ger``) used once; ``-P`` likewise with ``s = -1``.
- ``P + beta*c -> gemm(c, alpha, A, B, beta)`` when ``P`` accumulates nothing yet (its ``beta``
  is 0); ``c - P`` and ``P - c`` with the signs folded into ``alpha`` and ``beta``.
- ``c + P -> P(c + beta*q, ..., 1)`` when ``P`` accumulates a product ``q`` (which then takes
  ``c`` in turn): a chain of products accumulating into one another starts from ``c``.
- ``P(P(c, alpha, A1, B1, ..), alpha, A2, B2, 1) -> P(c, alpha, [A1; A2], [B1; B2], ..)`` for
  products over rows (``A.T @ B``): one pass over ``c`` for a weight's two gradient products.
- ``P.T -> P'`` with the operands swapped and their transposes flipped, for a ``gemm`` ``P``
  that accumulates nothing.

So ``alpha*dot(a, b) + beta*c`` is one ``gemm``, and the SGD update ``W - lr*dot(x.T, dy)`` is
``gemm(W, -lr, x, dy, 1, trans_a)``, which the ``memory`` pass may then run in place in ``W``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.types import FLOAT_DTYPES
from tensorir.passes.matching import defining, is_constant, negate, scalar_constant
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern

PRODUCTS = ("tir.gemm", "tir.gemv", "tir.ger")
# operand positions: (accumulated, alpha, beta or None)
_LAYOUT = {"tir.gemm": (0, 1, 4), "tir.gemv": (0, 1, 4), "tir.ger": (0, 1, None)}


def _transposed(v: Value) -> Value | None:
    """``x`` when ``v = x.T`` for a matrix ``x``."""
    op = defining(v, "tir.dimshuffle")
    if op is not None and op.attributes["pattern"] == (1, 0):
        return op.operands[0]
    return None


def _vector_as(v: Value, pattern: tuple[int, ...]) -> Value | None:
    op = defining(v, "tir.dimshuffle")
    if op is not None and op.attributes["pattern"] == pattern and op.operands[0].type.ndim == 1:
        return op.operands[0]
    return None


def _scale(b: Builder, s: Value, factor: Value) -> Value:
    """``s * factor`` without multiplying by a constant one."""
    if is_constant(s, 1):
        return factor
    if is_constant(factor, 1):
        return s
    return b.op("tir.mul", s, factor)


def _accumulates_nothing(op: Operation) -> bool:
    acc, _, beta = _LAYOUT[op.name]
    if beta is not None:
        return is_constant(op.operands[beta], 0)
    return is_constant(op.operands[acc], 0)


class DotToBlas(RewritePattern):
    """``dot(A, B) -> gemm`` for float matrices (transposes read in place); outer products -> ``ger``."""

    ops = ("tir.dot",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        a, bm = op.operands
        dtype = op.results[0].type.dtype
        if a.type.ndim != 2 or bm.type.ndim != 2 or dtype not in FLOAT_DTYPES:
            return False
        if a.type.dtype != dtype or bm.type.dtype != dtype or not rewriter.has_op("tir.gemm"):
            return False
        b = rewriter.builder(op)
        zero = b.constant(np.zeros((), dtype=dtype))
        one = b.constant(np.ones((), dtype=dtype))
        x, y = _vector_as(a, (0, -1)), _vector_as(bm, (-1, 0))
        if x is not None and y is not None:
            rewriter.replace(op, [b.op("tir.ger", zero, one, x, y)])
            return True
        at, bt = _transposed(a), _transposed(bm)
        rewriter.replace(
            op,
            [
                b.op(
                    "tir.gemm",
                    zero,
                    one,
                    at if at is not None else a,
                    bt if bt is not None else bm,
                    zero,
                    trans_a=at is not None,
                    trans_b=bt is not None,
                )
            ],
        )
        return True


def _product_used_once(v: Value) -> Operation | None:
    op = defining(v, *PRODUCTS)
    if op is None or len(v.uses) != 1:
        return None
    return op


def _rebuild(b: Builder, op: Operation, alpha: Value, beta: Value | None, acc: Value | None = None) -> Value:
    operands = list(op.operands)
    acc_i, alpha_i, beta_i = _LAYOUT[op.name]
    operands[alpha_i] = alpha
    if beta_i is not None and beta is not None:
        operands[beta_i] = beta
    if acc is not None:
        operands[acc_i] = acc
    return b.op(op.name, *operands, **op.attributes)


class ScaleProduct(RewritePattern):
    """``s * P(alpha, beta) -> P(s*alpha, s*beta)`` and ``-P -> P(-alpha, -beta)`` for scalar ``s``."""

    ops = ("tir.mul", "tir.neg")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0]
        candidates = (
            [(op.operands[0], None)]
            if op.name == "tir.neg"
            else [(op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])]
        )
        for p, s in candidates:
            prod = _product_used_once(p)
            if prod is None:
                continue
            if s is not None and (s.type.ndim != 0 or s.type.dtype != result.type.dtype):
                continue
            if p.type.dtype != result.type.dtype or p.type.ndim != result.type.ndim:
                continue
            if prod.name == "tir.ger" and not _accumulates_nothing(prod):
                continue  # ger's accumulated operand has no scale of its own
            b = rewriter.builder(op)
            _, alpha_i, beta_i = _LAYOUT[prod.name]
            alpha = prod.operands[alpha_i]
            beta = prod.operands[beta_i] if beta_i is not None else None
            if s is None:
                alpha = negate(b, alpha)
                beta = beta if beta is None or is_constant(beta, 0) else negate(b, beta)
            else:
                alpha = _scale(b, alpha, s)
                beta = beta if beta is None or is_constant(beta, 0) else _scale(b, beta, s)
            rewriter.replace(op, [_rebuild(b, prod, alpha, beta)])
            return True
        return False


def _scaled(v: Value) -> tuple[Value, Value | None]:
    """``(c, s)`` when ``v = s * c`` for a rank-0 ``s``; else ``(v, None)``."""
    op = defining(v, "tir.mul")
    if op is not None:
        x, y = op.operands
        if y.type.ndim == 0 and x.type.dtype == y.type.dtype == v.type.dtype and x.type.ndim == v.type.ndim:
            return x, y
        if x.type.ndim == 0 and x.type.dtype == y.type.dtype == v.type.dtype and y.type.ndim == v.type.ndim:
            return y, x
    return v, None


class AccumulateProduct(RewritePattern):
    """``P + beta*c -> P(c, beta)`` when ``P`` accumulates nothing; ``c - P``, ``P - c`` with signs."""

    ops = ("tir.add", "tir.sub")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0]
        x, y = op.operands
        pairs = (
            [(x, y, False, False), (y, x, False, False)]
            if op.name == "tir.add"
            else [(y, x, True, False), (x, y, False, True)]
        )
        for p, c, negate_product, negate_c in pairs:
            prod = _product_used_once(p)
            if prod is None or not _accumulates_nothing(prod):
                continue
            if p.type.dtype != result.type.dtype or c.type.dtype != result.type.dtype:
                continue
            # the product broadcasts its accumulated operand, so its shape is the sum's shape
            if p.type.ndim != result.type.ndim or c.type.ndim > p.type.ndim:
                continue
            acc, scale = _scaled(c)
            if prod.name == "tir.ger" and (scale is not None or negate_c):
                continue
            b = rewriter.builder(op)
            dtype = result.type.dtype
            _, alpha_i, _ = _LAYOUT[prod.name]
            alpha = prod.operands[alpha_i]
            if negate_product:
                alpha = negate(b, alpha)
            beta = scale if scale is not None else b.constant(np.ones((), dtype=dtype))
            if negate_c:
                beta = negate(b, beta)
            if prod.name == "tir.ger":
                rewriter.replace(op, [_rebuild(b, prod, alpha, None, acc)])
            else:
                rewriter.replace(op, [_rebuild(b, prod, alpha, beta, acc)])
            return True
        return False


class AccumulateIntoChain(RewritePattern):
    """``c + P(q, alpha, A, B, beta) -> P(c + beta*q, alpha, A, B, 1)`` (``c - P``, ``P - c`` with
    the signs) when ``q`` is itself a product used once that accumulates nothing: the new sum
    then folds into ``q`` (``AccumulateProduct``), so a chain of products accumulating into one
    another takes ``c`` at its start. A tied weight's two gradient products (``x.T @ dh``, then
    ``dz.T @ h`` into it) and its update ``W - lr * (...)`` become two products into ``W``,
    without the pass over ``W`` that a separate subtraction makes."""

    ops = ("tir.add", "tir.sub")

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        result = op.results[0]
        x, y = op.operands
        # (product, addend, the new accumulation's op and order, the product's sign):
        # c + P = (c + beta q) + alpha AB; c - P = (c - beta q) - alpha AB; P - c = (beta q - c) + alpha AB.
        cases = ([(x, y, "tir.add", False, False), (y, x, "tir.add", False, False)] if op.name == "tir.add"
                 else [(y, x, "tir.sub", False, True), (x, y, "tir.sub", True, False)])
        for p, c, combine, q_first, negated in cases:
            prod = _product_used_once(p)
            if prod is None or prod.name != "tir.gemm" or _accumulates_nothing(prod):
                continue
            q, alpha, _, _, beta = prod.operands
            inner = _product_used_once(q)
            if inner is None or not _accumulates_nothing(inner) or q.type != result.type:
                continue
            if c.type.dtype != result.type.dtype or c.type.ndim > result.type.ndim:
                continue
            b = rewriter.builder(op)
            scaled_q = q if is_constant(beta, 1) else b.op("tir.mul", beta, q)
            acc = b.op(combine, scaled_q, c) if q_first else b.op(combine, c, scaled_q)
            alpha = negate(b, alpha) if negated else alpha
            one = b.constant(np.ones((), dtype=result.type.dtype))
            rewriter.replace(op, [_rebuild(b, prod, alpha, one, acc)])
            return True
        return False


class JoinChainedProducts(RewritePattern):
    """``P(P(c, alpha, A1, B1, beta, ta), alpha, A2, B2, 1, ta) -> P(c, alpha, [A1; A2], [B1; B2],
    beta, ta)`` for ``gemm``s whose operands both run over the inner size by rows (``op(A) = A.T``,
    ``op(B) = B``: a weight's gradient ``x.T @ g``), the inner product used once and the two
    scaled alike. The sum of two products is one product over the joined inner size: a weight
    used twice (a tied autoencoder's ``W``, see ``AccumulateIntoChain``) is updated in one pass
    over it instead of two, and one rounding into it instead of two. The joins copy the two
    minibatches of rows (small beside the weight where the inner size, the batch, is small;
    about even at a batch of 256 for a 784 x 500 weight)."""

    ops = ("tir.gemm",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        q, alpha, a2, b2, beta = op.operands
        if not op.attributes["trans_a"] or op.attributes["trans_b"] or not is_constant(beta, 1):
            return False
        inner = _product_used_once(q)
        if inner is None or inner.name != "tir.gemm" or not inner.attributes["trans_a"] or inner.attributes["trans_b"]:
            return False
        c, alpha1, a1, b1, beta1 = inner.operands
        scale = scalar_constant(alpha1)
        if alpha1 is not alpha and (scale is None or scale != scalar_constant(alpha)):
            return False
        if a1.type.dtype != a2.type.dtype or b1.type.dtype != b2.type.dtype:
            return False
        b = rewriter.builder(op)
        a = b.op("tir.join", a1, a2, axis=0)
        bm = b.op("tir.join", b1, b2, axis=0)
        rewriter.replace(op, [b.op("tir.gemm", c, alpha1, a, bm, beta1, trans_a=True, trans_b=False)])
        return True


class TransposeProduct(RewritePattern):
    """``gemm(0, alpha, A, B, 0, ta, tb).T -> gemm(0, alpha, B, A, 0, not tb, not ta)``: the
    transpose of a product is the product of the transposed operands in swapped order, so no
    transposed temporary is made (nor copied when a later product accumulates into it). A weight
    used twice, once transposed (a tied autoencoder's ``W`` and ``W.T``), gets gradients
    ``x.T @ dh`` and ``(h.T @ dz).T``: now both products of one layout, the second accumulating
    into the first (``AccumulateProduct``) without an extra pass."""

    ops = ("tir.dimshuffle",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.attributes["pattern"] != (1, 0):
            return False
        prod = _product_used_once(op.operands[0])
        if prod is None or prod.name != "tir.gemm" or not _accumulates_nothing(prod):
            return False
        if not is_constant(prod.operands[0], 0) or prod.operands[0].type.ndim != 0:
            return False  # the accumulated operand would have to be transposed too
        c, alpha, a, bm, beta = prod.operands
        b = rewriter.builder(op)
        rewriter.replace(op, [b.op("tir.gemm", c, alpha, bm, a, beta, trans_a=not prod.attributes["trans_b"],
                                   trans_b=not prod.attributes["trans_a"])])
        return True


def blas_patterns() -> list[RewritePattern]:
    return [DotToBlas(), ScaleProduct(), AccumulateProduct(), AccumulateIntoChain(), JoinChainedProducts(),
            TransposeProduct()]


@dataclass
class BlasPass(PatternPass):
    """Matrix products to gemm/gemv/ger with scalars and accumulations folded in."""

    name = "blas"
    summary = "alpha*dot(a,b) + beta*c -> gemm (transposes, scalars folded in); gemv; outer products -> ger"

    def patterns(self) -> list[RewritePattern]:
        return blas_patterns()
