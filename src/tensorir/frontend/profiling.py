"""The profiler: ``function(..., profile=True)`` or ``config.profile = True``.

A profiled function runs the native plan of its mode with a
:class:`~tensorir.runtime.monitors.StepProfiler` around every step (time, calls, bytes
allocated, the intermediates' peak) and remembers what compiling it cost, phase by phase:
building the graph, the rewrites, building the plan, and inside that (codegen/compile_phases.py)
MLIR lowering, LLVM and loading kernels from the disk cache. ``f.profile.summary()`` prints
Theano-like tables; with ``config.profile`` set every profile is printed when Python exits.
Profiled calls take the plan step by step (no one-call replay), so they are slower than
unprofiled ones: compare steps with each other, not with an unprofiled call.
"""

from __future__ import annotations

import atexit
import sys
import time
import weakref
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import numpy as np

from tensorir.codegen.compile_phases import PHASES, phase_seconds
from tensorir.dialects.ir import Module
from tensorir.dialects.provenance import describe_location
from tensorir.frontend.config import config
from tensorir.frontend.mode_class import compile_assuming
from tensorir.runtime.executors import make_executor
from tensorir.runtime.monitors import StepProfiler, StepRecord, instrumented_executor

__all__ = ["ProfileStats", "ProfiledExecutor", "compile_profiled"]

#: Compile phases in the order the summary lists them.
COMPILE_PHASES = ("graph_build", "rewrites", "plan", *PHASES)

_ALL: weakref.WeakSet[ProfileStats] = weakref.WeakSet()
#: Profiles made while ``config.profile`` is set, kept for the summaries at exit even when their
#: functions are gone (as Theano printed every profiled function's).
_KEPT: list[ProfileStats] = []


class ProfileStats:
    """What the profiler collected for one function (``f.profile``)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "<function>"
        self.compile_seconds: dict[str, float] = dict.fromkeys(COMPILE_PHASES, 0.0)
        self.calls = 0
        self.call_seconds = 0.0
        self.steps = StepProfiler()
        _ALL.add(self)
        if config.profile:
            _KEPT.append(self)

    @contextmanager
    def compile_phase(self, name: str) -> Iterator[None]:
        """Count the block's time as compile phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.compile_seconds[name] += time.perf_counter() - start

    def records(self) -> list[StepRecord]:
        """The steps seen, most time first."""
        return sorted(self.steps.records.values(), key=lambda r: -r.seconds)

    def summary(self, file: TextIO | None = None, n_steps: int = 20) -> str:
        """Print (to ``file``, default stdout) and return the profile as tables."""
        text = _format(self, n_steps)
        (file or sys.stdout).write(text)
        return text


class ProfiledExecutor:
    """An executor whose calls are counted and timed into a :class:`ProfileStats`."""

    def __init__(self, inner: Any, stats: ProfileStats) -> None:  # noqa: ANN401
        self.inner = inner
        self.stats = stats
        self.kind = getattr(inner, "kind", "profiled")
        self.fresh_results = getattr(inner, "fresh_results", None)

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        start = time.perf_counter()
        try:
            return self.inner.run(args)
        finally:
            self.stats.calls += 1
            self.stats.call_seconds += time.perf_counter() - start


def compile_profiled(mode: Any, module: Module, stats: ProfileStats,  # noqa: ANN401
                     shape_hints: Mapping[int, tuple[int, ...]] | None = None) -> Any:
    """``module`` compiled by ``mode``'s rewrites into a plan the profiler watches."""
    from tensorir.frontend.debug_modes import MonitoredExecutor

    def build(rewritten: Module) -> ProfiledExecutor:
        before = phase_seconds()
        start = time.perf_counter()
        func = rewritten.functions[0]
        opt_level = 3 if mode.optimizer == "fast_run" else 1
        if mode.linker == "reference":
            inner = make_executor(func, "reference")
        else:
            monitor_of = getattr(mode, "monitor", None)
            checks = stats.steps.then = monitor_of() if monitor_of is not None else None
            plan = instrumented_executor(func, stats.steps, opt_level, cache_dir=config.compiledir,
                                         num_threads=config.threads or None, shape_hints=shape_hints)
            names = [a.name or f"#{k}" for k, a in enumerate(func.regions[0].block.arguments)]
            inner = MonitoredExecutor(plan, checks, names, frozenset(shape_hints or ()))
        after = phase_seconds()
        codegen = 0.0
        for phase in PHASES:
            stats.compile_seconds[phase] += after[phase] - before[phase]
            codegen += after[phase] - before[phase]
        stats.compile_seconds["plan"] += time.perf_counter() - start - codegen
        return ProfiledExecutor(inner, stats)

    # the rewrites' time is what compiling takes less the plans' (codegen included)
    start = time.perf_counter()
    spent = dict(stats.compile_seconds)
    executor = compile_assuming(module, mode.optimizer, mode.linker, build)
    built = sum(stats.compile_seconds[k] - spent[k] for k in ("plan", *PHASES))
    stats.compile_seconds["rewrites"] += time.perf_counter() - start - built
    return executor


