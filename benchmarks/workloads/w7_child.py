"""Child process of W7: build one model in one framework, make the first call, print the time.

Usage: ``python -m benchmarks.workloads.w7_child {lenet|lstm} FRAMEWORK QUICK``; the cache
directory comes through the environment (see ``w7_compile.cache_env``).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    model, framework, quick = argv[0], argv[1], argv[2] == "1"
    from benchmarks import frameworks

    frameworks.configure_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    # Import the framework before the clock starts: W7 measures compilation, not imports.
    if framework == "tensorir":
        frameworks.import_tensorir()
    elif framework == "pytensor":
        frameworks.import_pytensor()
    elif framework == "jax":
        frameworks.import_jax()
    else:
        frameworks.import_torch()
    if model == "lenet":
        from benchmarks.workloads import w5_lenet as mod
    else:
        from benchmarks.workloads import w6_lstm as mod
    data = mod.make_data(quick)
    t0 = time.perf_counter()
    case = mod.BUILDERS[framework](data)
    case.step()
    print(json.dumps({"seconds": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
