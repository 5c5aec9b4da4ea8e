"""The benchmark harness's per-sample time limit and competing process."""

from __future__ import annotations

import time

import numpy as np
from benchmarks.contention import competing_process
from benchmarks.harness import Case, Workload

from benchmarks import harness


def _workload(slow_at: str) -> Workload:
    """NumPy answers at once; the tensorir case sleeps far past the limit at ``slow_at``."""
    calls = {"n": 0}

    def fast(_data: dict) -> Case:
        return Case(step=lambda: np.ones(3).sum(), result=lambda: [np.ones(3)])

    def slow(_data: dict) -> Case:
        if slow_at == "build":
            time.sleep(30)

        def step() -> float:
            calls["n"] += 1
            if slow_at == "sample" and calls["n"] > 2:  # first call and warm-up pass, samples stall
                time.sleep(30)
            return np.ones(3).sum()

        return Case(step=step, result=lambda: [np.ones(3)])

    return Workload("WT", "time limit", lambda quick: {}, {"numpy": fast, "tensorir": slow}, reference="numpy")


def _run(slow_at: str) -> tuple[list[harness.Result], float]:
    t0 = time.perf_counter()
    rows = harness.run_workload(
        _workload(slow_at), ["tensorir", "numpy"], True, 2, 0.0, log=lambda _m: None, sample_limit_s=0.3
    )
    return rows, time.perf_counter() - t0


def test_a_slow_build_becomes_a_timeout_cell_and_the_others_go_on() -> None:
    rows, elapsed = _run("build")
    tir, numpy_row = rows
    assert elapsed < 10
    assert tir.error == "timeout (> 0.3 s)" and not tir.samples
    assert numpy_row.error is None and len(numpy_row.samples) == 2
    table = harness.workload_table(_workload("build"), rows)
    assert "| tensorir | - | timeout |" in table
    summary = harness.summary_table({"WT": (_workload("build"), rows)})
    assert "| WT | timeout | numpy |" in summary


def test_a_slow_sample_becomes_a_timeout_cell() -> None:
    rows, elapsed = _run("sample")
    assert elapsed < 10
    assert rows[0].error == "timeout (> 0.3 s)" and rows[0].first is not None
    assert rows[1].error is None


def test_competing_process_runs_only_inside_the_block() -> None:
    with competing_process(True) as proc:
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None
    with competing_process(False) as none:
        assert none is None
