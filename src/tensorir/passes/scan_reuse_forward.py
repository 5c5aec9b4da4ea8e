"""A backward loop reads the products its forward loop computed instead of computing them again.

The vjp of ``tir.scan`` is a loop that recomputes the forward step from the stored state buffers
(``control_autodiff``): step ``t`` of the backward loop reads row ``t + w + k`` of a state buffer
for tap ``k``, which is what step ``t`` of the forward loop read, so a backward body value built
by the same ops from the same rows, non-sequences and constants is the forward body value of the
same step. For a matrix product among them that depends on the recurrence (``h_{t-1} W_h`` of an
RNN: it cannot run before the forward loop, and would be one more product per backward step or
one big product over all steps), the forward loop yields it as a new per-step output and the
backward loop reads that output as a sequence:

    fwd: d_t = dot(h_{t-1}, W)  (kept, n rows)      bwd: d_t = D[t]  (no product)

The rest of the recomputation (elementwise) stays in the backward loop, where it fuses with the
gradient's own elementwise work on rows that are still in cache (``scan-push-seq`` moves it out
only where it feeds a product). Conditions: the forward loop runs forward (no
``reverse``), the backward loop runs exactly its steps (its ``n_steps`` is the forward buffer's
length minus its window, as the vjp builds it, or the same constant), and rows line up (the
backward loop reads the buffer with the forward taps' alignment).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.tir.control import seq_shift
from tensorir.passes.cse import freeze
from tensorir.passes.matching import defining, scalar_constant
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import VARIANT, ScanEditor, classify, gradient_pending

#: ops worth storing a result of per step rather than computing again
PRODUCTS = frozenset({"tir.dot", "tir.matmul", "tir.tensordot", "tir.batched_dot", "tir.batched_tensordot",
                      "tir.gemm", "tir.gemv", "tir.ger", "tir.conv2d"})


def _key(op: Operation, operands: list[Value]) -> Hashable:
    attrs = tuple(sorted((k, freeze(v)) for k, v in op.attributes.items()))
    return (id(op.opdef), tuple(id(v) for v in operands), attrs)


def _runs_same_steps(fwd: ScanEditor, bwd: ScanEditor) -> bool:
    """Whether the backward loop runs exactly the forward loop's steps."""
    if bwd.n_steps is fwd.n_steps and fwd.constant_steps() is not None:
        return True
    sub = defining(bwd.n_steps, "tir.sub")
    if sub is None:
        return False
    length = defining(sub.operands[0], "tir.shape_i")
    if length is None or length.attributes["i"] != 0:
        return False
    buffer = length.operands[0]
    for state in fwd.states:
        if state.result is buffer:
            return scalar_constant(sub.operands[1]) == -state.taps[0]
    return False


def _match(fwd: ScanEditor, bwd: ScanEditor) -> dict[int, Value]:
    """Backward body value id -> the forward body value of the same step."""
    same: dict[int, Value] = {}
    for seq in bwd.sequences:
        owner = seq.value.owner
        if owner is fwd.op:
            state = next((s for s in fwd.states if s.result is seq.value), None)
            if state is None or seq_shift(seq.taps) != -state.taps[0]:
                continue
            for k, arg in zip(seq.taps, seq.args):
                if k in state.taps:
                    same[id(arg)] = state.args[state.taps.index(k)]
            continue
        for fseq in fwd.sequences:
            if fseq.value is seq.value:
                offsets = {fseq.offset(i): a for i, a in enumerate(fseq.args)}
                for i, arg in enumerate(seq.args):
                    if seq.offset(i) in offsets:
                        same[id(arg)] = offsets[seq.offset(i)]
    fwd_nonseq = {id(s.value): s.arg for s in fwd.nonsequences}
    for ns in bwd.nonsequences:
        if id(ns.value) in fwd_nonseq:
            same[id(ns.arg)] = fwd_nonseq[id(ns.value)]
    table: dict[Hashable, Operation] = {}
    for o in fwd.body:
        if o.opdef.pure and not o.regions:
            table.setdefault(_key(o, o.operands), o)
    for o in bwd.body:
        if o.regions or not o.opdef.pure or not all(id(v) in same for v in o.operands):
            continue
        twin = table.get(_key(o, [same[id(v)] for v in o.operands]))
        if twin is not None and len(twin.results) == len(o.results):
            same.update((id(r), t) for r, t in zip(o.results, twin.results))
    return same


class ReuseForwardProducts(RewritePattern):
    """A backward loop recomputing ``dot(h_{t-1}, W)`` of its forward loop reads it, stored, instead."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if gradient_pending(op):
            return False
        bwd = ScanEditor.of(op)
        owners = {id(s.value.owner): s.value.owner for s in bwd.sequences
                  if s.value.owner is not None and s.value.owner.name == "tir.scan"}
        for forward_op in owners.values():
            assert forward_op is not None
            if forward_op.attributes["reverse"] or gradient_pending(forward_op):
                continue
            fwd = ScanEditor.of(forward_op)
            if not _runs_same_steps(fwd, bwd):
                continue
            same = _match(fwd, bwd)
            fwd_kinds = classify(fwd)
            stored = [(v, same[id(v)]) for o in bwd.body if o.name in PRODUCTS for v in o.results
                      if id(v) in same and same[id(v)].owner is not None and fwd_kinds[id(same[id(v)])] == VARIANT]
            if not stored:
                continue
            outputs = {}
            for _, twin in stored:
                if id(twin) not in outputs:
                    outputs[id(twin)] = fwd.add_output(twin)
            fwd.build(rewriter)
            fwd.commit(rewriter)
            bwd = ScanEditor.of(op)  # its operands now read the new forward loop
            for v, twin in stored:
                rows = outputs[id(twin)].new_result
                assert rows is not None
                (arg,) = bwd.add_sequence(rows, (0,), [v.type])
                bwd.replace(v, arg)
            bwd.build(rewriter)
            bwd.commit(rewriter)
            return True
        return False


@dataclass
class ScanReuseForwardPass(PatternPass):
    """Backward loops read the per-step products of their forward loop instead of recomputing them."""

    name = "scan-reuse-forward"
    summary = "a backward scan reads the products its forward scan computed (stored per step) instead of recomputing"

    def patterns(self) -> list[RewritePattern]:
        return [ReuseForwardProducts()]
