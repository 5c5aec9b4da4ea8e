"""Child process of W7: build one model in one framework, call it three times, print the phases.

Usage: ``python -m benchmarks.workloads.w7_child {lenet|lstm} FRAMEWORK QUICK``; the cache
directory comes through the environment (see ``w7_compile.cache_env``). Prints one JSON line
with seconds per phase:

- ``build``: the workload's builder: graph, ``grad`` and ``function`` for tensorir and PyTensor
  (``function``: the part inside ``tensorir.function`` / ``pytensor.function``); for JAX and
  PyTorch only the model setup, since they compile at the first call;
- ``first_call`` and ``steady`` (the faster of the second and third calls: the step's compute);
- ``compile``: ``build + first_call - steady``, the time before the model runs at full speed,
  whichever phase a framework compiles in (the number W7 reports);
- JAX only: ``jax_trace``, ``jax_lower``, ``jax_backend_compile`` summed from ``jax.monitoring``.

Framework imports happen before the clock, as W7 measures compilation, not imports. tensorir
imports its runtime (native executor, code generators) and its compiler libraries (the MLIR
bindings, llvmlite) on the first ``function``; the child imports all of them before the clock
too, as ``import jax`` loads XLA, and reports that time as ``runtime_import`` (else a machine
that writes no bytecode caches would also count compiling the modules' Python source).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from typing import Any


def _timed_function(module: Any, phases: dict[str, float]) -> None:
    """Wrap ``module.function`` to add its time to ``phases['function']``."""
    original = module.function

    def function(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases["function"] = phases.get("function", 0.0) + time.perf_counter() - t0

    module.function = function


#: The libraries tensorir's code generator loads on its first compile (jaxlib's counterpart).
_COMPILER_LIBRARIES = ("mlir.ir", "mlir.passmanager", "mlir.dialects.llvm", "llvmlite.binding")


def _import_all(package: Any) -> None:
    """Import every module of ``package`` (those ``function`` would import on its first use)."""
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _jax_listener(phases: dict[str, float]) -> None:
    import jax.monitoring

    names = {"/jax/core/compile/jaxpr_trace_duration": "jax_trace",
             "/jax/core/compile/jaxpr_to_mlir_module_duration": "jax_lower",
             "/jax/core/compile/backend_compile_duration": "jax_backend_compile"}

    def listener(event: str, duration: float, **_: Any) -> None:
        if event in names:
            phases[names[event]] = phases.get(names[event], 0.0) + duration

    jax.monitoring.register_event_duration_secs_listener(listener)


def main(argv: list[str]) -> int:
    model, framework, quick = argv[0], argv[1], argv[2] == "1"
    from benchmarks import frameworks

    frameworks.configure_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    phases: dict[str, float] = {}
    if framework == "tensorir":
        tr, _ = frameworks.import_tensorir()
        t0 = time.perf_counter()
        _import_all(tr)
        for library in _COMPILER_LIBRARIES:
            importlib.import_module(library)
        phases["runtime_import"] = time.perf_counter() - t0
        _timed_function(tr, phases)
    elif framework == "pytensor":
        pytensor, _ = frameworks.import_pytensor()
        _timed_function(pytensor, phases)
    elif framework == "jax":
        frameworks.import_jax()
        _jax_listener(phases)
    else:
        frameworks.import_torch()
    if model == "lenet":
        from benchmarks.workloads import w5_lenet as mod
    else:
        from benchmarks.workloads import w6_lstm as mod
    data = mod.make_data(quick)
    t0 = time.perf_counter()
    case = mod.BUILDERS[framework](data)
    t1 = time.perf_counter()
    case.step()
    t2 = time.perf_counter()
    steady = []
    for _ in range(2):
        t3 = time.perf_counter()
        case.step()
        steady.append(time.perf_counter() - t3)
    phases.update(build=t1 - t0, first_call=t2 - t1, steady=min(steady))
    phases["compile"] = phases["build"] + max(0.0, phases["first_call"] - phases["steady"])
    print(json.dumps(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
