"""Putting a monitor around every step of a native plan.

:func:`instrumented_executor` builds the plan with the whole-call replay and the native loops
off, and then replaces each step with a :class:`MonitoredStep`: a replay runs the recorded
native calls without the plan's steps, so a monitor would never see them (the stated reason:
``REPLAY_OFF_REASON``). A monitored step declares the traits a reference step has (it is not
recordable) except that it keeps the inner step's ``fresh_outputs``: monitoring never changes
which buffers a result lives in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tensorir.dialects.ir import Operation
from tensorir.runtime.step_traits import StepTraits, traits_of

if TYPE_CHECKING:
    import numpy as np

    from tensorir.runtime.native import NativeExecutor

__all__ = ["REPLAY_OFF_REASON", "MonitoredStep", "StepMonitor", "instrument", "instrumented_executor"]

#: Why a monitored function never replays natively (``NativeExecutor.function_replay`` is None).
REPLAY_OFF_REASON = "a monitor (NaN guard, debug mode or profiler) watches every step, which a native replay skips"


class StepMonitor(Protocol):
    """Runs one step of a plan, watching it: calls ``step.inner(inputs, **options)`` (the options
    the plan passes, e.g. ``free``: operands whose buffers the step may write over) and returns
    its results."""

    def run_step(self, step: MonitoredStep, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class StepPlace:
    """Where a step is: its op, its index in its plan, the kind it runs as, and the loop or branch
    ops whose bodies contain its plan (outermost first; empty for the function's own plan)."""

    op: Operation
    index: int
    kind: str
    enclosing: tuple[Operation, ...]
    #: Per operand: whether a later step (or the caller) still reads its value after this step.
    still_needed: tuple[bool, ...]
    #: The plan's slots of its results, the slots freed as it starts, and the plan's identity.
    outs: tuple[int, ...] = ()
    frees: tuple[int, ...] = ()
    plan: int = 0


class MonitoredStep:
    """A plan's step run through a monitor."""

    __slots__ = ("inner", "place", "monitor", "traits")

    def __init__(self, inner: Any, place: StepPlace, monitor: StepMonitor) -> None:  # noqa: ANN401 - any step
        self.inner = inner
        self.place = place
        self.monitor = monitor
        self.traits = StepTraits(fresh_outputs=traits_of(inner).fresh_outputs)

    def __call__(self, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]:  # noqa: ANN401
        return self.monitor.run_step(self, inputs, **options)


def instrument(executor: NativeExecutor, monitor: StepMonitor, enclosing: tuple[Operation, ...] = ()) -> None:
    """Put ``monitor`` around every step of ``executor``'s plan and of its bodies' plans."""
    executor.function_replay = None
    # A call runs the plan's loop, never a shortcut that captured the unwatched step (a plan of
    # one step may run it directly).
    executor.run = executor.run_plan
    n_args = executor.n_args
    results = set(executor.result_slots)
    steps = []
    for index, (entry, op, (_, kind)) in enumerate(zip(executor.steps, executor.ops, executor.step_kinds)):
        step, ins, outs, dead, shaped = entry[:5]
        gone = set(dead) | set(shaped)
        # The caller's arrays and the plan's results are always still needed.
        needed = tuple(slot < n_args or slot in results or slot not in gone for slot in ins)
        place = StepPlace(op, index, kind, enclosing, needed, tuple(outs), tuple(dead), id(executor))
        watched = MonitoredStep(step, place, monitor)
        # A plan entry is a tuple (a NamedTuple): the same entry with the watched step.
        steps.append(entry._replace(step=watched) if hasattr(entry, "_replace") else (watched, *entry[1:]))
    executor.steps = steps
    bodies: Mapping[int, NativeExecutor] = executor.__dict__.get("_bodies", {})
    owners = {id(region.block): op for op in executor.ops for region in op.regions}
    for block_id, body in bodies.items():
        owner = owners.get(block_id)
        instrument(body, monitor, enclosing + ((owner,) if owner is not None else ()))


def instrumented_executor(func: Operation, monitor: StepMonitor, opt_level: int = 3, cache_dir: str | None = "",
                          num_threads: int | None = None,
                          shape_hints: Mapping[int, tuple[int, ...]] | None = None) -> Any:  # noqa: ANN401
    """A native executor of ``func`` whose every step runs through ``monitor`` (module docstring);
    the reference executor where native code cannot run here (nothing to monitor then)."""
    from tensorir.runtime.executors import make_executor

    executor = make_executor(func, "native", opt_level, cache_dir=cache_dir, num_threads=num_threads,
                             native_loops=False, native_calls=False, shape_hints=shape_hints)
    if executor.kind == "native":
        instrument(executor, monitor)
    return executor
