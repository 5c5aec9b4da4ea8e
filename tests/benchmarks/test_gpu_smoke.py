"""``benchmarks/gpu.py`` without a device: it says why in its report and exits 2 (with one, the
device run is the test: ``python benchmarks/gpu.py --out DIR``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tensorir.runtime.cuda.driver import unavailable_reason

REPO = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_without_a_device_says_why(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is None:
        pytest.skip("a CUDA device is present: run benchmarks/gpu.py itself")
    proc = subprocess.run([sys.executable, "benchmarks/gpu.py", "--out", str(tmp_path), "--quick", "--no-tests"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert (tmp_path / "RESULTS-gpu.md").read_text() == f"# GPU benchmarks\n\nNot run: {reason}\n"


def test_gpu_benchmark_prepares_its_ptx(tmp_path: Path) -> None:
    """``--prepare`` (no GPU): every function and raw kernel of the benchmark leaves its PTX."""
    import os

    env = {**os.environ, "TENSORIR_CUDA_PREPARE": str(tmp_path / "bundle"), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-W", "ignore", "benchmarks/gpu.py", "--prepare"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / "bundle").glob("*.ptx"))) >= 6
