"""Timing, alternation between frameworks, correctness checks and the Markdown tables."""

from __future__ import annotations

import gc
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.frameworks import ALL_FRAMEWORKS
from benchmarks.time_limit import SampleTimeout, time_limit


@dataclass
class Case:
    """One framework's ready-to-run version of a workload.

    ``step`` runs one iteration and blocks until the result exists (asynchronous frameworks
    must synchronise inside it). ``result`` returns the arrays checked against the reference
    after the first call. A ``self_timed`` step returns the seconds it measured itself (used
    where the interesting time is inside a subprocess or a sub-phase, W7 and W9).
    """

    step: Callable[[], Any]
    result: Callable[[], Sequence[np.ndarray]] | None = None
    self_timed: bool = False
    note: str = ""


@dataclass
class Workload:
    id: str
    title: str
    make_data: Callable[[bool], dict[str, Any]]
    builders: dict[str, Callable[[dict[str, Any]], Case]]
    # Framework whose first-call results are the reference for the others, if present.
    reference: str | None = None
    rtol: float = 2e-3
    atol: float = 2e-4
    # Upper bound on timed repetitions: the slow workloads (W5-W7, W9) only afford a few.
    max_repeat: int | None = None
    warmup: int = 1
    # Optional extra line under the workload's table, given the data and the medians.
    describe: Callable[[dict[str, Any], dict[str, float]], str] | None = None


@dataclass
class Result:
    workload: str
    framework: str
    first: float | None = None
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def _short_error(exc: BaseException) -> str:
    if isinstance(exc, SampleTimeout):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:160]


def _check(ref: Sequence[np.ndarray], got: Sequence[np.ndarray], rtol: float, atol: float) -> str | None:
    if len(ref) != len(got):
        return f"result mismatch: {len(got)} outputs, reference has {len(ref)}"
    for i, (r, g) in enumerate(zip(ref, got)):
        g = np.asarray(g)
        r = np.asarray(r)
        if r.shape != g.shape:
            return f"result mismatch: output {i} shape {g.shape}, reference {r.shape}"
        if not np.allclose(g, r, rtol=rtol, atol=atol, equal_nan=False):
            err = float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64))))
            return f"result mismatch: output {i} max abs error {err:.3g}"
    return None


def _time_call(step: Callable[[], Any], inner: int, self_timed: bool) -> float:
    # Like timeit: no garbage collection inside a sample, it would land on whoever is unlucky.
    gc.disable()
    try:
        if self_timed:
            return sum(float(step()) for _ in range(inner)) / inner
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        return (time.perf_counter() - t0) / inner
    finally:
        gc.enable()


def run_workload(
    wl: Workload,
    frameworks: Sequence[str],
    quick: bool,
    repeat: int,
    min_sample_s: float,
    log: Callable[[str], None] = print,
    sample_limit_s: float | None = None,
) -> list[Result]:
    """Build every framework's case, then time them alternating, one call of each per round.

    ``sample_limit_s`` bounds each framework's build + first call, its warm-up and each of its
    samples: past it the framework's cell reads ``timeout`` and the others go on.
    """
    data = wl.make_data(quick)
    results: dict[str, Result] = {}
    cases: dict[str, Case] = {}
    ref: Sequence[np.ndarray] | None = None
    # The reference framework is built first so every other one can be checked as it comes.
    order = sorted(frameworks, key=lambda f: (f != wl.reference, ALL_FRAMEWORKS.index(f)))
    for fw in order:
        res = results[fw] = Result(wl.id, fw)
        if fw not in wl.builders:
            res.error = "n/a"
            continue
        log(f"  {wl.id} {fw}: build + first call")
        try:
            t0 = time.perf_counter()
            with time_limit(sample_limit_s):
                case = wl.builders[fw](data)
                out = case.step()
            res.first = float(out) if case.self_timed else time.perf_counter() - t0
            res.note = case.note
            if case.result is not None:
                got = [np.asarray(a) for a in case.result()]
                if fw == wl.reference:
                    ref = got
                elif ref is not None:
                    mismatch = _check(ref, got, wl.rtol, wl.atol)
                    if mismatch:
                        res.error = mismatch
                        continue
                    res.note = (res.note + "; " if res.note else "") + f"checked vs {wl.reference}"
            cases[fw] = case
        except SampleTimeout as exc:
            res.error = str(exc)
            log(f"    {fw}: {exc}")
        except Exception as exc:  # a peer failing must not stop the others
            res.error = _short_error(exc)
            log("    " + traceback.format_exc().strip().splitlines()[-1])

    # Warm-up (excluded) and a per-framework number of calls per sample, so that fast calls
    # are not dominated by timer resolution.
    inner: dict[str, int] = {}
    for fw, case in list(cases.items()):
        try:
            with time_limit(sample_limit_s):
                for _ in range(wl.warmup):
                    case.step()
                if case.self_timed:  # its samples are long and measured inside: no calibration call
                    inner[fw] = 1
                    continue
                t = _time_call(case.step, 1, False)
            inner[fw] = max(1, min(10_000, int(min_sample_s / max(t, 1e-9))))
        except (Exception, SampleTimeout) as exc:
            results[fw].error = _short_error(exc)
            del cases[fw]

    n_rep = min(repeat, wl.max_repeat) if wl.max_repeat else repeat
    names = list(cases)
    for r in range(n_rep):
        # Rotate the order each round so that no framework always runs right after another one.
        k = r % len(names) if names else 0
        for fw in names[k:] + names[:k]:
            if fw not in cases:
                continue
            try:
                with time_limit(sample_limit_s):
                    sample = _time_call(cases[fw].step, inner[fw], cases[fw].self_timed)
                results[fw].samples.append(sample)
            except (Exception, SampleTimeout) as exc:
                results[fw].error = _short_error(exc)
                results[fw].samples.clear()
                del cases[fw]
    cases.clear()
    gc.collect()
    out = [results[f] for f in frameworks]
    if wl.describe is not None:
        medians = {r.framework: r.median for r in out if r.median is not None and r.error is None}
        try:
            line = wl.describe(data, medians)
        except Exception as exc:
            line = f"(description failed: {_short_error(exc)})"
        if line:
            _DESCRIPTIONS[wl.id] = line
    return out


