"""Speed of the IR itself: op creation through the frontend, printing, parsing, grad.

Goals: under 5 µs to create an op; print and parse proportional to the size.
Run: ``python benchmarks/ir_speed.py [--ops N]``.
"""

from __future__ import annotations

import argparse
import time

import tensorir.tensor as T
from tensorir.dialects import Module, parse_module, print_module
from tensorir.frontend.printing import graph_function
from tensorir.gradient import grad


def best_of(fn, repeat: int = 5) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build_chain(n: int):  # noqa: ANN201
    x = T.dvector("x")
    v = x
    for k in range(n):
        v = T.tanh(v) if k % 3 == 0 else (v * x if k % 3 == 1 else v + 1.0)
    return x, v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=10_000)
    args = parser.parse_args()
    n = args.ops
    rows = []
    t_build = best_of(lambda: build_chain(n))
    rows.append(("frontend op creation", t_build / n * 1e6, "µs/op", "goal < 5"))
    x, out = build_chain(n)
    func = graph_function([out])
    module = Module([func])
    text = print_module(module)
    t_print = best_of(lambda: print_module(module))
    t_parse = best_of(lambda: parse_module(text))
    rows.append(("print", t_print / n * 1e6, "µs/op", f"{len(text) / 1e6:.1f} MB of text"))
    rows.append(("parse", t_parse / n * 1e6, "µs/op", ""))
    x1, out1 = build_chain(1000)
    t_grad = best_of(lambda: grad(out1.sum(), x1))
    rows.append(("grad of a 1,000-op graph", t_grad * 1e3, "ms", "goal < 100"))
    print("| measure | value | unit | note |\n|---|---|---|---|")
    for name, value, unit, note in rows:
        print(f"| {name} | {value:.2f} | {unit} | {note} |")


if __name__ == "__main__":
    main()
