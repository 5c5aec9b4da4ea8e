"""Shared code of W3 (logistic regression) and W4 (MLP): dense tanh layers, softmax, mean NLL, SGD.

``sizes`` is the list of layer widths: ``[784, 10]`` is logistic regression, ``[784, 500, 10]``
the tutorial MLP. Hidden layers use tanh; the last layer is a softmax classifier trained on the
mean negative log-likelihood, as in the Theano tutorial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case


def make_data(batch: int, sizes: list[int], lr: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i < len(sizes) - 2:
            bound = np.sqrt(6.0 / (a + b))  # tutorial's tanh initialisation
            w = rng.uniform(-bound, bound, (a, b)).astype(np.float32)
        else:
            # Tutorial starts the classifier at zero; small random values make the check meaningful.
            w = (0.01 * rng.standard_normal((a, b))).astype(np.float32)
        params += [w, np.zeros(b, dtype=np.float32)]
    x = rng.uniform(0, 1, (batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    return {"params": params, "x": x, "y": y, "lr": lr}


def _copy_params(d: dict[str, Any]) -> list[np.ndarray]:
    return [p.copy() for p in d["params"]]


def numpy_case(d: dict[str, Any]) -> Case:
    params = _copy_params(d)
    x, y, lr = d["x"], d["y"], np.float32(d["lr"])
    n = x.shape[0]

    def step() -> float:
        # forward, keeping each layer's input for the backward pass
        acts = [x]
        h = x
        for i in range(0, len(params) - 2, 2):
            h = np.tanh(h @ params[i] + params[i + 1])
            acts.append(h)
        logits = h @ params[-2] + params[-1]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        cost = -np.mean(np.log(p[np.arange(n), y]))
        # backward: d(mean NLL)/d(logits) = (softmax - onehot) / n
        g = p
        g[np.arange(n), y] -= 1
        g /= n
        grads = []
        for li in range(len(params) // 2 - 1, -1, -1):
            a = acts[li]
            gw, gb = a.T @ g, g.sum(axis=0)
            if li > 0:
                g = (g @ params[2 * li].T) * (1 - a * a)
            grads = [gw, gb] + grads
        for p_, g_ in zip(params, grads):
            p_ -= lr * g_
        return float(cost)

    return Case(step, lambda: params)


def _theano_style(tr: Any, T: Any, d: dict[str, Any]) -> Case:
    # Written as the Theano tutorial writes it: shared parameters, symbolic cost, grad, SGD updates.
    x = T.matrix("x", dtype="float32")
    y = T.ivector("y")
    params = [tr.shared(p.copy(), name=f"p{i}") for i, p in enumerate(d["params"])]
    h = x
    for i in range(0, len(params) - 2, 2):
        h = T.tanh(T.dot(h, params[i]) + params[i + 1])
    p_y_given_x = T.nnet.softmax(T.dot(h, params[-2]) + params[-1])
    cost = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    grads = tr.grad(cost, params)
    lr = np.float32(d["lr"])
    train = tr.function([x, y], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)])

    def step() -> Any:
        return train(d["x"], d["y"])

    return Case(step, lambda: [p.get_value() for p in params])


def tensorir_case(d: dict[str, Any]) -> Case:
    tr, T = import_tensorir()
    return _theano_style(tr, T, d)


def pytensor_case(d: dict[str, Any]) -> Case:
    pytensor, pt = import_pytensor()

    class _T:  # PyTensor spells Theano's T.nnet.softmax as pt.special.softmax
        def __getattr__(self, name: str) -> Any:
            return getattr(pt, name)

        class nnet:
            @staticmethod
            def softmax(v: Any) -> Any:
                return pt.special.softmax(v, axis=-1)

    return _theano_style(pytensor, _T(), d)


def jax_update(jax: Any, lr: float) -> Callable[..., Any]:
    """The jitted SGD step of the tanh MLP with a softmax output (``update(params, x, y) ->
    (params, cost)``), for the CPU workloads and the GPU benchmark alike."""
    jnp = jax.numpy

    def loss(params, x, y):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = jnp.tanh(h @ params[i] + params[i + 1])
        logp = jax.nn.log_softmax(h @ params[-2] + params[-1])
        return -jnp.mean(logp[jnp.arange(x.shape[0]), y])

    @jax.jit
    def update(params, x, y):
        cost, grads = jax.value_and_grad(loss)(params, x, y)
        return [p - lr * g for p, g in zip(params, grads)], cost

    return update


def jax_case(d: dict[str, Any]) -> Case:
    jax = import_jax()
    update = jax_update(jax, d["lr"])
    state = [jax.device_put(p) for p in d["params"]]
    x, y = jax.device_put(d["x"]), jax.device_put(d["y"])

    def step() -> Any:
        nonlocal state
        state, cost = update(state, x, y)
        return jax.block_until_ready(cost)

    return Case(step, lambda: [np.asarray(p) for p in state])


def torch_case(d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()
    nn = torch.nn
    ps = d["params"]
    layers: list[Any] = []
    for i in range(0, len(ps), 2):
        lin = nn.Linear(*ps[i].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(ps[i].T.copy()))  # nn.Linear stores (out, in)
            lin.bias.copy_(torch.from_numpy(ps[i + 1]))
        layers.append(lin)
        if i < len(ps) - 2:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=d["lr"])
    fwd = torch.compile(model) if compiled else model
    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"]).long()

    def step() -> Any:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()
        return loss

    def result() -> list[np.ndarray]:
        out = []
        for m in layers:
            if isinstance(m, nn.Linear):
                out += [m.weight.detach().numpy().T, m.bias.detach().numpy()]
        return out

    return Case(step, result)


def builders() -> dict[str, Any]:
    return {
        "numpy": numpy_case,
        "tensorir": tensorir_case,
        "pytensor": pytensor_case,
        "jax": jax_case,
        "torch": lambda d: torch_case(d, False),
        "torch-compile": lambda d: torch_case(d, True),
    }
