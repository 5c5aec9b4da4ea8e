"""PyMC models' logp+dlogp on tensorir against PyTensor's C, Numba and JAX modes, in one run.

    python benchmarks/pymc_backends.py [--models eight_schools,radon,logistic]
        [--backends tensorir,c,numba,jax] [--calls N] [--cold] [--quick] [--json FILE]

Each (model, backend) runs in a fresh process (no compiled code shared in memory between cells):
it builds the model (not timed), then times

- compile: ``model.logp_dlogp_function(mode=...)`` plus its first call (Numba and JAX compile
  on the first call);
- logp+dlogp: one call of the compiled function at a point near the initial point (the value a
  NUTS step needs per leapfrog step), the median of 7 rounds of ``--calls`` calls.

With ``--cold`` each process gets empty compile caches (tensorir's and PyTensor's compiledir;
Numba's in-memory cache is per process anyway), so compile times are first-ever times; without
it they are times with whatever the caches hold (the usual case after the first run).

Every backend's logp and dlogp at the timed point are checked against the C mode's (rtol 1e-8);
a cell that disagrees is marked. Measure on a quiet machine: the numbers are per-call latencies
of a few microseconds, and another busy process changes them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: backend name -> the PyTensor mode argument (a name, or 'tensorir' for tensorir.pytensor.mode()).
BACKENDS = {"tensorir": "tensorir", "c": "FAST_RUN", "numba": "NUMBA", "jax": "JAX"}
MODELS = ("eight_schools", "radon", "logistic")


def measure(model_name: str, backend: str, calls: int) -> dict:
    """Run in the child process: compile and time one cell; returns its JSON row."""
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np

    sys.path.insert(0, str(REPO / "examples"))
    import pymc_models

    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    mode_arg = BACKENDS[backend]
    if mode_arg == "tensorir":
        import tensorir.pytensor as tp

        mode_arg = tp.mode()
    model = pymc_models.MODELS[model_name]()
    start = time.perf_counter()
    function, x0, _ = pymc_models.logp_dlogp(model, mode_arg)
    x = x0 + np.random.default_rng(0).normal(0.0, 0.1, x0.size)
    logp, dlogp = function(x)
    compile_s = time.perf_counter() - start
    rounds = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls):
            function(x)
        rounds.append((time.perf_counter() - t0) / calls)
    return {"model": model_name, "backend": backend, "compile_s": compile_s, "eval_s": statistics.median(rounds),
            "logp": float(logp), "dlogp": [float(v) for v in np.asarray(dlogp)], "size": int(x0.size)}


def run_cell(model_name: str, backend: str, calls: int, cold: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="pymc-bench-") as tmp:
        if cold:
            env["TENSORIR_COMPILEDIR"] = os.path.join(tmp, "tensorir")
            env["PYTENSOR_FLAGS"] = f"compiledir={os.path.join(tmp, 'pytensor')}"
        done = subprocess.run([sys.executable, __file__, "--child", model_name, backend, str(calls)],
                              capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        return {"model": model_name, "backend": backend, "error": lines[-1] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _agrees(row: dict, reference: dict | None) -> str:
    import numpy as np

    if "error" in row or reference is None or "error" in reference:
        return "-"
    ok = np.allclose(row["logp"], reference["logp"], rtol=1e-8, atol=1e-10) and np.allclose(
        row["dlogp"], reference["dlogp"], rtol=1e-8, atol=1e-10)
    return "yes" if ok else "NO"


def table(rows: list[dict]) -> str:
    lines = ["| model | backend | compile (s) | logp+dlogp (µs/call) | vs tensorir | agrees with C |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for model in dict.fromkeys(r["model"] for r in rows):
        cells = [r for r in rows if r["model"] == model]
        reference = next((r for r in cells if r["backend"] == "c"), None)
        ours = next((r for r in cells if r["backend"] == "tensorir" and "error" not in r), None)
        for r in cells:
            if "error" in r:
                lines.append(f"| {model} | {r['backend']} | error | {r['error'][:80]} | | |")
                continue
            ratio = f"{r['eval_s'] / ours['eval_s']:.2f}x" if ours else "-"
            lines.append(f"| {model} (n={r['size']}) | {r['backend']} | {r['compile_s']:.2f} | "
                         f"{r['eval_s'] * 1e6:.1f} | {ratio} | {_agrees(r, reference)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(measure(argv[1], argv[2], int(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing round (default 2000)")
    parser.add_argument("--cold", action="store_true", help="empty compile caches in every cell")
    parser.add_argument("--quick", action="store_true", help="200 calls per round (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    models, backends = args.models.split(","), args.backends.split(",")
    for name in models:
        if name not in MODELS:
            parser.error(f"--models: unknown model {name!r}; known: {', '.join(MODELS)}")
    for name in backends:
        if name not in BACKENDS:
            parser.error(f"--backends: unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    calls = 200 if args.quick else args.calls
    sys.path.insert(0, str(REPO))
    from benchmarks.machine import cpu_model, versions

    print(f"machine: {cpu_model()}; versions: {versions()}; caches: {'cold' if args.cold else 'as they are'}")
    rows = []
    for model in models:
        for backend in backends:
            row = run_cell(model, backend, calls, args.cold)
            rows.append(row)
            print(f"  {model} / {backend}: " + (row["error"] if "error" in row else
                                                f"compile {row['compile_s']:.2f} s, {row['eval_s'] * 1e6:.1f} µs"),
                  flush=True)
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
