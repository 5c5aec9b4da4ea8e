"""Fused elementwise kernel on the CPU: tensorir's emitter + approximations + JIT vs NumPy.

    out = tanh(x*y + z) * sigmoid(x) - exp(-|y|)     on 10M float32

Prints compile time, call overhead, single-thread and thread-pool times, NumPy's unfused
time, and the np.copyto time of the same memory traffic (3 reads + 1 write of 40 MB each).
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import numpy as np

from tensorir.codegen.cpu import APPROXIMATIONS, KernelEmitter, compile_mlir, memref_args, range_kernel
from tensorir.runtime.threadpool import ThreadPool

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_MEMREF = [_PTR, _PTR, _I64, _I64, _I64]


def fused_body(e: KernelEmitter, values: list[str]) -> list[str]:
    """tanh(x*y + z) * sigmoid(x) - exp(-|y|) in f32."""
    x, y, z = values
    t = "f32"
    tanh = APPROXIMATIONS["tanh"](e, e.fma(x, y, z, t), t)
    sigmoid = APPROXIMATIONS["sigmoid"](e, x, t)
    decay = APPROXIMATIONS["exp"](e, e.neg(e.abs(y, t), t), t)
    return [e.sub(e.mul(tanh, sigmoid, t), decay, t)]


def median_time(function, repeats: int) -> float:
    """Median wall time of ``function()`` in seconds (one warm-up call first)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_reference(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.tanh(x * y + z) * (1 / (1 + np.exp(-x))) - np.exp(-np.abs(y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="pool size (default: CPU affinity)")
    args = parser.parse_args()
    n = args.n

    text = range_kernel("fused", ["f32"] * 3, ["f32"], fused_body)
    start = time.perf_counter()
    compile_mlir(text)  # first compile in the process pays for MLIR/LLVM initialization
    first = time.perf_counter() - start
    compile_times = []
    for _ in range(5):
        start = time.perf_counter()
        module = compile_mlir(text)
        compile_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    compile_mlir(text, opt_level=1)
    quick = time.perf_counter() - start
    kernel = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * 4))(module.address("fused"))

    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    out = np.empty_like(x)
    call_args = (*memref_args(x), *memref_args(y), *memref_args(z), *memref_args(out))

    # Accuracy against a float64 NumPy evaluation.
    kernel(0, n, *call_args)
    reference = numpy_reference(*(a.astype(np.float64) for a in (x, y, z)))
    max_abs_error = float(np.max(np.abs(out - reference)))

    overhead = median_time(lambda: [kernel(0, 1, *call_args) for _ in range(10_000)], 5) / 10_000
    single = median_time(lambda: kernel(0, n, *call_args), args.repeats)
    pool = ThreadPool(args.threads)
    threaded = median_time(lambda: pool.run(kernel, n, call_args), args.repeats)
    numpy_time = median_time(lambda: numpy_reference(x, y, z), max(3, args.repeats // 3))
    source = np.empty(2 * n, np.float32)
    destination = np.empty(2 * n, np.float32)
    source.fill(1.0)
    copy = median_time(lambda: np.copyto(destination, source), args.repeats)
    pool.close()

    print(f"fused kernel tanh(x*y+z)*sigmoid(x) - exp(-|y|), n = {n:,} float32")
    print(f"  compile (MLIR text -> native, O3): first {first * 1e3:.1f} ms, steady "
          f"{statistics.median(compile_times) * 1e3:.1f} ms; O1 {quick * 1e3:.1f} ms")
    print(f"  call overhead (ctypes, 18 args, n=1): {overhead * 1e6:.2f} us")
    print(f"  max |error| vs float64 NumPy: {max_abs_error:.2e}")
    print(f"  tensorir 1 thread : {single * 1e3:8.2f} ms")
    print(f"  tensorir {pool.num_threads} threads: {threaded * 1e3:8.2f} ms")
    print(f"  NumPy (unfused)   : {numpy_time * 1e3:8.2f} ms  "
          f"({numpy_time / single:.1f}x the 1-thread kernel)")
    print(f"  np.copyto 2n f32  : {copy * 1e3:8.2f} ms  (same 160 MB traffic, "
          f"{4 * 4 * n / copy / 1e9:.1f} GB/s)")


if __name__ == "__main__":
    main()
