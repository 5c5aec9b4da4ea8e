"""W7: compile time of W5 (LeNet) and W6 (char-LSTM), cold and from the on-disk cache.

Every sample is a fresh subprocess (``w7_child``) that builds the model and calls it three
times; the child reports its phases (see ``w7_child``), imports excluded. The number in the
table is the compile time: ``build + first call - steady call``, i.e. everything before the
step runs at full speed, whether a framework compiles in ``function`` (tensorir, PyTensor) or
at the first call (JAX, torch.compile); the line under the table splits it into phases. The
first call column is the cold run (empty cache directory); the timed repetitions reuse the
directory the cold run filled, i.e. a new process compiling the same graph from the cache.
Cache directories: tensorir ``compiledir`` and PyTensor ``compiledir`` through their FLAGS
variables, JAX's persistent compilation cache, TorchInductor's cache dir.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks.frameworks import REPO_ROOT
from benchmarks.harness import Case, Workload

FRAMEWORKS = ("tensorir", "pytensor", "jax", "torch-compile")

# Phases of every child, by workload id and framework: the cold run first, then the cached ones.
_PHASES: dict[str, dict[str, list[dict[str, float]]]] = {}


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


def run_child(model: str, framework: str, quick: bool, cache_dir: str) -> dict[str, float]:
    """The phases (seconds) of one fresh process building and calling the model."""
    cmd = [sys.executable, "-m", "benchmarks.workloads.w7_child", model, framework, "1" if quick else "0"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=cache_env(framework, cache_dir), capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"child exited {proc.returncode}")
    return {k: float(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def _make_case(workload_id: str, model: str, framework: str) -> Any:
    def build(d: dict[str, Any]) -> Case:
        cache_dir = tempfile.mkdtemp(prefix=f"bench-w7-{framework}-")
        runs = _PHASES.setdefault(workload_id, {}).setdefault(framework, [])
        runs.clear()

        def step() -> float:
            # The first call runs on the empty directory (cold), later ones reuse it (cached).
            phases = run_child(model, framework, d["quick"], cache_dir)
            runs.append(phases)
            return phases["compile"]

        return Case(step, self_timed=True, note="cold = first call column; cached = timed samples")

    return build


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


def _phase_text(runs: list[dict[str, float]]) -> str:
    keys = ("runtime_import", "build", "function", "jax_trace", "jax_lower", "jax_backend_compile", "first_call",
            "steady")
    parts = []
    for key in keys:
        values = [r[key] for r in runs if key in r]
        if values:
            parts.append(f"{key.replace('_', ' ')} {_ms(statistics.median(values))}")
    return ", ".join(parts)


def _describe(workload_id: str) -> Any:
    def describe(d: dict[str, Any], medians: dict[str, float]) -> str:
        lines = []
        for framework, runs in _PHASES.get(workload_id, {}).items():
            if not runs:
                continue
            cached = runs[1:]
            text = f"{framework}: cold: {_phase_text(runs[:1])}"
            if cached:
                text += f"; cached (median): {_phase_text(cached)}"
            lines.append(text)
        return "Phases (compile = build + first call - steady call). " + " | ".join(lines)

    return describe


WORKLOADS = [
    Workload(
        id=f"W7{suffix}",
        title=f"compile time of {label}: build + compile in a fresh process (first call minus a steady call "
              "included), cold vs cached",
        make_data=lambda quick: {"quick": quick},
        builders={fw: _make_case(f"W7{suffix}", model, fw) for fw in FRAMEWORKS},
        max_repeat=2,
        warmup=0,
        describe=_describe(f"W7{suffix}"),
    )
    for suffix, model, label in (("a", "lenet", "W5 LeNet"), ("b", "lstm", "W6 char-LSTM"))
]
