"""W8: call overhead of a trivial compiled function, ``f(x) = x + 1`` on a 1-element float32 vector."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload


def make_data(quick: bool) -> dict[str, Any]:
    return {"x": np.ones(1, dtype=np.float32)}


def numpy_case(d: dict[str, Any]) -> Case:
    x = d["x"]
    return Case(lambda: x + 1, lambda: [x + 1])


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    x = T.vector("x", dtype="float32")
    f = tr.function([x], x + 1)
    v = d["x"]
    return Case(lambda: f(v), lambda: [f(v)])


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    x = pt.vector("x", dtype="float32")
    f = pytensor.function([x], x + 1)
    v = d["x"]
    return Case(lambda: f(v), lambda: [f(v)])


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    f = jax.jit(lambda x: x + 1)
    v = jax.device_put(d["x"])
    return Case(lambda: f(v).block_until_ready(), lambda: [np.asarray(f(v))])


def _torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()

    def f(x):
        return x + 1

    if compiled:
        f = torch.compile(f)
    v = torch.from_numpy(d["x"])
    return Case(lambda: f(v), lambda: [f(v).numpy()])


WORKLOADS = [
    Workload(
        id="W8",
        title="call overhead of a trivial function f(x) = x + 1, 1-element float32 vector",
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
        warmup=100,
    )
]
