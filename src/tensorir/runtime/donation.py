"""Shared-variable updates written into the shared variable's own buffer.

A training step's update ``W <- W - lr * g`` needs no new buffer: once every other reader of
``W`` has run, the step that computes the new value may write it over the old one, as NumPy's
``W -= lr * g`` does (Theano's destroy handler allows the same for its in-place updates). The
caller says which argument each update result may overwrite (``donations``: result position ->
argument position, as JAX's ``donate_argnums``); :func:`plan_donations` decides where that is
safe and reorders the plan so that it is also atomic from the user's view:

- the step that computes the update can write into an operand (``inplace_operands``: an
  elementwise kernel's operands of the result's dtype, a BLAS op's accumulated operand), and
  the donated argument is one of them;
- its result is not also an output, and neither the argument nor anything that may view it is
  a result (those would change under the caller's feet);
- the donated steps move to the end of the plan (the *commit tail*), keeping their order: their
  results are read only by later tail steps or returned, so this keeps every dependency. No
  tail step after a donated argument's update reads it or a view of it, and the update itself
  reads no view of it besides the argument (a transposed read while writing would see new
  values).

Everything that can fail for a given set of shapes (shape checks, label checks, islands run in
Python) then runs before the first write into a shared buffer. The native function replay
(runtime/native_function.py) is where the writes happen: it records the tail against scratch
copies, checks each call's labels before the tail and that no donated buffer overlaps another
argument. The plan run by Python writes new buffers as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tensorir.runtime.step_traits import traits_of

__all__ = ["Donation", "plan_donations"]

@dataclass(frozen=True)
class Donation:
    """Step ``step`` of the reordered plan may write result ``result`` into argument ``arg``,
    which is its operand ``operand``."""

    step: int
    operand: int
    arg: int
    result: int


def _aliases(plan: Sequence[tuple], ops: Sequence[object], slot: int) -> set[int]:
    """Slots that may view ``slot``'s buffer: itself and, transitively, the outputs of steps that
    do not promise new buffers (``fresh_outputs``) reading one of them other than for its shape."""
    found = {slot}
    for (step, ins, outs), op in zip(plan, ops):
        if traits_of(step).fresh_outputs:
            continue
        # Operands read only for their shape: the results never view them.
        shape_only = getattr(getattr(op, "opdef", None), "shape_operands", ())
        if any(i in found for k, i in enumerate(ins) if k not in shape_only):
            found.update(outs)
    return found


def _candidate(plan: Sequence[tuple], result_slots: Sequence[int], position: int, arg: int) -> tuple[int, int] | None:
    """(step index, operand) of the step that may write result ``position`` into ``arg``."""
    slot = result_slots[position]
    if result_slots.count(slot) != 1 or arg in result_slots:
        return None
    for index, (step, ins, outs) in enumerate(plan):
        if outs != (slot,):
            continue
        for k in traits_of(step).inplace_operands:
            if k < len(ins) and ins[k] == arg:
                return index, k
        return None
    return None


def plan_donations(plan: Sequence[tuple], ops: Sequence[object], result_slots: Sequence[int],
                   donations: Mapping[int, int]) -> tuple[list[int], list[Donation]]:
    """The plan's new step order (the commit tail last) and the donations it makes safe.

    ``plan``: (step, operand slots, result slots) per step; ``ops``: the op of each step;
    ``donations``: result position -> argument slot the caller lets it overwrite.
    """
    order = list(range(len(plan)))
    found: dict[int, tuple[int, int, int]] = {}  # step index -> (operand, arg, result position)
    for position, arg in donations.items():
        hit = _candidate(plan, result_slots, position, arg)
        if hit is not None:
            found[hit[0]] = (hit[1], arg, position)
    results = set(result_slots)
    while found:
        readers: dict[int, set[int]] = {}
        for index, (_, ins, _) in enumerate(plan):
            for i in ins:
                readers.setdefault(i, set()).add(index)
        dropped = set()
        for index, (operand, arg, _) in found.items():
            outs = plan[index][2]
            # Moving it last must keep its readers after it: they must be tail steps too.
            if any(r not in found or r < index for o in outs for r in readers.get(o, ())):
                dropped.add(index)
                continue
            views = _aliases(plan, ops, arg)
            if views & results:
                dropped.add(index)
                continue
            ins = plan[index][1]
            if any(i in views and (i != arg or not _elementwise(plan[index][0])) for k, i in enumerate(ins)
                   if k != operand):
                dropped.add(index)
                continue
            # A later tail step would read the new value; an earlier one reads the old, as before.
            if any(r in found and r > index for v in views for r in readers.get(v, ())):
                dropped.add(index)
        if not dropped:
            break
        for index in dropped:
            del found[index]
    tail = sorted(found)
    order = [i for i in order if i not in found] + tail
    new_index = {old: new for new, old in enumerate(order)}
    return order, [Donation(new_index[i], found[i][0], found[i][1], found[i][2]) for i in tail]


def _elementwise(step: object) -> bool:
    """Whether element ``i`` of the step's result depends only on element ``i`` of each operand
    (so an operand may be read while the result is written over it)."""
    return traits_of(step).elementwise
