"""Modes that watch every step: ``NanGuardMode`` and ``DebugMode`` (and the profiler's plan).

They compile like ``FAST_RUN`` (the same rewrites, the same native plan) and then put a monitor
around each step of the plan (runtime/monitors): the NaN/Inf guard counts the bad values of
every result in native code, the debug mode checks every step against its reference. Their
plans never take the one-native-call replay, which would skip the monitors; so the debug mode
also runs FAST_RUN's own executor (replay and donated update buffers included) on copies of the
arguments and checks it against the checked plan (:class:`DebugExecutor`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import Module
from tensorir.frontend.config import config
from tensorir.frontend.mode_class import Mode
from tensorir.passes.pipelines import run_pipeline
from tensorir.runtime.executors import make_executor
from tensorir.runtime.monitors import NanGuard, StepComparer, StepMismatchError, StepMonitor, instrumented_executor
from tensorir.runtime.monitors.step_compare import array_difference

__all__ = ["DebugExecutor", "DebugMode", "MonitoredExecutor", "NanGuardMode", "compile_monitored"]


class MonitoredExecutor:
    """A monitored native plan, plus what a call does around it (the guard checks arguments)."""

    kind = "monitored"

    def __init__(self, inner: Any, monitor: StepMonitor | None, arg_names: Sequence[str],  # noqa: ANN401
                 kept: frozenset[int] = frozenset()) -> None:
        self.inner = inner
        self.monitor = monitor
        self.arg_names = list(arg_names)
        #: Positions of the shared variables' values (kept between calls).
        self.kept = kept
        self.fresh_results = getattr(inner, "fresh_results", None)

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        check = getattr(self.monitor, "check_arguments", None)
        if check is not None:
            check(args, self.arg_names, self.kept)
        return self.inner.run(args)

    def describe(self) -> str:
        return self.inner.describe() if hasattr(self.inner, "describe") else ""


class DebugExecutor(MonitoredExecutor):
    """The debug mode's executor: the checked plan, then FAST_RUN's executor on copies of the
    arguments, whose results must agree and which may write only into the arguments donated to it
    (the shared variables' update buffers, runtime/donation.py). Its one-call replay starts from
    a signature's third call, so a test of donations calls a function at least three times."""

    def __init__(self, checked: MonitoredExecutor, fast: Any, donations: Mapping[int, int]) -> None:  # noqa: ANN401
        super().__init__(checked.inner, checked.monitor, checked.arg_names, checked.kept)
        self.fast = fast
        self.donated = frozenset(donations.values())

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        results = super().run(args)
        copies = [a.copy() if type(a) is np.ndarray else a for a in args]
        replayed = self.fast.run(copies)
        for k, (arg, copy) in enumerate(zip(args, copies)):
            if k not in self.donated and type(arg) is np.ndarray and not np.array_equal(arg, copy, equal_nan=True):
                raise StepMismatchError(f"DebugMode: FAST_RUN's executor wrote into argument {k} "
                                        f"({self.arg_names[k]}), which is not donated to it", None)
        way = "a one-call native replay" if getattr(self.fast, "function_replay", None) is not None else "its plan"
        for j, (value, expected) in enumerate(zip(replayed, results)):
            problem = array_difference(np.asarray(value), np.asarray(expected))
            if problem:
                raise StepMismatchError(f"DebugMode: FAST_RUN's executor ({way}, donated arguments "
                                        f"{sorted(self.donated)}) gave result {j} different from the checked "
                                        f"plan: {problem}", None)
        return results


def compile_monitored(module: Module, optimizer: str | None, monitor: StepMonitor,
                      shape_hints: Mapping[int, tuple[int, ...]] | None = None) -> MonitoredExecutor:
    """``module``'s function after ``optimizer``'s rewrites, as a native plan watched by ``monitor``."""
    run_pipeline(module, optimizer, fast_math=config.fast_math)
    func = module.functions[0]
    inner = instrumented_executor(func, monitor, opt_level=3 if optimizer == "fast_run" else 1,
                                  cache_dir=config.compiledir, num_threads=config.threads or None,
                                  shape_hints=shape_hints)
    names = [a.name or f"#{k}" for k, a in enumerate(func.regions[0].block.arguments)]
    # ``function`` hints the shape of every shared variable's value, and of nothing else.
    return MonitoredExecutor(inner, monitor, names, frozenset(shape_hints or ()))


class NanGuardMode(Mode):
    """Theano's ``NanGuardMode``: raise at the first op whose result holds NaN (``nan_is_error``),
    +-inf (``inf_is_error``) or a finite value above ``big`` in magnitude (``big_is_error``), naming
    the op, the user's line that built it and, for a gradient op, the forward op it belongs to."""

    def __init__(self, nan_is_error: bool | None = True, inf_is_error: bool | None = True,
                 big_is_error: bool | None = False, optimizer: str | None = "fast_run", linker: Any = None,  # noqa: ANN401
                 big: float = 1e10) -> None:
        super().__init__(optimizer if optimizer != "default" else "fast_run", "native", "NanGuardMode")
        object.__setattr__(self, "nan_is_error", True if nan_is_error is None else bool(nan_is_error))
        object.__setattr__(self, "inf_is_error", True if inf_is_error is None else bool(inf_is_error))
        object.__setattr__(self, "big_is_error", False if big_is_error is None else bool(big_is_error))
        object.__setattr__(self, "big", float(big))

    def monitor(self) -> NanGuard:
        return NanGuard(self.nan_is_error, self.inf_is_error, self.big_is_error, self.big,  # type: ignore[attr-defined]
                        cache_dir=config.compiledir)

    def compile(self, module: Module, shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                donations: Mapping[int, int] | None = None, return_device_arrays: bool = False) -> Any:  # noqa: ANN401
        return compile_monitored(module, self.optimizer, self.monitor(), shape_hints)

    def __repr__(self) -> str:
        return (f"NanGuardMode(nan_is_error={self.nan_is_error}, inf_is_error={self.inf_is_error}, "  # type: ignore[attr-defined]
                f"big_is_error={self.big_is_error})")  # type: ignore[attr-defined]


class DebugMode(Mode):
    """Every step runs natively and with its NumPy reference, compared by dtype's tolerance; in-place
    writes over values still needed, and results off their inferred types, are reported too
    (runtime/monitors/step_compare.py). The first failure raises ``StepMismatchError``."""

    def __init__(self, optimizer: str | None = "fast_run", linker: Any = None) -> None:  # noqa: ANN401
        super().__init__(optimizer, "native", "DEBUG_MODE")

    def monitor(self) -> StepComparer:
        return StepComparer()

    def compile(self, module: Module, shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                donations: Mapping[int, int] | None = None, return_device_arrays: bool = False) -> Any:  # noqa: ANN401
        checked = compile_monitored(module, self.optimizer, self.monitor(), shape_hints)
        if getattr(checked.inner, "kind", "") != "native":
            return checked  # no native code here: nothing to check against
        fast = make_executor(module.functions[0], "native", 3 if self.optimizer == "fast_run" else 1,
                             cache_dir=config.compiledir, num_threads=config.threads or None,
                             native_loops=config.native_loops, native_calls=config.native_calls,
                             shape_hints=shape_hints, donations=donations)
        return DebugExecutor(checked, fast, donations or {})
