"""Split each ``tir.allreduce`` into starts and waits, and schedule them apart.

A gradient's allreduce can travel while the rest of the backward pass computes, as PyTorch DDP
and Horovod do, only if the plan starts it as soon as the gradient exists and waits for it only
when its reduced value is needed. The rewrite, for every ``tir.allreduce`` with ``overlap`` set:

- replaces it by one ``t_i = tir.allreduce_start(x_i)`` and one ``y_i = tir.allreduce_wait(t_i)``
  per operand (dialects/tir/collective.py), all of one ``exchange``;
- schedules the block by this rule: a **start goes right after the op that produces its
  operand**, so its transfer begins as early as the data allows; among the pure ops that compute
  only what is sent (every user a start or another such op: in a training step, the backward
  pass) the one **nearest to a start goes first**, so a layer's weight gradient is computed and
  sent before the backward pass goes on to the layer below, not after all of it; a **wait goes
  only where nothing else can run**, which is right before the first op that needs its result
  (or before the terminator), so the transfer has the longest stretch of computation to hide
  behind; the other ops keep their order, and impure ops other than these (a random draw) their
  order among themselves;
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

import heapq
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


def _in_block(op: Operation | None, block: Block) -> Operation | None:
    """``op`` or its ancestor that is an op of ``block`` (None when it is not under ``block``)."""
    while op is not None and op.parent is not block:
        parent_block = op.parent
        region = parent_block.parent if parent_block is not None else None
        op = region.parent if region is not None else None
    return op


def _feeder_distances(block: Block) -> dict[int, int]:
    """For the pure ops of ``block`` whose every user is a start or another such op (the work
    that computes only what is sent: in a training step, the backward pass), by id: the fewest
    ops from it to a start (a weight's gradient product is 1, the backward chain below it more)."""
    distance: dict[int, int] = {}
    for op in reversed(block.operations):
        if op.name == _START:
            distance[id(op)] = 0
            continue
        if not op.opdef.pure or op.name == _WAIT or not op.results:
            continue
        users = [_in_block(user, block) for r in op.results for user, _ in r.uses]
        if users and all(u is not None and id(u) in distance for u in users):
            distance[id(op)] = 1 + min(distance[id(u)] for u in users)  # type: ignore[arg-type]
    return distance


def _schedule(block: Block) -> None:
    """Reorder ``block`` by the rule of the module docstring: a list schedule (Kahn's algorithm)
    that takes, among the ops whose operands exist, first a start, then the op nearest to a start
    (its distance from :func:`_feeder_distances`), then the other ops in their old order, and a
    wait only when nothing else can run."""
    ops = block.operations
    terminator = ops[-1] if ops and ops[-1].name in ("func.return", "tir.yield") else None
    body = [op for op in ops if op is not terminator]
    position = {id(op): k for k, op in enumerate(body)}
    distance = _feeder_distances(block)
    # Dependencies: the producers of what an op reads (its regions' reads too) and, for an impure
    # op other than the collectives' halves (a random draw), the impure op before it.
    needs: dict[int, set[int]] = {}
    users: dict[int, list[Operation]] = {}
    previous_impure: Operation | None = None
    for op in body:
        deps = {id(p) for v in _reads(op) if (p := _in_block(v.owner, block)) is not None and p is not op}
        if not op.opdef.pure and op.name not in (_START, _WAIT):
            if previous_impure is not None:
                deps.add(id(previous_impure))
            previous_impure = op
        needs[id(op)] = deps
        for dep in deps:
            users.setdefault(dep, []).append(op)

    def priority(op: Operation) -> tuple[int, int, int]:
        k = position[id(op)]
        if op.name == _START:
            return (0, 0, k)
        if op.name == _WAIT:
            return (3, 0, k)
        if id(op) in distance:
            return (1, distance[id(op)], k)
        return (2, 0, k)

    ready = [(priority(op), id(op), op) for op in body if not needs[id(op)]]
    heapq.heapify(ready)
    order: list[Operation] = []
    while ready:
        _, _, op = heapq.heappop(ready)
        order.append(op)
        for user in users.get(id(op), ()):
            deps = needs[id(user)]
            deps.discard(id(op))
            if not deps:
                heapq.heappush(ready, (priority(user), id(user), user))
    assert len(order) == len(body), "the schedule lost an op (a dependency cycle)"
    if terminator is not None:
        order.append(terminator)
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
