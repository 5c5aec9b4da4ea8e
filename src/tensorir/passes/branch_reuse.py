"""Branches of ``tir.if`` reuse what the enclosing block computes anyway.

``ifelse`` clones into a branch every op that only the branch needs *at the time it is built*;
when the user later uses the same value outside too (``ifelse(c, tanh(e), 0 * e)`` and then
``e.sum()``), ``e`` is computed once outside and again inside the chosen branch. Regions are
isolated from above, so CSE cannot merge across the boundary. This rewrite does it:

    r = if(c, captured...) { op(args...) ... }   with   v = op(same outer values) in the block
    ->  r = if(c, captured..., v) { <use the new block argument instead of op> }

An inner op matches an outer one when it has the same op, attributes and result types and its
operands are block arguments (or inner ops already matched) standing for the same outer values.
The ``tir.if`` moves down to just before its first user, so every op of the block that does not
depend on it is available (the ops it passes over never read its results). Inner ops left
unused are erased by DCE. Constants are not captured (they are free to clone).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.ir import Block, Operation, Value
from tensorir.passes.cse import freeze
from tensorir.passes.dce import eliminate_dead_code
from tensorir.passes.pass_manager import Pass

__all__ = ["BranchReusePass", "reuse_outer_values"]


def _key(op: Operation, operands: list[Value]) -> Hashable:
    attrs = tuple(sorted((k, freeze(v)) for k, v in op.attributes.items()))
    return (id(op.opdef), tuple(id(v) for v in operands), attrs, tuple(r.type for r in op.results))


def _matchable(op: Operation) -> bool:
    return op.opdef.pure and bool(op.results) and not op.regions


def _move_before_first_user(block: Block, if_op: Operation) -> int:
    """Move ``if_op`` down to just before the first op of ``block`` that reads it; its new index."""
    start = block.index_of(if_op)
    results = {id(r) for r in if_op.results}
    for i in range(start + 1, len(block.operations)):
        if any(id(v) in results for inner in _ops_under(block.operations[i]) for v in inner.operands):
            del block.operations[start]
            block.operations.insert(i - 1, if_op)
            return i - 1
    return start


def _ops_under(op: Operation) -> list[Operation]:
    from tensorir.dialects.ir import walk

    return list(walk(op))


def _capture(if_op: Operation, value: Value) -> list[Value]:
    """Pass ``value`` into both branches; the new block argument of each region."""
    if_op.operands.append(value)
    value.uses.append((if_op, len(if_op.operands) - 1))
    return [region.block.add_argument(value.type) for region in if_op.regions]


def _drop_unused_captures(if_op: Operation) -> None:
    """Stop passing values that neither branch reads any more."""
    blocks = [region.block for region in if_op.regions]
    keep = [i for i in range(len(if_op.operands) - 1) if any(b.arguments[i].uses for b in blocks)]
    if len(keep) == len(if_op.operands) - 1:
        return
    condition, captured = if_op.operands[0], if_op.operands[1:]
    if_op.drop_operand_uses()
    if_op.operands = [condition, *(captured[i] for i in keep)]
    for k, v in enumerate(if_op.operands):
        v.uses.append((if_op, k))
    for b in blocks:
        b.arguments = [b.arguments[i] for i in keep]
        for k, arg in enumerate(b.arguments):
            arg.index = k


def _reuse_in(block: Block, if_op: Operation) -> bool:
    position = _move_before_first_user(block, if_op)
    table: dict[Hashable, Operation] = {}
    for op in block.operations[:position]:
        if _matchable(op):
            table.setdefault(_key(op, op.operands), op)
    if not table:
        return False
    changed = False
    captured_index: dict[int, int] = {id(v): i for i, v in enumerate(if_op.operands[1:])}
    for region in if_op.regions:
        inner = region.block
        outer_of: dict[int, Value] = {id(a): if_op.operands[1 + i] for i, a in enumerate(inner.arguments)}
        for op in list(inner.operations):
            if not _matchable(op) or any(id(v) not in outer_of for v in op.operands):
                continue
            match = table.get(_key(op, [outer_of[id(v)] for v in op.operands]))
            if match is None:
                continue
            for mine, theirs in zip(op.results, match.results):
                outer_of[id(mine)] = theirs
                # An equal constant only lets the ops that read it match; cloning it is free.
                if not mine.uses or op.opdef is CONSTANT:
                    continue
                k = captured_index.get(id(theirs))
                if k is None:
                    _capture(if_op, theirs)
                    k = captured_index[id(theirs)] = len(if_op.operands) - 2
                mine.replace_all_uses_with(inner.arguments[k])
                changed = True
    if changed:
        eliminate_dead_code(if_op)
        _drop_unused_captures(if_op)
    return changed


def reuse_outer_values(root: Operation) -> bool:
    """Apply the rewrite to every ``tir.if`` under ``root``; whether anything changed."""
    changed = False
    blocks = [blk for region in root.regions for blk in region.blocks]
    while blocks:
        block = blocks.pop()
        for op in list(block.operations):
            if op.name == "tir.if":
                changed |= _reuse_in(block, op)
            for region in op.regions:
                blocks.extend(region.blocks)
    return changed


@dataclass
class BranchReusePass(Pass):
    """Branches of tir.if read values the enclosing block computes instead of recomputing them."""

    name = "branch-reuse"
    summary = "tir.if branches reuse values computed outside instead of recomputing them"

    def run(self, func: Operation) -> bool:
        return reuse_outer_values(func)
