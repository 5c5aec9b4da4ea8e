"""Loop-invariant code motion for ``tir.scan`` (Theano's ``PushOutNonSeqScan``).

A body op that reads only non-sequences and constants computes the same value at every step:

    scan(x_t, h; W) = g(x_t, h, f(W))   ->   F = f(W);  scan(x_t, h; W, F) = g(x_t, h, F)

so it runs once, before the loop, and its value comes in as a new non-sequence. The backward scans
that ``autodiff`` builds are the usual source (the transposes and casts of the weights, the
constant parts of the cotangents). Only pure ops move (an op with effects must run at each step).
A transpose that only loop ops read stays inside: it is a free view there, and BLAS reads it in
place. A loop that runs zero steps still computes the hoisted values once (as in Theano).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Operation, Value
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import (
    INVARIANT,
    ScanEditor,
    boundary_values,
    classify,
    clone_before,
    gradient_pending,
    trim_free_views,
)


class HoistLoopInvariants(RewritePattern):
    """``scan(..; W)`` computing ``f(W)`` at each step -> ``F = f(W)`` once, passed in as a non-sequence."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if gradient_pending(op):
            return False
        editor = ScanEditor.of(op)
        kinds = classify(editor)
        hoisted = trim_free_views([o for o in editor.body if kinds[id(o)] == INVARIANT])
        if not hoisted:
            return False
        value_map: dict[Value, Value] = {s.arg: s.value for s in editor.nonsequences}
        clone_before(rewriter.builder(op), hoisted, value_map)
        for v in boundary_values(hoisted):
            editor.replace(v, editor.add_nonsequence(value_map[v], v.type))
        editor.build(rewriter)
        editor.commit(rewriter)
        return True


@dataclass
class ScanHoistPass(PatternPass):
    """Loop-invariant code motion: body ops reading only non-sequences run once, before the loop."""

    name = "scan-hoist"
    summary = "loop-invariant code motion: scan body ops that read only non-sequences run once, before the loop"

    def patterns(self) -> list[RewritePattern]:
        return [HoistLoopInvariants()]
