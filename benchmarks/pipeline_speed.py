"""How long the FAST_RUN rewrite pipeline takes on a LeNet-sized training graph (not a test).

    .venv/bin/python -m benchmarks.pipeline_speed [--repeat 7] [--passes]

The graph is the Theano tutorial's LeNet training step (conv-pool-tanh x2, dense 500 tanh,
softmax, mean NLL, SGD updates) when the conv/pool/indexing ops exist; until then the same model
with its conv layers replaced by dense layers of the same sizes, so the graph keeps the size of
a LeNet training graph. Each repetition rewrites a fresh copy (parsed from the printed module).
Goal: well under 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.ir import walk
from tensorir.dialects.parser import parse_module
from tensorir.dialects.printer import print_module
from tensorir.frontend.modes import Mode
from tensorir.passes.pipelines import run_pipeline

BATCH = 500


def lenet_like() -> tuple[object, str]:
    """The training function (no rewrites) and a description of what it is."""
    rng = np.random.default_rng(0)
    x = T.matrix("x", dtype="float32")
    y = T.matrix("y", dtype="float32")  # one-hot targets: works without advanced indexing

    def param(*shape: int) -> object:
        return tr.shared((0.01 * rng.standard_normal(shape)).astype("float32"))

    try:
        from tensorir.tensor.signal import pool

        W0, b0, W1, b1 = param(20, 1, 5, 5), param(20), param(50, 20, 5, 5), param(50)
        inp = x.reshape((BATCH, 1, 28, 28))
        c0 = T.nnet.conv2d(inp, W0, filter_shape=(20, 1, 5, 5), input_shape=(BATCH, 1, 28, 28))
        out0 = T.tanh(pool.pool_2d(c0, ws=(2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x"))
        c1 = T.nnet.conv2d(out0, W1, filter_shape=(50, 20, 5, 5), input_shape=(BATCH, 20, 12, 12))
        out1 = T.tanh(pool.pool_2d(c1, ws=(2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x"))
        features = out1.flatten(2)
        what = "LeNet (conv2d + pool)"
    except (AttributeError, ImportError, NotImplementedError, TypeError):
        W0, b0, W1, b1 = param(784, 2880), param(2880), param(2880, 800), param(800)
        out0 = T.tanh(T.dot(x, W0) + b0)
        features = T.tanh(T.dot(out0, W1) + b1)
        what = "LeNet-sized, conv layers as dense layers (conv2d/pool not available yet)"
    W2, b2, W3, b3 = param(800, 500), param(500), param(500, 10), param(10)
    h = T.tanh(T.dot(features, W2) + b2)
    z = T.dot(h, W3) + b3
    e = T.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    cost = -T.mean(T.sum(y * T.log(p), axis=1))
    params = [W0, b0, W1, b1, W2, b2, W3, b3]
    grads = tr.grad(cost, params)
    updates = [(q, q - np.float32(0.1) * g) for q, g in zip(params, grads)]
    f = tr.function([x, y], cost, updates=updates, mode=Mode(None, "reference"))
    return f, what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--passes", action="store_true", help="print the time of each pass (last repetition)")
    args = ap.parse_args()
    f, what = lenet_like()
    text = print_module(f.graph.module)  # type: ignore[attr-defined]
    ops_before = sum(1 for _ in walk(parse_module(text)))
    times = []
    pm = None
    for _ in range(args.repeat):
        module = parse_module(text)
        start = time.perf_counter()
        pm = run_pipeline(module, "fast_run")
        times.append(time.perf_counter() - start)
    ops_after = sum(1 for _ in walk(module))
    print(f"graph: {what}; {ops_before} ops before, {ops_after} after (fused bodies included)")
    print(
        f"FAST_RUN pipeline: min {min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms "
        f"over {args.repeat} runs (goal: well under 200 ms)"
    )
    if args.passes and pm is not None:
        print(pm.report())


if __name__ == "__main__":
    main()