def _kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def _format(stats: ProfileStats, n_steps: int) -> str:
    out = [f"Function profile: {stats.name}"]
    per_call = stats.call_seconds / stats.calls if stats.calls else 0.0
    out.append(f"  {stats.calls} calls, {stats.call_seconds:.6f} s in calls ({per_call * 1e3:.3f} ms a call)")
    compile_total = sum(stats.compile_seconds.values())
    phases = ", ".join(f"{k} {v:.3f}" for k, v in stats.compile_seconds.items())
    out.append(f"  compile: {compile_total:.3f} s ({phases})")
    out.append(f"  peak intermediate memory: {_kib(stats.steps.peak_bytes)}")
    records = stats.records()
    top = [r for r in records if not r.place.enclosing]
    total = sum(r.seconds for r in top) or 1.0
    out.append("")
    out.append("Steps (the function's plan, most time first)")
    out.append(f"  {'<% time>':>8} {'<cum %>':>7} {'<s>':>10} {'<calls>':>7} {'<us/call>':>10} {'<alloc>':>11}  "
               "<kind> <op> <built at>")
    cumulative = 0.0
    for r in top[:n_steps]:
        cumulative += r.seconds
        out.append(f"  {100 * r.seconds / total:7.1f}% {100 * cumulative / total:6.1f}% {r.seconds:10.6f} "
                   f"{r.calls:7d} {1e6 * r.seconds / max(r.calls, 1):10.1f} {_kib(r.bytes_allocated):>11}  "
                   f"{r.place.kind} #{r.place.index} {r.place.op.name} ({describe_location(r.place.op)})")
    if len(top) > n_steps:
        out.append(f"  ... {len(top) - n_steps} more steps")
    by_op: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for r in top:
        entry = by_op[(r.place.op.name, r.place.kind)]
        entry[0] += r.seconds
        entry[1] += r.calls
        entry[2] += 1
    out.append("")
    out.append("Ops (time summed over the steps of each op and step kind)")
    out.append(f"  {'<% time>':>8} {'<s>':>10} {'<calls>':>7} {'<steps>':>7}  <kind> <op>")
    for (name, kind), (seconds, calls, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        out.append(f"  {100 * seconds / total:7.1f}% {seconds:10.6f} {calls:7d} {n:7d}  {kind} {name}")
    bodies: dict[int, list[StepRecord]] = defaultdict(list)
    owners: dict[int, Any] = {}
    for r in records:
        if r.place.enclosing:
            owner = r.place.enclosing[-1]
            bodies[id(owner)].append(r)
            owners[id(owner)] = owner
    for key, body in bodies.items():
        owner = owners[key]
        out.append("")
        out.append(f"Body of {owner.name} ({describe_location(owner)}), per step kind")
        kinds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for r in body:
            kinds[r.place.kind][0] += r.seconds
            kinds[r.place.kind][1] += r.calls
        body_total = sum(v[0] for v in kinds.values()) or 1.0
        for kind, (seconds, calls) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
            out.append(f"  {100 * seconds / body_total:7.1f}% {seconds:10.6f} s {calls:7d} calls  {kind}")
    return "\n".join(out) + "\n"


def _print_all_at_exit() -> None:
    if not config.profile:
        return
    for stats in [*_KEPT, *(s for s in list(_ALL) if s not in _KEPT)]:
        if stats.calls:
            stats.summary(file=sys.stderr)


atexit.register(_print_all_at_exit)
