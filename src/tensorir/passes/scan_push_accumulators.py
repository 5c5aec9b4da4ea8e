"""Sums carried through a loop, done after it (Theano's ``PushOutScanOutput`` and ``PushOutDot1``).

A recurrent output ``acc_t = acc_{t-1} + f_t`` whose addend ``f_t`` does not read ``acc`` and whose
only use is its last value (``keep == 1``) is a plain sum:

    acc_n = acc_0 + sum_t f_t

so ``f`` becomes a per-step output and the sum runs once, after the loop. When the addend is a
matrix product ``f_t = dot(p_t, q_t)`` the sum of products is one product of the stacked rows:

    sum_t p_t q_t = [p_0 .. p_{n-1}] [q_0; ..; q_{n-1}] = P^T Q   with P, Q of shape (n*b, k), (n*b, m)

for ``p_t = u_t^T`` (``u_t`` of shape ``(b, k)``), an outer product ``col(u_t) row(v_t)`` (b = 1),
or any ``(k, b)`` matrix (transposed once after the loop). The loop then keeps only the factors
it computes (a factor that is a sequence row is read from the sequence itself) and BLAS does one
big gemm instead of one small one per step: this is what makes each weight gradient of
back-propagation through time a single gemm. Loops with ``until`` are left alone (the rows of a
sequence that the loop read are then not known before it runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import types_compatible
from tensorir.dialects.tir.shape import dim_of, reshape_to
from tensorir.passes.matching import defining
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import (
    CONSTANT,
    INVARIANT,
    OutputSlot,
    ScanEditor,
    StateSlot,
    classify,
    gradient_pending,
    int64,
)


def _addend(slot: StateSlot) -> Value | None:
    """``f`` when the state's update is ``acc + f`` (or ``f + acc``) and nothing else reads ``acc``."""
    if slot.taps != (-1,) or slot.keep != 1:
        return None
    (acc,) = slot.args
    add = defining(slot.update, "tir.add")
    if add is None or len(acc.uses) != 1 or len(slot.update.uses) != 1:
        return None
    x, y = add.operands
    f = y if x is acc else x if y is acc else None
    if f is None or f is acc or f.type.dtype != acc.type.dtype or not types_compatible(f.type, acc.type):
        return None
    return f


@dataclass
class _Factor:
    """One factor of a product summed over the steps: per step ``(b, k)`` rows (or ``(k,)``, b = 1)."""

    value: Value  # the body value whose rows are stacked
    transpose: bool  # the step's factor is ``value`` transposed ((k, b) -> stored as (b, k))
    output: OutputSlot | None = None
    sequence: tuple[Value, int] | None = None  # (sequence, offset) when ``value`` is a sequence row


def _left_factor(p: Value) -> _Factor:
    """``p_t`` of shape (k, b) as rows of shape (b, k): ``u^T``, ``col(u)`` or ``p`` transposed."""
    op = defining(p, "tir.dimshuffle")
    if op is not None:
        u = op.operands[0]
        pattern = op.attributes["pattern"]
        if (pattern == (1, 0) and u.type.ndim == 2) or (pattern == (0, -1) and u.type.ndim == 1):
            return _Factor(u, False)
    return _Factor(p, True)


def _right_factor(q: Value) -> _Factor:
    """``q_t`` of shape (b, m) as rows: ``q`` itself or ``row(v)``."""
    op = defining(q, "tir.dimshuffle")
    if op is not None and op.attributes["pattern"] == (-1, 0) and op.operands[0].type.ndim == 1:
        return _Factor(op.operands[0], False)
    return _Factor(q, False)


