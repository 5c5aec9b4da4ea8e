"""W10: loop overhead: value and gradient of a small tanh RNN over 200 steps (input 16, hidden 32,
batch 8). Each step is a few microseconds of arithmetic, so the time is mostly what a framework
spends per loop step (tensorir's native loop, JAX's ``lax.scan``, PyTensor's scan, eager PyTorch).
The cost and both gradients are checked against JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload


def make_data(quick: bool) -> dict[str, Any]:
    steps, batch, n_in, hidden = (10, 2, 4, 8) if quick else (200, 8, 16, 32)
    rng = np.random.default_rng(10)
    return {
        "x": rng.standard_normal((steps, batch, n_in)).astype(np.float32),
        "h0": np.zeros((batch, hidden), np.float32),
        "W": (rng.standard_normal((n_in, hidden)) * 0.3).astype(np.float32),
        "U": (rng.standard_normal((hidden, hidden)) * 0.3).astype(np.float32),
    }


def _theano_style(tr: Any, T: Any, d: dict[str, Any]) -> Case:
    x = T.tensor3("x", dtype="float32")
    h0 = T.matrix("h0", dtype="float32")
    W = T.matrix("W", dtype="float32")
    U = T.matrix("U", dtype="float32")
    h, _ = tr.scan(lambda xt, hp, W, U: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x, outputs_info=h0,
                   non_sequences=[W, U])
    cost = (h[-1] ** 2).sum()
    f = tr.function([x, h0, W, U], [cost, *tr.grad(cost, [W, U])])
    box: list[Any] = []

    def step() -> None:
        out = f(d["x"], d["h0"], d["W"], d["U"])
        if not box:
            box.extend(np.asarray(o) for o in out)

    return Case(step, lambda: box)


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    return _theano_style(tr, T, d)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    return _theano_style(pytensor, pt, d)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    jnp = jax.numpy

    def loss(W, U, x, h0):
        def cell(h, xt):
            return jnp.tanh(xt @ W + h @ U), None

        h, _ = jax.lax.scan(cell, h0, x)
        return (h ** 2).sum()

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    x, h0, W, U = (jax.device_put(d[k]) for k in ("x", "h0", "W", "U"))
    box: list[Any] = []

    def step() -> None:
        cost, (gW, gU) = f(W, U, x, h0)
        jax.block_until_ready(gU)
        if not box:
            box.extend(np.asarray(o) for o in (cost, gW, gU))

    return Case(step, lambda: box)


def torch_case(d: dict[str, Any]) -> Case:
    torch = import_torch()
    x, h0 = torch.from_numpy(d["x"]), torch.from_numpy(d["h0"])
    W = torch.from_numpy(d["W"].copy()).requires_grad_()
    U = torch.from_numpy(d["U"].copy()).requires_grad_()
    box: list[Any] = []

    def step() -> None:
        h = h0
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ W + h @ U)
        cost = (h ** 2).sum()
        gW, gU = torch.autograd.grad(cost, [W, U])
        if not box:
            box.extend(o.detach().numpy().copy() for o in (cost, gW, gU))

    return Case(step, lambda: box)


WORKLOADS = [
    Workload(
        id="W10",
        title="loop overhead: small tanh RNN (in 16, hidden 32, batch 8), value and gradient over 200 steps",
        make_data=make_data,
        builders={"tensorir": tensorir_case, "pytensor": pytensor_case, "jax": jax_case, "torch": torch_case},
        reference="jax",
    )
]
