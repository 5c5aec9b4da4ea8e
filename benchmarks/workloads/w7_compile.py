"""W7: compile time of W5 (LeNet) and W6 (char-LSTM), cold and from the on-disk cache.

Every sample is a fresh subprocess (``w7_child``) that builds the model and makes its first
call; the child reports that time, imports excluded. The first call column is the cold run
(empty cache directory); the timed repetitions reuse the directory the cold run filled, i.e.
a new process compiling the same graph from the cache. Cache directories: tensorir
``compiledir`` and PyTensor ``compiledir`` through their FLAGS variables, JAX's persistent
compilation cache, TorchInductor's cache dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks.frameworks import REPO_ROOT
from benchmarks.harness import Case, Workload

FRAMEWORKS = ("tensorir", "pytensor", "jax", "torch-compile")


def cache_env(framework: str, cache_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    if framework in ("tensorir", "pytensor"):
        var = "TENSORIR_FLAGS" if framework == "tensorir" else "PYTENSOR_FLAGS"
        flags = [f for f in env.get(var, "").split(",") if f and not f.startswith("compiledir=")]
        env[var] = ",".join(flags + [f"compiledir={cache_dir}"])
    elif framework == "jax":
        env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    elif framework == "torch-compile":
        env["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    return env


def run_child(model: str, framework: str, quick: bool, cache_dir: str) -> float:
    cmd = [sys.executable, "-m", "benchmarks.workloads.w7_child", model, framework, "1" if quick else "0"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=cache_env(framework, cache_dir), capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"child exited {proc.returncode}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])


def _make_case(model: str, framework: str) -> Any:
    def build(d: dict[str, Any]) -> Case:
        cache_dir = tempfile.mkdtemp(prefix=f"bench-w7-{framework}-")

        def step() -> float:
            # The first call runs on the empty directory (cold), later ones reuse it (cached).
            return run_child(model, framework, d["quick"], cache_dir)

        return Case(step, self_timed=True, note="cold = first call column; cached = timed samples")

    return build


WORKLOADS = [
    Workload(
        id=f"W7{suffix}",
        title=f"compile time of {label}: build + compile + first call in a fresh process, cold vs cached",
        make_data=lambda quick: {"quick": quick},
        builders={fw: _make_case(model, fw) for fw in FRAMEWORKS},
        max_repeat=2,
        warmup=0,
    )
    for suffix, model, label in (("a", "lenet", "W5 LeNet"), ("b", "lstm", "W6 char-LSTM"))
]