class PushOutAccumulators(RewritePattern):
    """``acc_t = acc_{t-1} + f_t`` with only ``acc_n`` used -> ``acc_0 + sum_t f_t`` after the loop."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.attributes["until"] or gradient_pending(op):
            return False
        editor = ScanEditor.of(op)
        sums = [(s, f) for s in editor.states if (f := _addend(s)) is not None]
        if not sums:
            return False
        kinds = classify(editor)
        taps = editor.sequence_of()
        plans: list[tuple[StateSlot, list[_Factor] | OutputSlot]] = []
        for slot, f in sums:
            factors = self._product_factors(f, kinds)
            if factors is None:
                plans.append((slot, editor.add_output(f)))
                continue
            for factor in factors:
                if id(factor.value) in taps:
                    seq, i = taps[id(factor.value)]
                    factor.sequence = (seq.value, seq.offset(i))
            if all(factor.sequence is not None for factor in factors):
                factors[1].sequence = None  # one factor comes out of the loop: it tells how many steps ran
            for factor in factors:
                if factor.sequence is None:
                    factor.output = editor.add_output(factor.value)
            plans.append((slot, factors))
        for slot, _ in plans:
            editor.drop(slot)
        editor.build(rewriter)
        b = editor.after(rewriter)
        for slot, plan in plans:
            total = self._sum(b, plan) if isinstance(plan, OutputSlot) else self._product(b, plan)
            slot.replacement = self._final(b, slot, total)
        editor.commit(rewriter)
        return True

    @staticmethod
    def _product_factors(f: Value, kinds: dict[int, int]) -> list[_Factor] | None:
        """The two factors of ``f = dot(p, q)`` (matrices that change with the step), else None."""
        op = defining(f, "tir.dot")
        if op is None or any(v.type.ndim != 2 for v in op.operands):
            return None
        if any(kinds.get(id(v)) in (CONSTANT, INVARIANT) for v in op.operands):
            return None  # u^T sum_t q_t is cheaper as a plain sum
        return [_left_factor(op.operands[0]), _right_factor(op.operands[1])]

    @staticmethod
    def _sum(b: Builder, out: OutputSlot) -> Value:
        assert out.new_result is not None
        return b.op("tir.sum", out.new_result, axis=(0,), keepdims=False)

    @staticmethod
    def _product(b: Builder, factors: list[_Factor]) -> Value:
        steps = next(f.output.new_result for f in factors if f.output is not None)
        assert steps is not None
        n = b.op("tir.shape_i", steps, i=0)
        flat: list[Value] = []
        for f in factors:
            if f.output is not None:
                rows = f.output.new_result
                assert rows is not None
            else:
                assert f.sequence is not None
                seq, offset = f.sequence
                start = int64(b, offset)
                rows = b.op("tir.slice_leading", seq, start, b.op("tir.add", start, n) if offset else n)
            if f.transpose:  # (n, k, b) -> (n, b, k)
                rows = b.op("tir.dimshuffle", rows, pattern=(0, 2, 1))
            if rows.type.ndim == 3:
                rows = reshape_to(b, rows, [-1, dim_of(b, rows, 2)])
            flat.append(rows)
        return b.op("tir.dot", b.op("tir.dimshuffle", flat[0], pattern=(1, 0)), flat[1])

    @staticmethod
    def _final(b: Builder, slot: StateSlot, total: Value) -> Value:
        """``acc_0 + total`` with the result's leading axis of one row."""
        init = slot.init
        if init.type.shape[0] == 1:
            first = b.op("tir.dimshuffle", init, pattern=tuple(range(1, init.type.ndim)))
        else:
            first = b.op("tir.subtensor", init, index="0")
        if total.type.dtype != first.type.dtype:
            total = b.op("tir.cast", total, dtype=first.type.dtype)
        final = b.op("tir.add", first, total)
        return b.op("tir.dimshuffle", final, pattern=(-1, *range(final.type.ndim)))


@dataclass
class ScanPushOutAccumulatorsPass(PatternPass):
    """Sums carried through a scan (only their last value used) are done after it; products as one gemm."""

    name = "scan-push-acc"
    summary = "sums carried through a scan become per-step outputs summed after it (a sum of products: one gemm)"

    def patterns(self) -> list[RewritePattern]:
        return [PushOutAccumulators()]

