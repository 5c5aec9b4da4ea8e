"""W6: char-LSTM training step: vocab 65, hidden 256, sequence 50, batch 32, one-hot input,
softmax output over the vocabulary, mean NLL, full BPTT, SGD lr 0.1.

Gate order i, f, g, o everywhere (PyTorch's). The first step's cost is checked against JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload

LR = 0.1


def make_data(quick: bool) -> dict[str, Any]:
    V, H, S, B = (65, 16, 5, 4) if quick else (65, 256, 50, 32)
    rng = np.random.default_rng(6)
    s = 1.0 / np.sqrt(H)
    params = [
        rng.uniform(-s, s, (V, 4 * H)).astype(np.float32),  # Wx
        rng.uniform(-s, s, (H, 4 * H)).astype(np.float32),  # Wh
        np.zeros(4 * H, np.float32),  # b
        rng.uniform(-s, s, (H, V)).astype(np.float32),  # Wy
        np.zeros(V, np.float32),  # by
    ]
    chars = rng.integers(0, V, (S + 1, B))
    x = np.eye(V, dtype=np.float32)[chars[:-1]]  # (S, B, V) one-hot
    y = chars[1:].astype(np.int32)  # next character
    return {"params": params, "x": x, "y": y, "V": V, "H": H, "S": S, "B": B}


def _theano_style(tr: Any, T: Any, softmax: Any, sigmoid: Any, d: dict[str, Any]) -> Case:
    H, S, B = d["H"], d["S"], d["B"]
    X = T.tensor3("X", dtype="float32")
    Y = T.imatrix("Y")
    Wx, Wh, b, Wy, by = params = [tr.shared(p.copy()) for p in d["params"]]

    def step(x_t: Any, h_tm1: Any, c_tm1: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, Any]:
        z = T.dot(x_t, Wx) + T.dot(h_tm1, Wh) + b
        i = sigmoid(z[:, :H])
        f = sigmoid(z[:, H:2 * H])
        g = T.tanh(z[:, 2 * H:3 * H])
        o = sigmoid(z[:, 3 * H:])
        c = f * c_tm1 + i * g
        return o * T.tanh(c), c

    h0 = T.zeros((B, H), dtype="float32")
    (hs, _cs), _ = tr.scan(step, sequences=X, outputs_info=[h0, h0], non_sequences=[Wx, Wh, b])
    p = softmax(T.dot(hs.reshape((S * B, H)), Wy) + by)
    cost = -T.mean(T.log(p)[T.arange(S * B), Y.flatten()])
    grads = tr.grad(cost, params)
    lr = np.float32(LR)
    train = tr.function([X, Y], cost, updates=[(q, q - lr * g) for q, g in zip(params, grads)])
    box: list[Any] = []

    def step_fn() -> None:
        c = train(d["x"], d["y"])
        if not box:
            box.append(np.asarray(c))

    return Case(step_fn, lambda: box)


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    return _theano_style(tr, T, T.nnet.softmax, T.nnet.sigmoid, d)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    return _theano_style(pytensor, pt, lambda v: pt.special.softmax(v, axis=-1), pt.sigmoid, d)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    jnp, lax = jax.numpy, jax.lax
    H, S, B = d["H"], d["S"], d["B"]

    def loss(params, X, Y):
        Wx, Wh, b, Wy, by = params

        def cell(carry, x_t):
            h, c = carry
            z = x_t @ Wx + h @ Wh + b
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((B, H), jnp.float32)
        _, hs = lax.scan(cell, (zeros, zeros), X)
        logp = jax.nn.log_softmax(hs.reshape((S * B, H)) @ Wy + by)
        return -jnp.mean(logp[jnp.arange(S * B), Y.reshape(-1)])

    @jax.jit
    def update(params, X, Y):
        cost, grads = jax.value_and_grad(loss)(params, X, Y)
        return [p - LR * g for p, g in zip(params, grads)], cost

    state = [jax.device_put(p) for p in d["params"]]
    X, Y = jax.device_put(d["x"]), jax.device_put(d["y"])
    box: list[Any] = []

    def step() -> None:
        nonlocal state
        state, cost = update(state, X, Y)
        jax.block_until_ready(cost)
        if not box:
            box.append(np.asarray(cost))

    return Case(step, lambda: box)


def torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()
    nn = torch.nn
    V, H = d["V"], d["H"]
    Wx, Wh, b, Wy, by = d["params"]

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(V, H)
            self.out = nn.Linear(H, V)

        def forward(self, x: Any) -> Any:
            hs, _ = self.lstm(x)
            return self.out(hs)

    model = CharLSTM()
    with torch.no_grad():
        model.lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T.copy()))
        model.lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T.copy()))
        model.lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        model.lstm.bias_hh_l0.zero_()
        model.out.weight.copy_(torch.from_numpy(Wy.T.copy()))
        model.out.bias.copy_(torch.from_numpy(by))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    fwd = torch.compile(model) if compiled else model
    x = torch.from_numpy(d["x"])
    y = torch.from_numpy(d["y"]).long().reshape(-1)
    box: list[Any] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(fwd(x).reshape(-1, V), y)
        loss.backward()
        opt.step()
        if not box:
            box.append(loss.detach().numpy().copy())

    return Case(step, lambda: box)


BUILDERS = {
    "tensorir": tensorir_case,
    "pytensor": pytensor_case,
    "jax": jax_case,
    "torch": lambda d: torch_case(d, False),
    "torch-compile": lambda d: torch_case(d, True),
}

WORKLOADS = [
    Workload(
        id="W6",
        title="char-LSTM training step, vocab 65, hidden 256, seq 50, batch 32, one-hot in, full BPTT, SGD",
        make_data=make_data,
        builders=BUILDERS,
        reference="jax",
        max_repeat=5,
    )
]
