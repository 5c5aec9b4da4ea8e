"""Watching a native plan run: the NaN/Inf guard, the debug mode's checks and the profiler.

Each tool is a *monitor* that :func:`~tensorir.runtime.monitors.instrument.instrument` puts
around every step of a plan (and of its loop and branch bodies' plans). The plan itself is the
one the optimized modes run; only whole-call and loop replays are off, since they would run
the steps without the monitor (see ``instrument``).
"""

from tensorir.runtime.monitors.bad_values import BadValueCounter, BadValueError
from tensorir.runtime.monitors.instrument import MonitoredStep, StepMonitor, instrument, instrumented_executor
from tensorir.runtime.monitors.nan_guard import NanGuard
from tensorir.runtime.monitors.step_compare import StepComparer, StepMismatchError
from tensorir.runtime.monitors.step_profile import StepProfiler, StepRecord

__all__ = ["BadValueCounter", "BadValueError", "MonitoredStep", "NanGuard", "StepComparer", "StepMismatchError",
           "StepMonitor", "StepProfiler", "StepRecord", "instrument", "instrumented_executor"]
