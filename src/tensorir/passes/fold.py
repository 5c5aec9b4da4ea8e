"""Constant folding through the ops' reference implementations.

An op whose operands are all constants computes the same array at every call, so it is run once
at compile time and replaced by a ``tir.constant``: ``f(c_1, ..., c_n) -> constant(f(c_1, ..., c_n))``.
Only pure ops without regions are folded, and only when every result has at most
``max_elements`` elements (big constants cost memory in the module and a copy per call). An op
whose reference raises (an error the program would raise at run time) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.interpret import EvaluationError, run_op
from tensorir.dialects.ir import Operation
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern

#: results with more elements than this stay computed at run time.
DEFAULT_MAX_ELEMENTS = 1 << 16


def foldable(op: Operation, max_elements: int) -> bool:
    """Whether ``op`` may be folded (pure, no regions, all operands constant, small static results)."""
    if op.opdef is CONSTANT or not op.opdef.pure or op.regions or not op.results or op.opdef.fusion == "control":
        return False
    if not op.operands:
        return False  # zero-operand ops (sources) are left to their own canonical forms
    for v in op.operands:
        owner = v.owner
        if owner is None or owner.opdef is not CONSTANT:
            return False
    for r in op.results:
        if r.type.is_static and int(np.prod(r.type.shape)) > max_elements:
            return False
    return True


def fold(op: Operation, max_elements: int = DEFAULT_MAX_ELEMENTS) -> list[np.ndarray] | None:
    """The arrays ``op`` computes from its constant operands, or None when it must not be folded."""
    if not foldable(op, max_elements):
        return None
    inputs = [v.owner.attributes["value"] for v in op.operands]  # type: ignore[union-attr]
    try:
        with np.errstate(all="ignore"):
            outputs = run_op(op, inputs)
    except (EvaluationError, NotImplementedError, ArithmeticError, ValueError, TypeError, IndexError):
        return None
    if any(np.asarray(out).size > max_elements for out in outputs):
        return None
    return [np.asarray(out) for out in outputs]


class FoldConstant(RewritePattern):
    """``f(constants...) -> constant``."""

    def __init__(self, max_elements: int = DEFAULT_MAX_ELEMENTS) -> None:
        self.max_elements = max_elements

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        outputs = fold(op, self.max_elements)
        if outputs is None:
            return False
        b = rewriter.builder(op)
        new = []
        for r, arr in zip(op.results, outputs):
            if arr.dtype.name != r.type.dtype:
                arr = arr.astype(r.type.dtype)
            new.append(b.constant(arr))
        rewriter.replace(op, new)
        return True


@dataclass
class FoldPass(PatternPass):
    """Evaluate ops whose operands are all constants (up to ``max_elements`` per result)."""

    name = "fold"
    summary = "constant folding through the ops' reference implementations (size-limited)"
    max_elements: int = DEFAULT_MAX_ELEMENTS

    def patterns(self) -> list[RewritePattern]:
        return [FoldConstant(self.max_elements)]
