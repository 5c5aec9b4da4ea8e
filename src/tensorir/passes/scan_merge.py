"""Two independent loops over the same steps become one (Theano's ``ScanMerge``).

Two ``tir.scan`` ops in one block run the same steps when they have the same ``n_steps`` value,
the same direction and no ``until``, and, unless ``n_steps`` is a constant >= 0, the same
sequences with the same taps (the sequences' lengths decide the step count). When neither reads
the other's results, one loop whose body does both steps computes the same values:

    scan(f, X) ; scan(g, X)   ->   scan((f, g), X)

One loop costs one step overhead instead of two, and the merged body shares the rows it reads
(the duplicated sequences and non-sequences are merged by ``scan-prune``, their common work by
CSE). The ops the second loop's operands need that sit between the two loops move before the
first one; none of them reads the first loop (else the loops would not be independent).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Operation, ancestors_topological
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import ScanEditor, gradient_pending


def _same_steps(a: ScanEditor, b: ScanEditor) -> bool:
    if a.n_steps is not b.n_steps or a.until is not None or b.until is not None:
        return False
    if any(a.attributes[k] != b.attributes[k] for k in ("reverse", "truncate_gradient")):
        return False
    if a.constant_steps() is not None:
        return True
    return bool(a.sequences) and _rows(a) == _rows(b)


def _rows(editor: ScanEditor) -> list[tuple[int, tuple[int, ...]]]:
    return sorted((id(s.value), s.taps) for s in editor.sequences)


def _moves(first: Operation, second: Operation) -> list[Operation] | None:
    """The ops between ``first`` and ``second`` that ``second`` needs (None if one reads ``first``)."""
    block = first.parent
    assert block is not None
    position = {id(o): i for i, o in enumerate(block.operations)}
    lo, hi = position[id(first)], position[id(second)]
    between = [o for o in ancestors_topological(second.operands) if lo <= position.get(id(o), -1) < hi]
    if any(o is first or not o.opdef.pure for o in between):
        return None
    return between


class MergeScans(RewritePattern):
    """``scan(f, X)`` and an independent ``scan(g, X)`` over the same steps -> one ``scan((f, g), X)``."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        block = op.parent
        if block is None or gradient_pending(op):
            return False
        second = ScanEditor.of(op)
        for other in block.operations[: block.index_of(op)]:
            if other.name != "tir.scan" or gradient_pending(other):
                continue
            first = ScanEditor.of(other)
            if not _same_steps(first, second):
                continue
            moves = _moves(other, op)
            if moves is None:
                continue
            for o in moves:  # in dependency order, right before the first loop
                block.remove(o)
                block.insert_before(other, o)
            _merge(first, second).build(rewriter)
            first.commit(rewriter)
            return True
        return False


def _merge(first: ScanEditor, second: ScanEditor) -> ScanEditor:
    """``first`` extended with the slots and body of ``second`` (its results after the first's)."""
    if second.index is not None:
        if first.index is None:
            first.index = second.index
        else:
            second.replace(second.index, first.index)
    first.sources += second.sources
    first.sequences += second.sequences
    first.states += second.states
    first.outputs += second.outputs
    first.nonsequences += second.nonsequences
    first.body += second.body
    if second.attributes["name"] and second.attributes["name"] != first.attributes["name"]:
        first.attributes["name"] = "+".join(n for n in (first.attributes["name"], second.attributes["name"]) if n)
    return first


@dataclass
class ScanMergePass(PatternPass):
    """Independent scans over the same steps become one loop."""

    name = "scan-merge"
    summary = "merge independent scans that run the same steps (same n_steps, sequences, direction) into one"

    def patterns(self) -> list[RewritePattern]:
        return [MergeScans()]
