"""Smoke test of benchmarks/pymc_backends.py: one model, tensorir and the C mode, few calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pymc_backends_quick() -> None:
    pytest.importorskip("pymc", reason="the benchmark needs the [pytensor] extra")
    proc = subprocess.run([sys.executable, "benchmarks/pymc_backends.py", "--quick", "--models", "eight_schools",
                           "--backends", "tensorir,c", "--calls", "50"], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| eight_schools")]
    assert len(rows) == 2, proc.stdout
    assert all(ln.rstrip().endswith("| yes |") for ln in rows), proc.stdout


def test_unknown_backend_is_named() -> None:
    proc = subprocess.run([sys.executable, "benchmarks/pymc_backends.py", "--backends", "tensorir,cuda"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "unknown backend 'cuda'" in proc.stderr
