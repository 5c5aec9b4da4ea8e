"""Native executor speed: W1 fused elementwise, W2 softmax/logsumexp, call overhead, compile time.

    W1  out = tanh(x*y + z) * sigmoid(x) - exp(-|y|) on 10M float32, through tensorir.function
    W2  row softmax and logsumexp of a 4096 x 4096 float32 matrix
Prints tensorir against NumPy (and PyTorch when installed) and np.copyto of the same traffic.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np


def median_time(function, repeats: int) -> float:  # noqa: ANN001
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import os

    os.environ["TENSORIR_COMPILEDIR"] = tempfile.mkdtemp(prefix="tensorir-bench-")
    import tensorir as tr
    import tensorir.tensor as T
    from tensorir.runtime.compile_cache import get_cache

    # -- compile time: cold (empty disk cache, fresh memory cache), then from the disk cache
    x, y, z = T.vector("x", dtype="float32"), T.vector("y", dtype="float32"), T.vector("z", dtype="float32")
    expr = T.tanh(x * y + z) * T.nnet.sigmoid(x) - T.exp(-abs(y))
    start = time.perf_counter()
    f = tr.function([x, y, z], expr)
    cold = time.perf_counter() - start
    get_cache()._memory.clear()
    start = time.perf_counter()
    tr.function([x, y, z], expr)
    cached = time.perf_counter() - start

    n = args.n
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    t_w1 = median_time(lambda: f(a, b, c), args.repeats)
    t_np = median_time(lambda: np.tanh(a * b + c) * (1 / (1 + np.exp(-a))) - np.exp(-np.abs(b)), 3)
    src, dst = np.ones(2 * n, np.float32), np.empty(2 * n, np.float32)
    t_copy = median_time(lambda: np.copyto(dst, src), args.repeats)
    small = [v[:4] for v in (a, b, c)]
    t_call = median_time(lambda: [f(*small) for _ in range(2000)], 5) / 2000
    t_exec = median_time(lambda: [f.executor.run(small) for _ in range(2000)], 5) / 2000
    print(f"W1 fused elementwise, n = {n:,} float32 ({f.executor.num_threads} threads)")
    print(f"  tensorir {t_w1 * 1e3:8.2f} ms | NumPy {t_np * 1e3:8.2f} ms ({t_np / t_w1:.1f}x) | "
          f"np.copyto same traffic {t_copy * 1e3:6.2f} ms ({t_copy / t_w1 * 100:.0f}% of copy speed)")
    print(f"  call overhead (n=4): Function.__call__ {t_call * 1e6:.1f} us, executor.run {t_exec * 1e6:.1f} us")
    print(f"  compile: cold {cold * 1e3:.0f} ms, from disk cache {cached * 1e3:.0f} ms")

    m = T.matrix("m", dtype="float32")
    sm = tr.function([m], T.nnet.softmax(m))
    lse = tr.function([m], T.nnet.logsumexp(m, axis=1))
    mat = rng.standard_normal((args.rows, args.rows)).astype(np.float32)

    def np_softmax() -> np.ndarray:
        e = np.exp(mat - mat.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def np_lse() -> np.ndarray:
        mx = mat.max(axis=1, keepdims=True)
        return (mx + np.log(np.exp(mat - mx).sum(axis=1, keepdims=True)))[:, 0]

    results = {"tensorir": (median_time(lambda: sm(mat), args.repeats), median_time(lambda: lse(mat), args.repeats)),
               "NumPy": (median_time(np_softmax, 3), median_time(np_lse, 3))}
    try:
        import torch

        tm = torch.from_numpy(mat)
        results["PyTorch"] = (median_time(lambda: torch.softmax(tm, 1), args.repeats),
                              median_time(lambda: torch.logsumexp(tm, 1), args.repeats))
    except ImportError:
        pass
    print(f"W2 {args.rows}x{args.rows} float32: softmax / logsumexp (ms)")
    for name, (t_sm, t_lse) in results.items():
        print(f"  {name:9} {t_sm * 1e3:8.2f} / {t_lse * 1e3:8.2f}")


if __name__ == "__main__":
    main()
