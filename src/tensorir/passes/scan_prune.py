"""Unused scan outputs and inputs removed (PyTensor's ``scan_remove_unused`` and ``scan_merge_inouts``).

- An output nobody reads is dropped with the body work only it needs; a recurrent output stays
  while a kept output reads its previous values. This is what removes, from the backward loop of
  back-propagation through time, the per-step cotangent of an input nobody differentiates.
- A non-sequence the body no longer reads is dropped, and two operands passing the same value
  (the same non-sequence, or the same sequence with the same taps) become one, so that CSE can
  then share the work done on them.
- A sequence the body no longer reads is dropped only when ``n_steps`` is a constant >= 0:
  otherwise the sequences' lengths decide how many steps run.

Outputs are all removed by the driver when the whole loop is unused (it is pure).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Operation, Value, ancestors_topological
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import ScanEditor, gradient_pending


def _live_states(editor: ScanEditor) -> set[int]:
    """Ids of the state slots that a used result, or the stop condition, needs."""
    live: set[int] = {id(s) for s in editor.states if s.result is not None and s.result.uses}
    arg_owner = {id(a): s for s in editor.states for a in s.args}
    while True:
        roots = [s.update for s in editor.states if id(s) in live]
        roots += [o.update for o in editor.outputs if o.result is not None and o.result.uses]
        roots += [editor.until] if editor.until is not None else []
        args = {id(a) for s in editor.states for a in s.args}
        read: set[int] = {id(v) for v in roots if id(v) in args}
        for o in ancestors_topological(roots, stop=[a for s in editor.states for a in s.args]):
            read.update(id(v) for v in o.operands if id(v) in args)
        grown = live | {id(arg_owner[a]) for a in read}
        if grown == live:
            return live
        live = grown


class DropUnusedScanParts(RewritePattern):
    """Unread outputs, unused non-sequences, duplicated operands of a ``tir.scan`` removed."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if gradient_pending(op) or not any(r.uses for r in op.results):
            return False  # an unused loop is erased whole by the driver (it is pure)
        editor = ScanEditor.of(op)
        changed = False
        live = _live_states(editor)
        for state in [s for s in editor.states if id(s) not in live]:
            editor.drop(state)
            changed = True
        for out in [o for o in editor.outputs if o.result is not None and not o.result.uses]:
            editor.drop(out)
            changed = True
        changed |= _merge_operands(editor)
        if changed:
            editor.build(rewriter)
            editor.commit(rewriter)
        return changed


def _merge_operands(editor: ScanEditor) -> bool:
    """Duplicated inputs merged, unused ones (where allowed) removed."""
    read = _read_values(editor)
    first_nonseq: dict[int, Value] = {}
    for slot in editor.nonsequences:
        same = first_nonseq.setdefault(id(slot.value), slot.arg)
        if same is not slot.arg:
            if id(slot.arg) in read:
                read.add(id(same))
            editor.replace(slot.arg, same)
    kept_nonseqs = [s for s in editor.nonsequences if first_nonseq[id(s.value)] is s.arg and id(s.arg) in read]
    first_seq: dict[tuple[int, tuple[int, ...]], list[Value]] = {}
    for seq in editor.sequences:
        same_args = first_seq.setdefault((id(seq.value), seq.taps), seq.args)
        if same_args is not seq.args:
            for a, b in zip(seq.args, same_args):
                if id(a) in read:
                    read.add(id(b))
                editor.replace(a, b)
    may_drop = editor.constant_steps() is not None
    kept_seqs = [s for s in editor.sequences if first_seq[(id(s.value), s.taps)] is s.args
                 and (not may_drop or any(id(a) in read for a in s.args))]
    changed = len(kept_nonseqs) != len(editor.nonsequences) or len(kept_seqs) != len(editor.sequences)
    editor.nonsequences = kept_nonseqs
    editor.sequences = kept_seqs
    return changed


def _read_values(editor: ScanEditor) -> set[int]:
    """Ids of the values that the kept outputs (and the stop condition) read, directly or not."""
    roots = [s.update for s in editor.states] + [o.update for o in editor.outputs]
    roots += [editor.until] if editor.until is not None else []
    read = {id(v) for v in roots}
    args = [a for s in editor.sequences for a in s.args] + [s.arg for s in editor.nonsequences]
    for o in ancestors_topological(roots, stop=args):
        read.update(id(v) for v in o.operands)
    return read


@dataclass
class ScanPrunePass(PatternPass):
    """Scan outputs nobody reads and inputs the body does not need are removed; duplicate inputs merged."""

    name = "scan-prune"
    summary = "remove unused scan outputs (and the body work only they need), unused and duplicated inputs"

    def patterns(self) -> list[RewritePattern]:
        return [DropUnusedScanParts()]

