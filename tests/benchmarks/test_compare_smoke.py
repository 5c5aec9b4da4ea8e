"""Smoke test of the benchmark script: tiny sizes, tensorir and NumPy only, nothing written.

The benchmarks themselves run outside CI; this only keeps ``benchmarks/compare.py`` from rotting.
tensorir cells may show an error while the frontend is incomplete; NumPy must produce times.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_compare_quick_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/compare.py", "--quick", "--frameworks", "numpy,tensorir", "--no-write"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "## Summary" in out
    assert "| framework | first call" in out
    numpy_rows = [ln for ln in out.splitlines() if ln.startswith("| numpy |")]
    # NumPy has versions of W1-W4 and W8, each must show a time, not an error.
    assert len(numpy_rows) >= 5, out
    for row in numpy_rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.fullmatch(r"[0-9.]+ (µs|ms|s)", cells[2]), row
