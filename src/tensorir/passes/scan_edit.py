"""Taking a ``tir.scan`` apart into slots and building it back: what every scan rewrite shares.

A ``ScanEditor`` holds one slot per sequence, recurrent output (state), plain output and
non-sequence, each with the body values that stand for it (block arguments, or placeholders for
slots a rewrite adds). A rewrite edits the slots: adds a sequence or a non-sequence and points body
values at its placeholder, adds a per-step output, drops a slot. ``build`` then creates the new
``tir.scan`` right before the old one, moving (not cloning) the body's ops into a fresh block and
erasing the ops nothing needs any more; the rewrite may then add ops after the loop that read the
new results; ``commit`` points the old results at the new ones (or at the replacement a dropped
slot was given) and erases the old op.

The classification of body values (``classify``) says which values are the same at every step
(invariant), which are computed from the sequences' rows alone (one row per step, so the whole
computation can run before the loop), and which depend on the recurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import YIELD
from tensorir.dialects.ir import Block, FreeValue, Operation, Region, Value, clone_operation, walk
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.control import SCAN, ScanDef, ScanLayout, row_type, seq_shift, stacked_type
from tensorir.dialects.types import TensorType
from tensorir.passes.dce import eliminate_dead_code
from tensorir.passes.rewriter import PatternRewriter, RecordingBuilder, RewriteError

# Kinds of body values, ordered: an op's kind is the largest kind among its operands.
CONSTANT = 0  # constants and what is computed from constants alone
INVARIANT = 1  # the same at every step: non-sequences and what is computed from them
SEQUENCE = 2  # computed from the rows of the sequences (and invariants): one value per step
VARIANT = 3  # reads the recurrence, the step index, or has effects


@dataclass
class SequenceSlot:
    value: Value
    taps: tuple[int, ...]
    args: list[Value]  # the body value of each tap

    def offset(self, i: int) -> int:
        """Step ``t`` reads row ``t + offset(i)`` for tap ``i``."""
        return self.taps[i] + seq_shift(self.taps)


@dataclass
class StateSlot:
    init: Value
    taps: tuple[int, ...]
    args: list[Value]
    update: Value  # the yielded new value
    keep: int
    result: Value | None = None
    replacement: Value | None = None  # when dropped: what the old result becomes
    new_result: Value | None = None


@dataclass
class OutputSlot:
    update: Value  # the value yielded at each step
    keep: int
    result: Value | None = None
    replacement: Value | None = None
    new_result: Value | None = None


@dataclass
class NonSequenceSlot:
    value: Value
    arg: Value


@dataclass
class ScanEditor:
    """The parts of one (or, when merging, several) ``tir.scan`` ops, to edit and rebuild."""

    sources: list[Operation]
    n_steps: Value
    index: Value | None
    sequences: list[SequenceSlot]
    states: list[StateSlot]
    outputs: list[OutputSlot]
    nonsequences: list[NonSequenceSlot]
    until: Value | None
    body: list[Operation]
    attributes: dict[str, object]
    dropped: list[StateSlot | OutputSlot] = field(default_factory=list)
    new_op: Operation | None = None

    @classmethod
    def of(cls, op: Operation) -> ScanEditor:
        lay = ScanLayout.of(op)
        block = op.regions[0].block
        term = block.terminator
        assert term is not None
        index, seq_args, state_args, nonseq_args = lay.split_args(block.arguments)
        sequences = []
        pos = 0
        for value, taps in zip(lay.seq_operands(op), lay.seq_taps):
            sequences.append(SequenceSlot(value, taps, list(seq_args[pos : pos + len(taps)])))
            pos += len(taps)
        states = []
        pos = 0
        ys = term.operands
        for j, (init, taps) in enumerate(zip(lay.init_operands(op), lay.state_taps)):
            states.append(StateSlot(init, taps, list(state_args[pos : pos + len(taps)]), ys[j],
                                    ScanDef.keep_of(op, j), op.results[j]))
            pos += len(taps)
        outputs = [OutputSlot(ys[lay.n_state + m], ScanDef.keep_of(op, lay.n_state + m), op.results[lay.n_state + m])
                   for m in range(lay.n_nit)]
        nonseqs = [NonSequenceSlot(v, a) for v, a in zip(lay.nonseq_operands(op), nonseq_args)]
        attrs = {k: op.attributes[k] for k in ("reverse", "truncate_gradient", "name")}
        return cls([op], op.operands[0], index[0] if index else None, sequences, states, outputs, nonseqs,
                   ys[-1] if lay.until else None, list(block.operations[:-1]), attrs)

    @property
    def op(self) -> Operation:
        """The (first) op being rewritten: new ops go right before it."""
        return self.sources[0]

    # -- edits -----------------------------------------------------------------------------------
    def add_nonsequence(self, value: Value, arg_type: TensorType | None = None) -> Value:
        """The body value standing for ``value`` (an existing non-sequence, or a new one)."""
        for slot in self.nonsequences:
            if slot.value is value:
                return slot.arg
        arg = FreeValue(arg_type or value.type, value.name)
        self.nonsequences.append(NonSequenceSlot(value, arg))
        return arg

    def add_sequence(self, value: Value, taps: tuple[int, ...], arg_types: Sequence[TensorType] | None = None
                     ) -> list[Value]:
        """The body values of the taps of a sequence (an existing one with these taps, or a new one)."""
        for slot in self.sequences:
            if slot.value is value and slot.taps == taps:
                return slot.args
        types = list(arg_types) if arg_types is not None else [row_type(value.type)] * len(taps)
        args: list[Value] = [FreeValue(t) for t in types]
        self.sequences.append(SequenceSlot(value, taps, args))
        return args

    def add_output(self, update: Value, keep: int = 0) -> OutputSlot:
        """A plain output yielding ``update`` at each step (an existing one when it yields the same)."""
        for slot in self.outputs:
            if slot.update is update and slot.keep == keep:
                return slot
        slot = OutputSlot(update, keep)
        self.outputs.append(slot)
        return slot

    def replace(self, old: Value, new: Value) -> None:
        """Point every use of the body value ``old`` (yields included) at ``new``."""
        old.replace_all_uses_with(new)
        for slot in [*self.states, *self.outputs]:
            if slot.update is old:
                slot.update = new
        if self.until is old:
            self.until = new

    def drop(self, slot: StateSlot | OutputSlot, replacement: Value | None = None) -> None:
        """Remove an output; its old result becomes ``replacement`` (or must be unused)."""
        if isinstance(slot, StateSlot):
            self.states.remove(slot)
        else:
            self.outputs.remove(slot)
        slot.replacement = replacement
        self.dropped.append(slot)

    # -- questions -------------------------------------------------------------------------------
    def constant_steps(self) -> int | None:
        """``n_steps`` when it is a constant >= 0 (then the sequences do not decide the step count)."""
        owner = self.n_steps.owner
        if owner is None or owner.name != "tir.constant":
            return None
        n = int(np.asarray(owner.attributes["value"]))
        return n if n >= 0 else None

    def sequence_of(self) -> dict[int, tuple[SequenceSlot, int]]:
        """Body argument id -> (its sequence, tap position)."""
        return {id(a): (slot, i) for slot in self.sequences for i, a in enumerate(slot.args)}

    # -- rebuilding ------------------------------------------------------------------------------
    def build(self, rewriter: PatternRewriter) -> Operation:
        """Create the edited ``tir.scan`` before the old op; sets ``new_result`` of the kept slots."""
        args: list[Value] = [self.index] if self.index is not None else []
        args += [a for s in self.sequences for a in s.args]
        args += [a for s in self.states for a in s.args]
        args += [s.arg for s in self.nonsequences]
        block = Block([a.type for a in args], [a.name for a in args])
        renamed: dict[int, Value] = {}
        for old, new in zip(args, block.arguments):
            old.replace_all_uses_with(new)
            renamed[id(old)] = new
        for src in self.sources:
            src_block = src.regions[0].block
            for term in src_block.operations[-1:]:
                term.drop_operand_uses()  # what only the old yield read is dead now
            src_block.operations = []
        for o in self.body:
            block.append(o)
        ys = [s.update for s in self.states] + [s.update for s in self.outputs]
        ys += [self.until] if self.until is not None else []
        ys = [renamed.get(id(y), y) for y in ys]  # a yield of a block argument
        block.append(Operation(YIELD, ys, []))
        keep = tuple(s.keep for s in self.states) + tuple(s.keep for s in self.outputs)
        types = [_result_type(s.result, row_type(s.init.type), s.keep) for s in self.states]
        types += [_result_type(s.result, s.update.type, s.keep) for s in self.outputs]
        attrs = {**self.attributes, "seq_taps": tuple(s.taps for s in self.sequences),
                 "state_taps": tuple(s.taps for s in self.states), "keep": keep,
                 "until": self.until is not None, "with_index": self.index is not None}
        operands = [self.n_steps, *(s.value for s in self.sequences), *(s.init for s in self.states),
                    *(s.value for s in self.nonsequences)]
        new = rewriter.builder(self.op).create(SCAN, operands, attrs, [Region([block])], types)
        eliminate_dead_code(new)
        inner = {id(o) for o in walk(new)}
        for arg in _stale_args(self):
            if any(id(user) not in inner for user in arg.users):
                raise RewriteError("a scan rewrite left a use of a dropped body value")
        try:
            SCAN.verify(new)
        except IRError as exc:
            raise RewriteError(f"a scan rewrite built an invalid tir.scan: {exc}") from None
        for slot, r in zip([*self.states, *self.outputs], new.results):
            slot.new_result = r
        self.new_op = new
        return new

    def after(self, rewriter: PatternRewriter) -> Builder:
        """A builder for ops reading the new results (between the new op and the old one)."""
        return rewriter.builder(self.op)

    def commit(self, rewriter: PatternRewriter) -> None:
        """Point the old results at the new ones (or the replacements) and erase the old op(s)."""
        for slot in [*self.states, *self.outputs]:
            if slot.result is not None and slot.new_result is not None:
                rewriter.replace_value(slot.result, slot.new_result)
        for slot in self.dropped:
            if slot.result is not None and slot.replacement is not None:
                rewriter.replace_value(slot.result, slot.replacement)
        for src in self.sources:
            rewriter.erase(src)


def _result_type(old: Value | None, row: TensorType, keep: int) -> TensorType:
    want = stacked_type(row, keep or None)
    if old is not None and old.type.shape[0] == want.shape[0]:
        return old.type
    return want


def _stale_args(editor: ScanEditor) -> list[Value]:
    """Old block arguments no slot stands for any more (their uses must be gone)."""
    kept = {id(v) for s in editor.sequences for v in s.args}
    kept |= {id(v) for s in editor.states for v in s.args}
    kept |= {id(s.arg) for s in editor.nonsequences}
    if editor.index is not None:
        kept.add(id(editor.index))
    return [a for src in editor.sources for a in src.regions[0].block.arguments if id(a) not in kept]


# -- what the body's values depend on ---------------------------------------------------------------
def classify(editor: ScanEditor) -> dict[int, int]:
    """Kind (``CONSTANT`` .. ``VARIANT``) of every body value and op, by id."""
    kinds: dict[int, int] = {}
    for slot in editor.sequences:
        kinds.update((id(a), SEQUENCE) for a in slot.args)
    for ns in editor.nonsequences:
        kinds[id(ns.arg)] = INVARIANT
    for o in editor.body:
        if o.name == "tir.constant":
            kind = CONSTANT
        elif not o.opdef.pure:
            kind = VARIANT
        else:
            kind = max((kinds.get(id(v), VARIANT) for v in o.operands), default=CONSTANT)
        kinds[id(o)] = kind
        kinds.update((id(r), kind) for r in o.results)
    return kinds


def clone_before(b: RecordingBuilder, ops: Iterable[Operation], value_map: dict[Value, Value]) -> None:
    """Copies of body ``ops`` (in order) where ``b`` inserts, reading ``value_map``'s values.

    Body constants they read are copied too; every copy's results go into ``value_map``.
    """
    for o in ops:
        if o.results and all(r in value_map for r in o.results):
            continue  # copied already
        for v in o.operands:
            owner = v.owner
            if v not in value_map and owner is not None and owner.name == "tir.constant":
                _insert(b, clone_operation(owner, value_map))
        _insert(b, clone_operation(o, value_map))


def _insert(b: RecordingBuilder, op: Operation) -> None:
    # Through the builder's insertion point, so that ops it creates next come after the copy.
    assert b.block is not None and b.index is not None
    b.block.insert(b.index, op)
    b.index += 1
    b.rewriter.notify_created(op)


def gradient_pending(op: Operation) -> bool:
    """Whether a ``tir.grad`` not yet expanded may differentiate through this scan.

    Moving work out of a loop changes what ``truncate_gradient`` cuts, so scans that truncate are
    left alone until ``autodiff`` has run (the pipelines run it first).
    """
    if op.attributes["truncate_gradient"] < 0:
        return False
    root: Operation = op
    while root.parent is not None and root.parent.parent is not None and root.parent.parent.parent is not None:
        root = root.parent.parent.parent
    return any(o.name == "tir.grad" for o in walk(root))


def int64(b: Builder, value: int) -> Value:
    return b.constant(np.asarray(value, dtype=np.int64))


#: views that cost nothing inside a loop (and that BLAS reads in place): never worth moving out alone.
FREE_VIEWS = frozenset({"tir.dimshuffle"})


def trim_free_views(ops: list[Operation]) -> list[Operation]:
    """``ops`` without the free views whose results only ops outside ``ops`` read.

    Moving ``x.T`` out of a loop on its own gains nothing and hides the transpose from BLAS.
    """
    members = {id(o) for o in ops}
    kept: list[Operation] = []
    for o in reversed(ops):
        if o.name in FREE_VIEWS and all(id(u) not in members for r in o.results for u in r.users):
            members.discard(id(o))
        else:
            kept.append(o)
    kept.reverse()
    return kept


def boundary_values(ops: list[Operation]) -> list[Value]:
    """Results of ``ops`` that something outside ``ops`` reads (the body's other ops, its yield)."""
    members = {id(o) for o in ops}
    return [r for o in ops for r in o.results if any(id(u) not in members for u in r.users)]
