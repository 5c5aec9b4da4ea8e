"""Scan results of which only the last entries are read keep only those (Theano's ``ScanSaveMem``).

A result buffer ``B`` (a recurrent output's window and new values, or a plain output's values)
whose every reader takes one row counted from the end, ``B[-j]`` (also through the frontend's
``B[w:]``, which drops a recurrent output's initial window: ``B[w:][-j] = B[-j]``), needs only
its last ``k = max j`` rows: the loop then keeps ``k`` (``keep = k``) instead of all ``n``, as
``reduce`` does. ``result[-1]`` of Theano's ``power`` example runs in constant memory.

A slice of the last rows, ``B[-j:]``, counts when ``n_steps`` is a constant of at least ``j``
and there is no ``until`` (with fewer steps it would be shorter than ``j`` rows). A read the original would reject
(``B[w:][-j]`` with fewer than ``j`` steps) may return a row of the initial window instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.tir.indexing import parse_index
from tensorir.passes.matching import scalar_constant
from tensorir.passes.pass_manager import PatternPass
from tensorir.passes.rewriter import PatternRewriter, RewritePattern
from tensorir.passes.scan_edit import ScanEditor, gradient_pending


def _rows_from_end(read: Operation, steps: int | None) -> int | None:
    """``j`` when ``read`` is ``x[-j, ...]`` (or ``x[-j:, ...]`` when at least ``j`` steps run)."""
    if read.name != "tir.subtensor" or len(read.operands) != 1:
        return None
    entries = parse_index(read.attributes["index"])
    if not entries:
        return None
    first = entries[0]
    if first[0] == "int" and isinstance(first[1], int) and first[1] < 0:
        return -first[1]
    # x[-j:] has fewer than j rows when fewer steps ran: only with a step count known to be enough.
    if first[0] == "slice" and isinstance(first[1], int) and first[1] < 0 and first[2:] == (None, None):
        j = -first[1]
        return j if steps is not None and steps >= j else None
    return None


def _tail_suffix(read: Operation, buffer: Value) -> bool:
    """Whether ``read`` is ``slice_leading(buffer, c, shape_i(buffer, 0))`` (rows ``c`` to the end)."""
    if read.name != "tir.slice_leading" or read.operands[0] is not buffer:
        return False
    stop = read.operands[2].owner
    return (scalar_constant(read.operands[1]) is not None and stop is not None and stop.name == "tir.shape_i"
            and stop.operands[0] is buffer and stop.attributes["i"] == 0)


def _rows_needed(buffer: Value, steps: int | None) -> tuple[int, list[Operation]] | None:
    """How many rows from the end the readers of ``buffer`` need, and the suffix slices to bypass."""
    need = 0
    suffixes: list[Operation] = []
    for user in buffer.users:
        if user.name == "tir.shape_i" and all(_tail_suffix(u, buffer) for u in user.results[0].users):
            continue  # the stop of a suffix slice, checked with it
        if _tail_suffix(user, buffer):
            readers = user.results[0].users
            rows = [_rows_from_end(r, steps) for r in readers]
            if not readers or any(j is None for j in rows):
                return None
            need = max(need, *rows)  # type: ignore[type-var]
            suffixes.append(user)
            continue
        j = _rows_from_end(user, steps)
        if j is None:
            return None
        need = max(need, j)
    return (need, suffixes) if need else None


class KeepLastRows(RewritePattern):
    """A result read only as ``B[-j]`` (``j <= k``) -> the loop keeps its last ``k`` rows."""

    ops = ("tir.scan",)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if gradient_pending(op):
            return False
        editor = ScanEditor.of(op)
        bypass: list[Operation] = []
        changed = False
        steps = editor.constant_steps() if editor.until is None else None  # until may stop sooner
        for slot in [*editor.states, *editor.outputs]:
            if slot.keep or slot.result is None:
                continue
            found = _rows_needed(slot.result, steps)
            if found is not None:
                slot.keep, suffixes = found
                bypass += suffixes
                changed = True
        if not changed:
            return False
        editor.build(rewriter)
        # B[c:][-j] reads B[-j]; the suffix (and its length) then go away with their last reader.
        for suffix in bypass:
            rewriter.replace_value(suffix.results[0], suffix.operands[0])
        editor.commit(rewriter)
        return True


@dataclass
class ScanSaveMemoryPass(PatternPass):
    """Scan results read only at their last rows keep only those rows."""

    name = "scan-save-mem"
    summary = "a scan result read only at its last k rows (result[-1]) is kept as those k rows"

    def patterns(self) -> list[RewritePattern]:
        return [KeepLastRows()]
