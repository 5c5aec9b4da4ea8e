"""W2: row softmax and row logsumexp of a 4096 x 4096 float32 matrix (two outputs, one call)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload


def make_data(quick: bool) -> dict[str, Any]:
    n = 64 if quick else 4096
    rng = np.random.default_rng(2)
    return {"x": rng.standard_normal((n, n), dtype=np.float32)}


def numpy_case(d: dict[str, Any]) -> Case:
    x = d["x"]
    box: list[np.ndarray] = []

    def step() -> None:
        m = x.max(axis=1, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=1, keepdims=True)
        box[:] = [e / s, (np.log(s) + m)[:, 0]]

    return Case(step, lambda: box)


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    x = T.matrix("x", dtype="float32")
    # The way a Theano user writes logsumexp; stabilising it is the rewriter's job.
    lse = T.log(T.sum(T.exp(x), axis=1))
    f = tr.function([x], [T.nnet.softmax(x), lse])
    box: list[Any] = []

    def step() -> None:
        box[:] = f(d["x"])

    return Case(step, lambda: box)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    x = pt.matrix("x", dtype="float32")
    f = pytensor.function([x], [pt.special.softmax(x, axis=1), pt.logsumexp(x, axis=1)])
    box: list[Any] = []

    def step() -> None:
        box[:] = f(d["x"])

    return Case(step, lambda: box)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    from jax.scipy.special import logsumexp

    @jax.jit
    def f(x):
        return jax.nn.softmax(x, axis=1), logsumexp(x, axis=1)

    x = jax.device_put(d["x"])
    box: list[Any] = []

    def step() -> None:
        box[:] = jax.block_until_ready(f(x))

    return Case(step, lambda: [np.asarray(b) for b in box])


def _torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()

    def f(x):
        return torch.softmax(x, dim=1), torch.logsumexp(x, dim=1)

    if compiled:
        f = torch.compile(f)
    x = torch.from_numpy(d["x"])
    box: list[Any] = []

    def step() -> None:
        box[:] = f(x)

    return Case(step, lambda: [b.numpy() for b in box])


WORKLOADS = [
    Workload(
        id="W2",
        title="row softmax + row logsumexp, 4096x4096 float32",
        make_data=make_data,
        builders={
            "numpy": numpy_case,
            "tensorir": tensorir_case,
            "pytensor": pytensor_case,
            "jax": jax_case,
            "torch": lambda d: _torch_case(d, False),
            "torch-compile": lambda d: _torch_case(d, True),
        },
        reference="numpy",
        rtol=1e-4,
        atol=1e-5,
    )
]
