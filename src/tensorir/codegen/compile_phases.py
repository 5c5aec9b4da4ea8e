"""Seconds spent in each phase of compiling kernels, for the profiler.

The code generators and the compile cache mark their phases with :func:`timed_phase`; the
profiler reads :func:`phase_seconds` before and after compiling a function and keeps the
difference. Phases nest: an inner phase's time counts for it alone, not for the phase around
it (lowering MLIR inside a multi-part LLVM compile counts as lowering).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PHASES", "phase_seconds", "timed_phase"]

#: The phases, in the order a kernel goes through them.
PHASES = ("cache_load", "mlir_lowering", "llvm")

_totals: dict[str, float] = dict.fromkeys(PHASES, 0.0)
_lock = threading.Lock()
_stack = threading.local()

F = TypeVar("F", bound=Callable[..., Any])


def timed_phase(name: str) -> Callable[[F], F]:
    """Count the decorated function's time (less that of phases it calls) as phase ``name``."""
    if name not in _totals:
        raise ValueError(f"unknown compile phase {name!r}; phases: {', '.join(PHASES)}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frames = _stack.__dict__.setdefault("frames", [])
            frames.append(0.0)  # time of nested phases
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = frames.pop()
                with _lock:
                    _totals[name] += elapsed - nested
                if frames:
                    frames[-1] += elapsed

        return timed  # type: ignore[return-value]

    return decorate


def phase_seconds() -> dict[str, float]:
    """Seconds spent so far in this process in each phase."""
    with _lock:
        return dict(_totals)
