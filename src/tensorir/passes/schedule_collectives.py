"""Split each ``tir.allreduce`` into starts and waits, and schedule them apart.

A gradient's allreduce can travel while the rest of the backward pass computes, as PyTorch DDP
and Horovod do, only if the plan starts it as soon as the gradient exists and waits for it only
when its reduced value is needed. The rewrite, for every ``tir.allreduce`` with ``overlap`` set:

- replaces it by one ``t_i = tir.allreduce_start(x_i)`` and one ``y_i = tir.allreduce_wait(t_i)``
  per operand (dialects/tir/collective.py), all of one ``exchange``;
- schedules the block by this rule: the other ops keep their order; a **start goes right after
  the op that produces its operand** (at the top of the block for an argument), so its transfer
  begins as early as the data allows; a **wait goes right before the first op that uses its
  result** (an op whose region uses it counts), or before the terminator when nothing does, so
  the transfer has the longest stretch of computation to hide behind;
- numbers each exchange's starts (``index``) in the order the schedule runs them: the order the
  gradients are produced, the reverse of the forward order. The runtime packs them into buckets
  in that order (runtime/collectives.py), so the first bucket leaves while the earlier layers'
  gradients are still being computed.

Moving a start earlier is sound because it reads only its operand; moving a wait later because
only its users read its result. The collectives stay in one order that every process computes
the same way from the same graph, which is what a group's collectives need. Runs after fusion
(its groups are the ops it orders) and before memory planning (which reads the final order).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Block, Operation, Value, walk
from tensorir.passes.pass_manager import Pass

__all__ = ["ScheduleCollectivesPass", "schedule_collectives"]

_ALLREDUCE, _START, _WAIT = "tir.allreduce", "tir.allreduce_start", "tir.allreduce_wait"


def _opdef(name: str):  # noqa: ANN202 - an OpDef
    from tensorir.dialects.registry import OPS

    return OPS[name]


def _split(op: Operation, exchange: int) -> None:
    """``op`` (an allreduce) as a start and a wait per operand, placed where ``op`` was."""
    block = op.parent
    assert block is not None
    start_def, wait_def = _opdef(_START), _opdef(_WAIT)
    attrs = {key: op.attributes[key] for key in ("reduce", "group", "group_size")}
    attrs.update(exchange=exchange, count=len(op.operands))
    for i, (x, result) in enumerate(zip(op.operands, op.results)):
        start = Operation(start_def, [x], [x.type], {**attrs, "index": i}, location=op.location)
        wait = Operation(wait_def, [start.results[0]], [result.type], {**attrs, "index": i}, location=op.location)
        block.insert_before(op, start)
        block.insert_before(op, wait)
        result.replace_all_uses_with(wait.results[0])
    op.erase()


def _reads(op: Operation) -> list[Value]:
    """Values ``op`` reads, its regions' included."""
    return [v for inner in walk(op) for v in inner.operands]


def _schedule(block: Block) -> None:
    """Reorder ``block`` by the rule of the module docstring."""
    ops = block.operations
    waits = {id(op.results[0]): op for op in ops if op.name == _WAIT}
    starts_after: dict[int, list[Operation]] = {}  # producer op id (0: the block's top) -> starts
    for op in ops:
        if op.name == _START:
            owner = op.operands[0].owner
            key = id(owner) if owner is not None and owner.parent is block else 0
            starts_after.setdefault(key, []).append(op)
    order: list[Operation] = []
    placed: set[int] = set()

    def place(op: Operation) -> None:
        if id(op) in placed:
            return
        placed.add(id(op))
        for v in _reads(op):
            wait = waits.get(id(v))
            if wait is not None:
                place(wait)  # as late as possible: right before this, its first user
        order.append(op)
        for start in starts_after.get(id(op), ()):
            place(start)  # as early as possible: right after its operand's producer

    for start in starts_after.get(0, ()):
        place(start)
    terminator = ops[-1] if ops and ops[-1].name in ("func.return", "tir.yield") else None
    for op in ops:
        if op.name not in (_START, _WAIT) and op is not terminator:
            place(op)
    for op in ops:  # waits nothing reads still complete their transfer before the end
        if op.name == _WAIT:
            place(op)
    if terminator is not None:
        place(terminator)
    block.operations = order
    counts: dict[int, int] = {}
    for op in order:
        if op.name == _START:
            exchange = op.attributes["exchange"]
            index = counts.get(exchange, 0)
            counts[exchange] = index + 1
            op.attributes["index"] = index
            # The wait reads the start's position (the runtime finds the bucket by it).
            for user, _ in op.results[0].uses:
                user.attributes["index"] = index


def schedule_collectives(func: Operation) -> bool:
    """Split and schedule every overlapping allreduce under ``func``; whether anything changed."""
    todo = [op for op in walk(func) if op.name == _ALLREDUCE and op.attributes.get("overlap")]
    blocks: dict[int, Block] = {}
    for exchange, op in enumerate(todo):
        assert op.parent is not None
        blocks[id(op.parent)] = op.parent
        _split(op, exchange)
    for block in blocks.values():
        _schedule(block)
    return bool(todo)


@dataclass
class ScheduleCollectivesPass(Pass):
    """Split allreduces into starts placed early and waits placed late (module docstring)."""

    name = "schedule-collectives"
    summary = "split tir.allreduce into starts right after their operands and waits right before first use"

    def run(self, func: Operation) -> bool:
        return schedule_collectives(func)