_DESCRIPTIONS: dict[str, str] = {}


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _error_cell(error: str) -> str:
    """The time column of a framework without a time: ``timeout``, ``n/a`` or ``error``."""
    if error.startswith("timeout"):
        return "timeout"
    return "n/a" if error == "n/a" else "error"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def best_peer(rows: Sequence[Result]) -> Result | None:
    peers = [r for r in rows if r.framework != "tensorir" and r.error is None and r.median is not None]
    return min(peers, key=lambda r: r.median or 0.0) if peers else None


def workload_table(wl: Workload, rows: Sequence[Result]) -> str:
    lines = [
        f"### {wl.id}: {wl.title}",
        "",
        "| framework | first call (build+compile+run) | median | min | max | n | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.error == "n/a":  # no counterpart in this framework (e.g. NumPy has no compiler for W7)
            continue
        if r.error is not None:
            first = fmt_time(r.first) if r.first is not None else "-"
            lines.append(f"| {r.framework} | {first} | {_error_cell(r.error)} | | | 0 | {_cell(r.error)} |")
            continue
        s = r.samples
        lo, hi = fmt_time(min(s) if s else None), fmt_time(max(s) if s else None)
        lines.append(
            f"| {r.framework} | {fmt_time(r.first)} | {fmt_time(r.median)} | {lo} | {hi} | {len(s)} | {_cell(r.note)} |"
        )
    bp = best_peer(rows)
    tir = next((r for r in rows if r.framework == "tensorir"), None)
    if bp is not None and tir is not None and tir.error is None and tir.median:
        lines.append("")
        lines.append(
            f"tensorir / best peer ({bp.framework}): **{tir.median / (bp.median or 1):.2f}x** "
            "(median time; below 1 means tensorir is faster)"
        )
    if wl.id in _DESCRIPTIONS:
        lines.append("")
        lines.append(_DESCRIPTIONS[wl.id])
    return "\n".join(lines)


def summary_table(all_rows: dict[str, tuple[Workload, list[Result]]]) -> str:
    lines = [
        "| workload | tensorir median | best peer | best peer median | tensorir / best peer |",
        "|---|---:|---|---:|---:|",
    ]
    for wid, (_wl, rows) in all_rows.items():
        tir = next((r for r in rows if r.framework == "tensorir"), None)
        bp = best_peer(rows)
        if tir is None:
            tir_cell = "not run"
        elif tir.error is not None:
            tir_cell = _error_cell(tir.error)
        else:
            tir_cell = fmt_time(tir.median)
        ratio = "-"
        if tir is not None and tir.error is None and tir.median and bp is not None:
            ratio = f"{tir.median / (bp.median or 1):.2f}x"
        lines.append(
            f"| {wid} | {tir_cell} | {bp.framework if bp else '-'} | {fmt_time(bp.median) if bp else '-'} | {ratio} |"
        )
    return "\n".join(lines)
