"""Elementwise fusion: maximal groups of elementwise ops become one ``tir.fused`` op.

A group grows from its last op (the root) towards its operands: a producer joins when it is an
elementwise op all of whose users are already in the group, so no value inside a group is needed
outside it and merging can never create a cycle. Candidates are taken in decreasing program
order, so a producer is considered only after every user it has in the group. Users that read
a producer only for its shape (``tir.shape``, ``sum_to``'s ``like``: ``OpDef.shape_operands``)
do not keep it out when the group's result provably has its shape and they come after the
group: they read the fused result instead (gradients ask for the shapes of forward values, and
the canonicalizer moves those questions to the earliest value of the shape). A reduction
(``sum``, ``max``, ...) whose operand is the root of such a group ends the group: the fused op
then reduces as it goes. Rank-0 constants are copied into the body; every other value the group
reads becomes an operand (broadcasting as elementwise operands do). Groups of a single op are
left alone. All of it is iterative.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from tensorir.dialects.builtin import CONSTANT, YIELD
from tensorir.dialects.ir import Block, Operation, Region, Value, walk
from tensorir.dialects.registry import OPS
from tensorir.dialects.tir.fused import FUSABLE_REDUCTIONS
from tensorir.dialects.types import TensorType
from tensorir.passes.matching import shape_chain, shapes_meet
from tensorir.passes.pass_manager import Pass

FUSED = OPS["tir.fused"]


def fusable(op: Operation) -> bool:
    """An elementwise op that may join a group (pure, one result, no regions, not a constant)."""
    return (
        op.opdef.fusion == "elementwise"
        and op.opdef.pure
        and not op.regions
        and len(op.results) == 1
        and op.opdef is not CONSTANT
    )


def _inlined_constant(v: Value) -> bool:
    owner = v.owner
    return owner is not None and owner.opdef is CONSTANT and v.type.ndim == 0


def _only_shape_reads_after(v: Value, members: dict[int, Operation], position: dict[int, int], after: int) -> bool:
    """Whether every use of ``v`` outside ``members`` reads only its shape, from an op of the
    block placed after position ``after``."""
    return all(
        id(user) in members or (k in user.opdef.shape_operands and position.get(id(user), -1) > after)
        for user, k in v.uses
    )


def find_groups(block: Block, max_operands: int) -> list[tuple[Operation, list[Operation]]]:
    """(root, members in program order) of every group of two or more ops in ``block``."""
    ops = block.operations
    position = {id(op): i for i, op in enumerate(ops)}
    assigned: set[int] = set()
    groups: list[tuple[Operation, list[Operation]]] = []
    for root in reversed(ops):
        if id(root) in assigned:
            continue
        start: Operation | None
        if fusable(root):
            start = root
        elif root.name in FUSABLE_REDUCTIONS and not root.regions:
            start = root.operands[0].owner
            if (
                start is None
                or id(start) in assigned
                or not fusable(start)
                or start.parent is not block
                or len(start.results[0].uses) != 1
            ):
                continue
        else:
            continue
        members: dict[int, Operation] = {id(root): root, id(start): start}
        # Values of the root's shape, whose shape reads may move to the fused result.
        same_shape = {id(v) for v in shape_chain(root.results[0])} if start is root else set()
        inputs: set[int] = set()
        heap: list[tuple[int, int, Operation]] = []

        def visit(
            op: Operation,
            members: dict[int, Operation] = members,
            inputs: set[int] = inputs,
            heap: list[tuple[int, int, Operation]] = heap,
        ) -> None:
            for v in op.operands:
                if _inlined_constant(v):
                    continue
                inputs.add(id(v))
                owner = v.owner
                if owner is not None and id(owner) not in members and id(owner) in position:
                    heapq.heappush(heap, (-position[id(owner)], id(owner), owner))

        visit(start)
        while heap:
            _, key, cand = heapq.heappop(heap)
            if key in members or key in assigned or not fusable(cand):
                continue
            result = cand.results[0]
            if not all(id(user) in members for user in result.users) and not (
                    start is root and _only_shape_reads_after(result, members, position, position[id(root)])
                    and (id(result) in same_shape or shapes_meet(result, root.results[0]))):
                continue
            new_inputs = {id(v) for v in cand.operands if not _inlined_constant(v)} - inputs
            if len(inputs) - 1 + len(new_inputs) > max_operands:
                continue
            members[key] = cand
            inputs.discard(id(cand.results[0]))
            visit(cand)
        if len(members) < 2:
            continue
        assigned.update(members)
        groups.append((root, sorted(members.values(), key=lambda op: position[id(op)])))
    return groups


def build_fused(root: Operation, members: list[Operation]) -> Operation:
    """The ``tir.fused`` op computing ``root`` from the group ``members`` (not inserted anywhere)."""
    member_ids = {id(op) for op in members}
    reduction = root if root.name in FUSABLE_REDUCTIONS else None
    body_ops = [op for op in members if op is not reduction]
    operands: list[Value] = []
    block = Block()
    value_map: dict[int, Value] = {}
    for op in body_ops:
        for v in op.operands:
            if id(v) in value_map:
                continue
            owner = v.owner
            if owner is not None and id(owner) in member_ids:
                continue
            if _inlined_constant(v):
                const = Operation(CONSTANT, [], [v.type], owner.attributes, [], owner.location)  # type: ignore[union-attr]
                block.append(const)
                value_map[id(v)] = const.results[0]
                continue
            operands.append(v)
            value_map[id(v)] = block.add_argument(TensorType(v.type.dtype, ()), v.name)
    for op in body_ops:
        inner = Operation(
            op.opdef,
            [value_map[id(v)] for v in op.operands],
            [TensorType(r.type.dtype, ()) for r in op.results],
            op.attributes,
            [],
            op.location,
        )
        block.append(inner)
        value_map[id(op.results[0])] = inner.results[0]
    last = body_ops[-1]
    block.append(Operation(YIELD, [value_map[id(last.results[0])]], []))
    attrs = {"reduce": None, "axis": None, "keepdims": False, "inplace": None}
    if reduction is not None:
        attrs.update(
            reduce=reduction.name,
            axis=reduction.attributes["axis"],
            keepdims=reduction.attributes["keepdims"],
        )
    fused = Operation(FUSED, operands, [root.results[0].type], attrs, [Region([block])], root.location)
    fused.results[0].name = root.results[0].name
    return fused


def fuse_block(block: Block, max_operands: int) -> bool:
    groups = find_groups(block, max_operands)
    if not groups:
        return False
    replacement: dict[int, Operation] = {}
    removed: set[int] = set()
    for root, members in groups:
        fused = build_fused(root, members)
        root.results[0].replace_all_uses_with(fused.results[0])
        for op in members:
            op.drop_operand_uses()
            op.parent = None
            removed.add(id(op))
        for op in members:
            # What is left are shape reads of values of the root's shape (see find_groups).
            op.results[0].replace_all_uses_with(fused.results[0])
        replacement[id(root)] = fused
    new_ops: list[Operation] = []
    for op in block.operations:
        if id(op) in replacement:
            new_ops.append(replacement[id(op)])
            replacement[id(op)].parent = block
        elif id(op) not in removed:
            new_ops.append(op)
    block.operations = new_ops
    return True


@dataclass
class FusePass(Pass):
    """Fuse maximal groups of elementwise ops (with a trailing reduction) into ``tir.fused`` ops."""

    name = "fuse"
    summary = "fuse groups of elementwise ops (and a trailing reduction) into one tir.fused loop nest"
    max_operands: int = 64

    def run(self, func: Operation) -> bool:
        # Loop and branch bodies (tir.scan, tir.if) are fused too: they run once per step.
        changed = fuse_block(func.regions[0].block, self.max_operands)
        nested = [op for op in walk(func) if op.regions and op is not func and op.name != "tir.fused"]
        for op in nested:
            for region in op.regions:
                for block in region.blocks:
                    changed |= fuse_block(block, self.max_operands)
        return changed
