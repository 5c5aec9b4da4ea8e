"""Which operand buffers a step may write its result over: decided once per plan, on the graph.

A step that writes its result into an operand's buffer saves an allocation and a page's worth of
cache misses, but only when nothing else can ever read that buffer again. That is a property of
the plan, not of the values at run time, so it is decided here, once, from what each step
declares (:class:`~tensorir.runtime.step_traits.StepTraits`), as PyTensor decides in-place use
from its ops' ``view_map``/``destroy_map``:

- the **view map**: a step with ``fresh_outputs`` makes each result a buffer of its own (or the
  buffer of a dead operand it was allowed to take, which then has no other reader); any other
  step's results may view any of its operands (an op's NumPy reference may return a view, or
  the operand itself);
- the **destroy rule**: a step that declares ``reuses_dead_operands`` may take operand ``j``'s
  buffer when the value is a buffer of its own (made fresh by an earlier step: not an argument,
  a constant or a result of the function), this is the last step that reads its values, it
  appears once among the step's operands, and every value that may view it was last read
  before this step (values read later only for their shapes are fine: the plan hands those
  steps a shape stub).

The step still checks the layout it needs (shape, dtype, C order) at run time; it never asks
who else holds the array.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.runtime.step_traits import StepTraits

__all__ = ["plan_buffer_reuse"]


def plan_buffer_reuse(traits: Sequence[StepTraits], ins: Sequence[tuple[int, ...]],
                      outs: Sequence[tuple[int, ...]], value_reads: Sequence[frozenset[int]],
                      protected: frozenset[int]) -> list[tuple[int, ...]]:
    """Per step, the operand positions whose buffers it may write its results over.

    ``traits``, ``ins``, ``outs``: per step, its declared traits and its operand and result
    slots, in plan order. ``value_reads``: per step, the operand positions it reads values of
    (the others only for their shapes). ``protected``: slots no step may overwrite (arguments,
    constants, the function's results).
    """
    n = len(ins)
    # The buffers each slot may share memory with, as the slots that made them fresh.
    roots: dict[int, frozenset[int]] = {}
    for step_traits, step_ins, step_outs, reads in zip(traits, ins, outs, value_reads):
        if step_traits.fresh_outputs:
            for slot in step_outs:
                roots[slot] = frozenset((slot,))
        else:
            # An operand read only for its shape cannot be viewed by a result.
            viewed = frozenset().union(*(roots.get(step_ins[j], frozenset((step_ins[j],))) for j in reads))
            for slot in step_outs:
                roots[slot] = viewed | {slot}
    viewers: dict[int, list[int]] = {}
    for slot, slot_roots in roots.items():
        for root in slot_roots:
            viewers.setdefault(root, []).append(slot)
    last_read: dict[int, int] = {}
    for k, (step_ins, reads) in enumerate(zip(ins, value_reads)):
        for j in reads:
            last_read[step_ins[j]] = k
    for slot in protected:
        last_read[slot] = n  # read after the plan (a result) or owned by the caller
    free: list[tuple[int, ...]] = []
    for k, (step_traits, step_ins, reads) in enumerate(zip(traits, ins, value_reads)):
        if not step_traits.reuses_dead_operands:
            free.append(())
            continue
        allowed = []
        for j in sorted(reads):
            slot = step_ins[j]
            if (slot in protected or roots.get(slot) != frozenset((slot,)) or last_read.get(slot) != k
                    or step_ins.count(slot) != 1):
                continue
            if all(other == slot or last_read.get(other, -1) < k for other in viewers.get(slot, ())):
                allowed.append(j)
        free.append(tuple(allowed))
    return free
