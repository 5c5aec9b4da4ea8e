"""W9: IR size scaling: build, differentiate and compile a chain of N elementwise ops on a vector.

Each sample builds a fresh graph of N ops (cycling tanh, scale, shift, sin), takes the gradient
of its sum, and compiles a function returning cost and gradient; the three phases are timed
separately (build, grad, compile, where compile includes the rewrites). The time column is the
total; the phase split is in the notes. Comparing N = 100, 1,000, 10,000 shows how cost grows
with graph size. Frameworks without symbolic graphs (NumPy, eager PyTorch) have no counterpart.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir
from benchmarks.harness import Case, Workload


def _chain(v: Any, n: int, tanh: Callable[[Any], Any], sin: Callable[[Any], Any], salt: float) -> Any:
    # ``salt`` changes one constant per sample so that no compile cache can serve a later sample.
    for i in range(n):
        k = i % 4
        if k == 0:
            v = tanh(v)
        elif k == 1:
            v = v * (0.9 + salt if i == 1 else 0.9)
        elif k == 2:
            v = v + 0.1
        else:
            v = sin(v)
    return v


class _Phases:
    """Collects the per-phase times of every sample and renders their medians as a note."""

    def __init__(self) -> None:
        self.build: list[float] = []
        self.grad: list[float] = []
        self.compile: list[float] = []

    def add(self, b: float, g: float, c: float) -> float:
        self.build.append(b)
        self.grad.append(g)
        self.compile.append(c)
        return b + g + c

    def note(self) -> str:
        from benchmarks.harness import fmt_time

        med = statistics.median
        return (f"build {fmt_time(med(self.build))}, grad {fmt_time(med(self.grad))}, "
                f"compile {fmt_time(med(self.compile))} (medians over all samples incl. first)")


def _theano_style(tr: Any, T: Any, d: dict[str, Any], sigmoid_ns: Any) -> Case:
    # Deep chains recurse deeply in graph walks; Theano users raise the limit the same way.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * d["n"] + 10_000))
    ph = _Phases()
    counter = [0]
    val = d["x"]

    def step() -> float:
        counter[0] += 1
        t0 = time.perf_counter()
        x = T.vector("x", dtype="float32")
        cost = T.sum(_chain(x, d["n"], T.tanh, T.sin, 1e-6 * counter[0]))
        t1 = time.perf_counter()
        g = tr.grad(cost, x)
        t2 = time.perf_counter()
        f = tr.function([x], [cost, g])
        f(val)
        t3 = time.perf_counter()
        return ph.add(t1 - t0, t2 - t1, t3 - t2)

    case = Case(step, self_timed=True)
    return _NoteCase(case, ph)


def _NoteCase(case: Case, ph: _Phases) -> Case:
    # The note is read after the first call; keep it live by rendering on access.
    class _C(Case):
        @property  # type: ignore[override]
        def note(self) -> str:
            return ph.note() if ph.build else ""

        @note.setter
        def note(self, _v: str) -> None:
            pass

    return _C(case.step, case.result, case.self_timed)


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    return _theano_style(tr, T, d, None)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    return _theano_style(pytensor, pt, d, None)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    jnp = jax.numpy
    ph = _Phases()
    counter = [0]
    x = jax.device_put(d["x"])

    def step() -> float:
        counter[0] += 1
        salt = 1e-6 * counter[0]
        t0 = time.perf_counter()

        def cost(v):
            return jnp.sum(_chain(v, d["n"], jnp.tanh, jnp.sin, salt))

        jax.make_jaxpr(cost)(x)  # "build": tracing the forward graph
        t1 = time.perf_counter()
        vg = jax.value_and_grad(cost)
        jax.make_jaxpr(vg)(x)  # "grad": tracing forward + backward
        t2 = time.perf_counter()
        jax.block_until_ready(jax.jit(vg).lower(x).compile()(x))
        t3 = time.perf_counter()
        return ph.add(t1 - t0, t2 - t1, t3 - t2)

    return _NoteCase(Case(step, self_timed=True), ph)


def _make(n: int) -> Callable[[bool], dict[str, Any]]:
    def make_data(quick: bool) -> dict[str, Any]:
        nn = {100: 10, 1000: 30, 10_000: 100}[n] if quick else n
        return {"n": nn, "x": np.linspace(-1, 1, 1000, dtype=np.float32)}

    return make_data


WORKLOADS = [
    Workload(
        id=f"W9-{n}",
        title=f"IR size scaling: build + grad + compile a chain of {n:,} elementwise ops",
        make_data=_make(n),
        builders={"tensorir": tensorir_case, "pytensor": pytensor_case, "jax": jax_case},
        max_repeat=3 if n < 10_000 else 1,
        warmup=0,
    )
    for n in (100, 1000, 10_000)
]
