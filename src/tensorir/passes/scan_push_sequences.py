"""Per-step work on sequence rows, done on the whole sequences before the loop (Theano's ``PushOutSeqScan``).

A body value computed from the sequences' rows (and invariants) alone is one row per step of a
value computable before the loop:

    scan(x_t; W) = g(f(x_t, W))   ->   F = f(X, W) (all rows at once);  scan(F_t; W) = g(F_t)

- elementwise ops apply to the stacked rows directly (a row of lower rank is padded after the
  leading axis so that broadcasting lines up as in the step), but only where their result feeds
  a product that moves or is a step result: one that only the loop's ops read stays in the loop
  (:func:`_worth_pushing`);
- ``dimshuffle`` and basic ``subtensor`` gain the leading axis;
- ``dot(x_t, W)`` with a row ``x_t`` of shape ``(b, k)`` or ``(k,)`` and an invariant ``W`` is one
  product of the rows reshaped to ``(T*b, k)``, reshaped back to ``(T, b, m)``; ``dot(W, x_t)``
  with a vector row is ``X W^T``. This is what turns the input projection of an RNN (and its
  recomputation in the backward loop) into one big gemm.

Rows are aligned by position: step ``t`` reads row ``t + offset`` of a sequence (the tap plus the
sequence's shift), whatever the direction. A value computed from one sequence keeps that
sequence's rows (all of them, and is read back with the same offset), so the same computation in
the forward and the backward loop is the same outer op and CSE merges the two; values from
several sequences are cut to their common rows first. With a constant ``n_steps`` every sequence
is cut to the rows the loop reads. ``until`` loops are left alone: they may stop after a few of
many steps, and the rows they never reach would all be computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value, ancestors_topological
from tensorir.dialects.tir.indexing import format_index, parse_index
from tensorir.dialects.tir.shape import dim_of, reshape_to
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import (
    CONSTANT,
    INVARIANT,
    SEQUENCE,
    ScanEditor,
    boundary_values,
    classify,
    clone_before,
    gradient_pending,
    int64,
    trim_free_views,
)

#: elementwise ops whose result shape is not the broadcast of their operands
_NOT_BATCHABLE = frozenset({"tir.broadcast_like", "tir.alloc", "tir.constant"})


Key = frozenset[tuple[int, int]]


@dataclass(frozen=True)
class Rows:
    """A value per step as an outer tensor: step ``t`` is row ``t + offset`` of ``value``.

    ``key`` says which rows ``value`` has: ``{(id(x), o)}`` for a value computed from the rows of
    sequence ``x`` from ``o`` on (all of them, offset ``o``); for a value cut to the rows common to
    several such sources, the set of them (offset 0). Equal keys and offsets line up row for row.
    """

    value: Value
    offset: int
    key: Key


def _batchable(o: Operation, seq: list[bool]) -> bool:
    """Whether ``o`` (its operands: row values where ``seq`` is set, invariants elsewhere) has a batched form."""
    if o.opdef.fusion == "elementwise":
        return o.name not in _NOT_BATCHABLE and len(o.results) == 1
    if o.name == "tir.dimshuffle":
        return True
    if o.name == "tir.subtensor":
        return seq[0] and not any(seq[1:])
    if o.name == "tir.dot":
        a, b = (v.type.ndim for v in o.operands)
        if seq == [True, False]:
            return a in (1, 2) and b in (1, 2)
        return seq == [False, True] and a == 2 and b == 1
    return False


def _worth_pushing(pushed: list[Operation]) -> list[Operation]:
    """``pushed`` without the elementwise ops and views whose results only the loop's own ops read.

    An elementwise op costs the same arithmetic per step inside the loop, where it fuses with the ops
    that read it and its rows stay in cache; outside, its whole result is written to memory and
    read back row by row. It moves only to feed a product that moves (``x_t W``'s operands) or a
    step result (the loop then just copies rows, and a ``map`` becomes one vectorized op).
    """
    kept: set[int] = set()
    for o in reversed(pushed):
        readers = [u for r in o.results for u in r.users]
        if o.name == "tir.dot" or any(u.name == "tir.yield" or id(u) in kept for u in readers):
            kept.add(id(o))
    return [o for o in pushed if id(o) in kept]


class PushOutSequences(RewritePattern):
    """``scan`` computing ``f(x_t, W)`` at each step -> ``F = f(X, W)`` before, read as a sequence."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.attributes["until"] or gradient_pending(op):
            return False
        editor = ScanEditor.of(op)
        kinds = classify(editor)
        rows_of = editor.sequence_of()
        pushed: list[Operation] = []
        per_step: set[int] = set(rows_of)  # ids of the body values that become rows
        for o in editor.body:
            if kinds[id(o)] != SEQUENCE:
                continue
            seq = [id(v) in per_step for v in o.operands]
            invariant = [kinds.get(id(v)) in (CONSTANT, INVARIANT) for v in o.operands]
            if not all(s or i for s, i in zip(seq, invariant)) or not _batchable(o, seq):
                continue
            pushed.append(o)
            per_step.update(id(r) for r in o.results)
        pushed = trim_free_views(_worth_pushing(pushed))
        if not pushed:
            return False
        _Batcher(editor, rewriter, kinds).push(pushed)
        editor.build(rewriter)
        editor.commit(rewriter)
        return True


class _Batcher:
    """Builds the batched ops before the loop and the new sequences that replace the pushed values."""

    def __init__(self, editor: ScanEditor, rewriter: PatternRewriter, kinds: dict[int, int]) -> None:
        self.editor = editor
        self.rewriter = rewriter
        self.kinds = kinds
        self.b = rewriter.builder(editor.op)
        self.outer: dict[Value, Value] = {s.arg: s.value for s in editor.nonsequences}
        self.rows: dict[int, Rows] = {}
        self.taps = editor.sequence_of()
        self.steps = editor.constant_steps()
        self.sources: dict[int, Value] = {id(s.value): s.value for s in editor.sequences}
        # Keys hold ids (addresses); IR built from a key follows the sequences' order instead, so
        # every process emits the same ops in the same order (and hits the same cache entries).
        self.position: dict[int, int] = {id(s.value): i for i, s in enumerate(editor.sequences)}
        self.common: dict[Key, Value] = {}  # the number of rows common to a set of sources

    def _rows(self, v: Value) -> Rows | None:
        """The rows of a body value that is a sequence tap or was pushed out (None for invariants)."""
        rows = self.rows.get(id(v))
        if rows is None and id(v) in self.taps:
            slot, i = self.taps[id(v)]
            start = slot.offset(i)
            if self.steps is None:
                rows = Rows(slot.value, start, frozenset({(id(slot.value), start)}))
            else:  # a fixed step count: only the rows the loop reads
                b = self.b
                cut = b.op("tir.slice_leading", slot.value, int64(b, start), int64(b, start + self.steps))
                rows = Rows(cut, 0, frozenset({(-1, self.steps)}))
            self.rows[id(v)] = rows
        return rows

    def _common_rows(self, key: Key) -> Value:
        """min over the sources (x, o) of ``key`` of ``len(x) - o``."""
        if key not in self.common:
            b = self.b
            counts = []
            for source, start in sorted(key, key=lambda entry: (self.position[entry[0]], entry[1])):
                length = b.op("tir.shape_i", self.sources[source], i=0)
                counts.append(b.op("tir.sub", length, int64(b, start)) if start else length)
            common = counts[0]
            for c in counts[1:]:
                common = b.op("tir.minimum", common, c)
            self.common[key] = common
        return self.common[key]

    def push(self, pushed: list[Operation]) -> None:
        for o in pushed:
            results = self._batched(o)
            for r, rows in zip(o.results, results):
                self.rows[id(r)] = rows
        for v in boundary_values(pushed):
            rows = self.rows[id(v)]
            (arg,) = self.editor.add_sequence(rows.value, (rows.offset,), [v.type])
            self.editor.replace(v, arg)

    def _invariant(self, v: Value) -> Value:
        """The outer value of an invariant body value (copying its computation out when needed)."""
        if v not in self.outer:
            stop = [s.arg for s in self.editor.nonsequences]
            clone_before(self.b, ancestors_topological([v], stop=stop), self.outer)
        return self.outer[v]

    def _aligned(self, operands: list[Value]) -> list[Rows | Value]:
        """Row operands cut to their common rows (unless they line up already), invariants outside."""
        rows = [self._rows(v) for v in operands]
        present = [r for r in rows if r is not None]
        if len({(r.key, r.offset) for r in present}) > 1:
            key: Key = frozenset().union(*(r.key for r in present))
            common = self._common_rows(key)
            b = self.b
            cut: dict[tuple[int, int], Rows] = {}
            for r in present:
                if (id(r.value), r.offset) not in cut:
                    if r.offset == 0 and r.key == key:
                        value = r.value
                    else:
                        start = int64(b, r.offset)
                        stop = b.op("tir.add", start, common) if r.offset else common
                        value = b.op("tir.slice_leading", r.value, start, stop)
                    cut[(id(r.value), r.offset)] = Rows(value, 0, key)
            rows = [cut[(id(r.value), r.offset)] if r is not None else None for r in rows]
        return [r if r is not None else self._invariant(v) for r, v in zip(rows, operands)]

    def _batched(self, o: Operation) -> list[Rows]:
        b = self.b
        operands = self._aligned(list(o.operands))
        first = next(r for r in operands if isinstance(r, Rows))

        def rows(value: Value) -> list[Rows]:
            return [Rows(value, first.offset, first.key)]

        if o.name == "tir.dimshuffle":
            pattern = (0, *(p + 1 if p >= 0 else p for p in o.attributes["pattern"]))
            return rows(b.op("tir.dimshuffle", first.value, pattern=pattern))
        if o.name == "tir.subtensor":
            index = format_index((("slice", None, None, None), *parse_index(o.attributes["index"])))
            return rows(b.op("tir.subtensor", first.value, *operands[1:], index=index))
        if o.name == "tir.dot":
            return rows(_batched_dot(b, operands))
        rank = o.results[0].type.ndim
        values = []
        for v, r in zip(o.operands, operands):
            if isinstance(r, Rows):
                pad = rank - v.type.ndim  # the step broadcasts a lower-rank row from the right
                value = r.value
                if pad:
                    pattern = (0, *([-1] * pad), *range(1, v.type.ndim + 1))
                    value = b.op("tir.dimshuffle", value, pattern=pattern)
                values.append(value)
            else:
                values.append(r)
        return rows(b.op(o.opdef, *values, **o.attributes))


def _batched_dot(b: Builder, operands: list[Rows | Value]) -> Value:
    x, w = operands
    if isinstance(w, Rows):  # dot(W, x_t) with a vector row: the rows times W^T
        assert isinstance(x, Value)
        return b.op("tir.dot", w.value, b.op("tir.dimshuffle", x, pattern=(1, 0)))
    assert isinstance(x, Rows)
    rows = x.value
    if rows.type.ndim == 2:  # vector rows: (T, k) @ W
        return b.op("tir.dot", rows, w)
    flat = reshape_to(b, rows, [-1, dim_of(b, rows, 2)])
    product = b.op("tir.dot", flat, w)
    dims = [dim_of(b, rows, 0), dim_of(b, rows, 1)] + ([dim_of(b, product, 1)] if w.type.ndim == 2 else [])
    return reshape_to(b, product, dims)


@dataclass
class ScanPushOutSequencesPass(PatternPass):
    """Scan body work on sequence rows alone runs on whole sequences before the loop."""

    name = "scan-push-seq"
    summary = "per-step work on sequence rows (elementwise, dot with an invariant) runs on whole sequences first"

    def patterns(self) -> list[RewritePattern]:
        return [PushOutSequences()]
