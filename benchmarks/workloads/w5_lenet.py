"""W5: LeNet training step as in the Theano tutorial (batch 500, float32, input 1x28x28).

conv 5x5 x20 -> maxpool 2x2 -> tanh -> conv 5x5 x50 -> maxpool 2x2 -> tanh -> dense 500 tanh ->
softmax 10, mean NLL, SGD lr 0.1. Theano's ``conv2d`` is a true convolution (it flips the
filters); JAX and PyTorch cross-correlate, so they get the flipped filters and the same model.
The first step's cost is checked against JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload

LR = 0.1


def make_data(quick: bool) -> dict[str, Any]:
    batch = 8 if quick else 500
    rng = np.random.default_rng(5)

    def unif(shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    params = [
        unif((20, 1, 5, 5), 25, 20 * 25 // 4), np.zeros(20, np.float32),
        unif((50, 20, 5, 5), 20 * 25, 50 * 25 // 4), np.zeros(50, np.float32),
        unif((800, 500), 800, 500), np.zeros(500, np.float32),
        (0.01 * rng.standard_normal((500, 10))).astype(np.float32), np.zeros(10, np.float32),
    ]
    x = rng.uniform(0, 1, (batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    return {"params": params, "x": x, "y": y, "batch": batch}


def _flipped(params: list[np.ndarray]) -> list[np.ndarray]:
    out = [p.copy() for p in params]
    for i in (0, 2):
        out[i] = np.ascontiguousarray(out[i][:, :, ::-1, ::-1])
    return out


def tensorir_case(d: dict[str, Any], transform_grads: Any = None) -> Case:
    """``transform_grads(params, grads) -> grads``: a change to the gradients before the update
    (benchmarks/distributed.py passes the mean over processes)."""
    tr, T = import_tensorir()
    from tensorir.tensor.signal import pool

    B = d["batch"]
    x = T.matrix("x", dtype="float32")
    y = T.ivector("y")
    W0, b0, W1, b1, W2, b2, W3, b3 = params = [tr.shared(p.copy()) for p in d["params"]]
    layer0_input = x.reshape((B, 1, 28, 28))
    c0 = T.nnet.conv2d(input=layer0_input, filters=W0, filter_shape=(20, 1, 5, 5), input_shape=(B, 1, 28, 28))
    out0 = T.tanh(pool.pool_2d(c0, ws=(2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x"))
    c1 = T.nnet.conv2d(input=out0, filters=W1, filter_shape=(50, 20, 5, 5), input_shape=(B, 20, 12, 12))
    out1 = T.tanh(pool.pool_2d(c1, ws=(2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x"))
    h = T.tanh(T.dot(out1.flatten(2), W2) + b2)
    p_y_given_x = T.nnet.softmax(T.dot(h, W3) + b3)
    cost = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    if transform_grads is not None:
        grads = transform_grads(params, grads)
    lr = np.float32(LR)
    train = tr.function([x, y], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    box: list[Any] = []

    def step() -> None:
        c = train(d["x"], d["y"])
        if not box:
            box.append(np.asarray(c))

    return Case(step, lambda: box)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()
    # PyTensor 2.x dropped Theano's nnet conv2d and pool_2d; its users write the convolution as
    # im2col (shifted slices + one dot) and 2x2 max pooling as reshape + max.

    def conv2d(inp: Any, w: Any, shape: tuple[int, int, int, int], fshape: tuple[int, int, int, int]) -> Any:
        B, C, H, W = shape
        F, _, kh, kw = fshape
        oh, ow = H - kh + 1, W - kw + 1
        wf = w[:, :, ::-1, ::-1]  # true convolution, as Theano's conv2d
        patches = pt.stack([inp[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)], axis=2)
        cols = patches.dimshuffle(0, 3, 4, 1, 2).reshape((B * oh * ow, C * kh * kw))
        out = pt.dot(cols, wf.reshape((F, C * kh * kw)).T)
        return out.reshape((B, oh, ow, F)).dimshuffle(0, 3, 1, 2)

    def pool2(v: Any, shape: tuple[int, int, int, int]) -> Any:
        B, C, H, W = shape
        return v.reshape((B, C, H // 2, 2, W // 2, 2)).max(axis=(3, 5))

    B = d["batch"]
    x = pt.matrix("x", dtype="float32")
    y = pt.ivector("y")
    W0, b0, W1, b1, W2, b2, W3, b3 = params = [pytensor.shared(p.copy()) for p in d["params"]]
    c0 = conv2d(x.reshape((B, 1, 28, 28)), W0, (B, 1, 28, 28), (20, 1, 5, 5))
    out0 = pt.tanh(pool2(c0, (B, 20, 24, 24)) + b0.dimshuffle("x", 0, "x", "x"))
    c1 = conv2d(out0, W1, (B, 20, 12, 12), (50, 20, 5, 5))
    out1 = pt.tanh(pool2(c1, (B, 50, 8, 8)) + b1.dimshuffle("x", 0, "x", "x"))
    h = pt.tanh(pt.dot(out1.flatten(2), W2) + b2)
    p_y_given_x = pt.special.softmax(pt.dot(h, W3) + b3, axis=-1)
    cost = -pt.mean(pt.log(p_y_given_x)[pt.arange(y.shape[0]), y])
    grads = pytensor.grad(cost, params)
    lr = np.float32(LR)
    train = pytensor.function([x, y], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    box: list[Any] = []

    def step() -> None:
        c = train(d["x"], d["y"])
        if not box:
            box.append(np.asarray(c))

    return Case(step, lambda: box)


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    jnp, lax = jax.numpy, jax.lax
    B = d["batch"]

    def pool(v):
        return lax.reduce_window(v, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def conv(v, w):
        return lax.conv_general_dilated(v, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def loss(params, x, y):
        W0, b0, W1, b1, W2, b2, W3, b3 = params
        v = x.reshape((B, 1, 28, 28))
        v = jnp.tanh(pool(conv(v, W0)) + b0[None, :, None, None])
        v = jnp.tanh(pool(conv(v, W1)) + b1[None, :, None, None])
        h = jnp.tanh(v.reshape((B, -1)) @ W2 + b2)
        logp = jax.nn.log_softmax(h @ W3 + b3)
        return -jnp.mean(logp[jnp.arange(B), y])

    @jax.jit
    def update(params, x, y):
        cost, grads = jax.value_and_grad(loss)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], cost

    state = [jax.device_put(p) for p in _flipped(d["params"])]
    x, y = jax.device_put(d["x"]), jax.device_put(d["y"])
    box: list[Any] = []

    def step() -> None:
        nonlocal state
        state, cost = update(state, x, y)
        jax.block_until_ready(cost)
        if not box:
            box.append(np.asarray(cost))

    return Case(step, lambda: box)


def torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()
    nn = torch.nn
    ps = _flipped(d["params"])
    model = nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Tanh(),
        nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.Tanh(),
        nn.Flatten(), nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10),
    )
    targets = [model[0].weight, model[0].bias, model[3].weight, model[3].bias,
               model[7].weight, model[7].bias, model[9].weight, model[9].bias]
    with torch.no_grad():
        for i, (t, p) in enumerate(zip(targets, ps)):
            t.copy_(torch.from_numpy(p.T.copy() if i in (4, 6) else p))  # Linear stores (out, in)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    fwd = torch.compile(model) if compiled else model
    x = torch.from_numpy(d["x"]).reshape(d["batch"], 1, 28, 28)
    y = torch.from_numpy(d["y"]).long()
    box: list[Any] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(fwd(x), y)
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
        id="W5",
        title="LeNet training step (tutorial: conv5x5x20, pool2, tanh, conv5x5x50, pool2, tanh, 500 tanh, "
        "softmax 10), batch 500, SGD lr 0.1",
        make_data=make_data,
        builders=BUILDERS,
        reference="jax",
        max_repeat=5,
    )
]
