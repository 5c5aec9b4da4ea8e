"""The profiler's step monitor: time, calls and memory per step of a plan.

Each step's wall time is taken around its native call (``perf_counter_ns``), with the bytes of
the new arrays it returns. The intermediates' live size follows the plan: a value's bytes count
from the step that made it to the step after its last use, which frees it (the plan's dead
slots), so the peak is the most intermediate memory the plan held at once (the arguments, which
the caller holds, are not counted). Steps of a loop's or a branch's body are kept apart, per
enclosing op, so a scan's body shows per step kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.runtime.monitors.instrument import MonitoredStep, StepMonitor, StepPlace

__all__ = ["StepProfiler", "StepRecord"]


@dataclass
class StepRecord:
    """What the profiler saw of one step of a plan over all calls."""

    place: StepPlace
    calls: int = 0
    seconds: float = 0.0
    bytes_allocated: int = 0


class StepProfiler:
    """A step monitor accumulating :class:`StepRecord` per step (by the identity of its place)."""

    def __init__(self) -> None:
        self.records: dict[int, StepRecord] = {}
        self.peak_bytes = 0
        self._live: dict[tuple[int, int], int] = {}
        self._live_total = 0
        #: Another monitor the steps run through (a profiled NanGuardMode function's guard).
        self.then: StepMonitor | None = None

    def run_step(self, step: MonitoredStep, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]:  # noqa: ANN401
        place = step.place
        if place.index == 0 and not place.enclosing:
            self._live.clear()  # a new call of the function
            self._live_total = 0
        plan = place.plan
        for slot in place.frees:
            self._live_total -= self._live.pop((plan, slot), 0)
        start = time.perf_counter_ns()
        if self.then is None:
            results = step.inner(inputs, **options)
        else:
            results = self.then.run_step(step, inputs, **options)
        elapsed = time.perf_counter_ns() - start
        record = self.records.get(id(place))
        if record is None:
            record = self.records[id(place)] = StepRecord(place)
        record.calls += 1
        record.seconds += elapsed * 1e-9
        made = 0
        for slot, value in zip(place.outs, results):
            if type(value) is np.ndarray and value.base is None and not any(value is x for x in inputs):
                made += value.nbytes
                self._live[(plan, slot)] = value.nbytes
        record.bytes_allocated += made
        self._live_total += made
        if self._live_total > self.peak_bytes:
            self.peak_bytes = self._live_total
        return results
