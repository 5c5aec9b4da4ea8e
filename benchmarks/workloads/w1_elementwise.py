"""W1: fused elementwise ``tanh(x*y+z)*sigmoid(x) - exp(-abs(y))`` on 10M float32.

Memory bound: three inputs read and one output written, so its effective bandwidth is put
beside the machine's copy bandwidth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload


def make_data(quick: bool) -> dict[str, Any]:
    n = 10_000 if quick else 10_000_000
    rng = np.random.default_rng(1)
    x, y, z = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    return {"n": n, "x": x, "y": y, "z": z}


def numpy_case(d: dict[str, Any]) -> Case:
    x, y, z = d["x"], d["y"], d["z"]
    box: list[np.ndarray] = []

    def step() -> None:
        box[:] = [np.tanh(x * y + z) * (1 / (1 + np.exp(-x))) - np.exp(-np.abs(y))]

    return Case(step, lambda: box)


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    x, y, z = T.vector("x", dtype="float32"), T.vector("y", dtype="float32"), T.vector("z", dtype="float32")
    out = T.tanh(x * y + z) * T.nnet.sigmoid(x) - T.exp(-abs(y))
    f = tr.function([x, y, z], out)
    box: list[Any] = []

    def step() -> None:
        box[:] = [f(d["x"], d["y"], d["z"])]

    return Case(step, lambda: box)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    x, y, z = (pt.vector(n, dtype="float32") for n in "xyz")
    out = pt.tanh(x * y + z) * pt.sigmoid(x) - pt.exp(-abs(y))
    f = pytensor.function([x, y, z], out)
    box: list[Any] = []

    def step() -> None:
        box[:] = [f(d["x"], d["y"], d["z"])]

    return Case(step, lambda: box)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    jnp = jax.numpy

    @jax.jit
    def f(x, y, z):
        return jnp.tanh(x * y + z) * jax.nn.sigmoid(x) - jnp.exp(-jnp.abs(y))

    args = [jax.device_put(d[k]) for k in "xyz"]
    box: list[Any] = []

    def step() -> None:
        box[:] = [f(*args).block_until_ready()]

    return Case(step, lambda: [np.asarray(b) for b in box])


def _torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()

    def f(x, y, z):
        return torch.tanh(x * y + z) * torch.sigmoid(x) - torch.exp(-torch.abs(y))

    if compiled:
        f = torch.compile(f)
    args = [torch.from_numpy(d[k]) for k in "xyz"]
    box: list[Any] = []

    def step() -> None:
        box[:] = [f(*args)]

    return Case(step, lambda: [b.numpy() for b in box])


def describe(d: dict[str, Any], medians: dict[str, float]) -> str:
    from benchmarks.machine import copy_bandwidth

    moved = 4 * d["n"] * 4  # 3 inputs read + 1 output written, float32
    bw = copy_bandwidth(d["x"].nbytes)
    parts = [f"{fw} {moved / t / 1e9:.2f} GB/s" for fw, t in medians.items()]
    return (
        f"Effective bandwidth (4 x {d['n']:,} float32 moved per call): " + ", ".join(parts)
        + f"; machine copy bandwidth on the same bytes (np.copyto, read+write): {bw / 1e9:.2f} GB/s."
    )


WORKLOADS = [
    Workload(
        id="W1",
        title="fused elementwise tanh(x*y+z)*sigmoid(x) - exp(-abs(y)), 10M float32",
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
        describe=describe,
    )
]
