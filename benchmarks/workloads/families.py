"""Workload families: model classes at several sizes each, so tuning is judged on families, not shapes.

W1-W10 are the Theano tutorial's models at one size each. The families here cover what they miss
(issue 33), each a :class:`Family` with a model written once against ``family_ops`` and a list of
sizes; every size is one workload, ``F<n>-<size>``, selected like the others
(``compare.py --only F3`` runs a family, ``--only F3-c32`` one size, ``--family conv`` by name).

- F1 ``dense``: deep and wide ReLU MLPs, softmax classifier, SGD training step.
- F2 ``tied``: Theano's denoising autoencoder (sigmoid, cross-entropy) with tied weights: ``W``
  is used twice, forward and transposed, so its gradient is the sum of two products.
- F3 ``conv``: 3x3 and 1x1 'same' convolutions (zero padding 1 and 0) with more channels, ReLU,
  a global mean and a softmax classifier, training step; and a single 3x3 layer forward.
- F4 ``rnn``: a vanilla tanh RNN and a GRU through ``scan``, trained on the last state.
- F5 ``inference``: a deep stack of small tanh layers, forward only (call overhead per layer).

Every framework runs the same math (cross-correlation, no filter flip; one-hot float targets);
the first step's cost and first parameter are checked against JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.frameworks import import_jax, import_pytensor, import_tensorir, import_torch
from benchmarks.harness import Case, Workload
from benchmarks.workloads.family_ops import JaxOps, TheanoOps, TorchOps

LR = 0.05
Arrays = list[np.ndarray]
Shapes = list[tuple[int, ...]]


@dataclass(frozen=True)
class Size:
    """One size of a family: its id suffix, title words, and the settings its model reads
    (``quick``: the tiny settings of ``compare.py --quick``)."""

    tag: str
    words: str
    settings: dict[str, Any]
    quick: dict[str, Any]


@dataclass(frozen=True)
class Family:
    """A model class: parameters and inputs from settings, and the model written against ``ops``.

    ``model(ops, params, inputs, shapes)`` (``shapes``: the parameters' static shapes) returns
    the scalar cost of a training step (``train``) or the output of an inference call.
    ``conv``: the model convolves (PyTensor 2.x cannot).
    """

    id: str
    name: str
    title: str
    make: Callable[[np.random.Generator, dict[str, Any]], tuple[Arrays, Arrays]]
    model: Callable[[Any, Sequence[Any], Sequence[Any], Shapes], Any]
    sizes: tuple[Size, ...]
    train: bool = True
    conv: bool = False

    def workloads(self) -> list[Workload]:
        out = []
        for size in self.sizes:
            def make_data(quick: bool, size: Size = size) -> dict[str, Any]:
                rng = np.random.default_rng(33)
                params, inputs = self.make(rng, size.quick if quick else size.settings)
                return {"params": params, "inputs": inputs}

            builders: dict[str, Callable[[dict[str, Any]], Case]] = {
                "tensorir": lambda d: _theano_case(self, d, pytensor=False),
                "jax": lambda d: _jax_case(self, d),
                "torch": lambda d: _torch_case(self, d, compiled=False),
                "torch-compile": lambda d: _torch_case(self, d, compiled=True),
            }
            if not self.conv:
                builders["pytensor"] = lambda d: _theano_case(self, d, pytensor=True)
            out.append(Workload(id=f"{self.id}-{size.tag}", title=f"{self.title}: {size.words}",
                                make_data=make_data, builders=builders, reference="jax", max_repeat=5))
        return out


# -- the runners: one per framework, for every family ----------------------------------------------

def _shapes(d: dict[str, Any]) -> Shapes:
    return [p.shape for p in d["params"]]


def _theano_case(family: Family, d: dict[str, Any], pytensor: bool) -> Case:
    if pytensor:
        lib, T = import_pytensor()
    else:
        lib, T = import_tensorir()
    ops = TheanoOps(lib, T, pytensor)
    params = [lib.shared(p.copy(), name=f"p{i}") for i, p in enumerate(d["params"])]
    inputs = [T.tensor(dtype="float32", shape=(None,) * a.ndim, name=f"x{i}") for i, a in enumerate(d["inputs"])]
    out = family.model(ops, params, inputs, _shapes(d))
    if family.train:
        grads = lib.grad(out, params)
        lr = np.float32(LR)
        f = lib.function(inputs, out, updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    else:
        f = lib.function(inputs, out)
    box: Arrays = []

    def step() -> None:
        value = f(*d["inputs"])
        if not box:
            box.append(np.asarray(value))
            if family.train:
                box.append(params[0].get_value())

    return Case(step, lambda: box)


def _jax_case(family: Family, d: dict[str, Any]) -> Case:
    jax = import_jax()
    ops = JaxOps(jax)
    if family.train:
        grad = jax.value_and_grad(lambda ps, xs: family.model(ops, ps, xs, _shapes(d)))

        @jax.jit
        def call(ps: Any, xs: Any) -> Any:
            cost, grads = grad(ps, xs)
            return [p - LR * g for p, g in zip(ps, grads)], cost
    else:
        forward = jax.jit(lambda ps, xs: family.model(ops, ps, xs, _shapes(d)))

        def call(ps: Any, xs: Any) -> Any:
            return ps, forward(ps, xs)

    state = [jax.device_put(p) for p in d["params"]]
    xs = [jax.device_put(a) for a in d["inputs"]]
    box: Arrays = []

    def step() -> None:
        nonlocal state
        state, value = call(state, xs)
        jax.block_until_ready(value)
        if not box:
            box.append(np.asarray(value))
            if family.train:
                box.append(np.asarray(state[0]))

    return Case(step, lambda: box)


def _torch_case(family: Family, d: dict[str, Any], compiled: bool) -> Case:
    torch = import_torch()
    ops = TorchOps(torch)
    params = [torch.from_numpy(p.copy()).requires_grad_(family.train) for p in d["params"]]
    xs = [torch.from_numpy(a) for a in d["inputs"]]
    shapes = _shapes(d)

    def run_model(ps: Any, xs: Any) -> Any:
        return family.model(ops, ps, xs, shapes)

    model = torch.compile(run_model) if compiled else run_model
    box: Arrays = []

    def step() -> None:
        if family.train:
            cost = model(params, xs)
            grads = torch.autograd.grad(cost, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(LR * g)
            value = cost.detach()
        else:
            with torch.no_grad():
                value = model(params, xs)
        if not box:
            box.append(value.numpy().copy())
            if family.train:
                box.append(params[0].detach().numpy().copy())

    return Case(step, lambda: box)


# -- the families ------------------------------------------------------------------------------------

def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
             gain: float = 1.0) -> np.ndarray:
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _one_hot(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def _nll(ops: Any, logits: Any, target: Any) -> Any:
    """Mean negative log-likelihood of one-hot targets."""
    return -ops.mean(ops.sum(target * ops.log_softmax(logits), axis=1))


def _dense_make(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Arrays, Arrays]:
    widths = [s["inputs"], *s["hidden"], s["classes"]]
    params: Arrays = []
    for a, b in zip(widths[:-1], widths[1:]):
        params += [_uniform(rng, (a, b), a, b), np.zeros(b, np.float32)]
    x = rng.uniform(0, 1, (s["batch"], s["inputs"])).astype(np.float32)
    return params, [x, _one_hot(rng, s["batch"], s["classes"])]


def _dense_model(ops: Any, params: Sequence[Any], inputs: Sequence[Any], shapes: Shapes) -> Any:
    h, target = inputs
    for i in range(0, len(params) - 2, 2):
        h = ops.relu(ops.dot(h, params[i]) + params[i + 1])
    return _nll(ops, ops.dot(h, params[-2]) + params[-1], target)


DENSE = Family(
    "F1", "dense", "ReLU MLP training step (softmax, mean NLL, SGD)", _dense_make, _dense_model,
    (
        Size("3x1024-b256", "784-1024-1024-1024-10, batch 256",
             {"inputs": 784, "hidden": [1024] * 3, "classes": 10, "batch": 256},
             {"inputs": 16, "hidden": [8] * 3, "classes": 4, "batch": 4}),
        Size("2048-b128", "784-2048-10 (wide), batch 128",
             {"inputs": 784, "hidden": [2048], "classes": 10, "batch": 128},
             {"inputs": 16, "hidden": [32], "classes": 4, "batch": 4}),
        Size("6x256-b32", "256-256x6-10 (deep, narrow), batch 32",
             {"inputs": 256, "hidden": [256] * 6, "classes": 10, "batch": 32},
             {"inputs": 8, "hidden": [8] * 6, "classes": 4, "batch": 2}),
    ),
)


def _tied_make(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Arrays, Arrays]:
    nv, nh = s["visible"], s["hidden"]
    params = [_uniform(rng, (nv, nh), nv, nh, gain=4.0), np.zeros(nh, np.float32), np.zeros(nv, np.float32)]
    x = (rng.uniform(0, 1, (s["batch"], nv)) < 0.3).astype(np.float32)
    corrupted = x * (rng.uniform(0, 1, x.shape) > 0.3)  # the tutorial's corruption, drawn once
    return params, [corrupted.astype(np.float32), x]


def _tied_model(ops: Any, params: Sequence[Any], inputs: Sequence[Any], shapes: Shapes) -> Any:
    W, b_hidden, b_visible = params
    corrupted, x = inputs
    y = ops.sigmoid(ops.dot(corrupted, W) + b_hidden)
    z = ops.sigmoid(ops.dot(y, ops.transpose(W)) + b_visible)
    return ops.mean(-ops.sum(x * ops.log(z) + (1 - x) * ops.log(1 - z), axis=1))


TIED = Family(
    "F2", "tied", "tied-weight denoising autoencoder training step (sigmoid, cross-entropy, SGD)",
    _tied_make, _tied_model,
    (
        Size("784-500-b20", "784-500-784, batch 20 (the tutorial's)",
             {"visible": 784, "hidden": 500, "batch": 20}, {"visible": 12, "hidden": 6, "batch": 3}),
        Size("784-500-b256", "784-500-784, batch 256", {"visible": 784, "hidden": 500, "batch": 256},
             {"visible": 12, "hidden": 6, "batch": 5}),
        Size("784-1000-b64", "784-1000-784, batch 64", {"visible": 784, "hidden": 1000, "batch": 64},
             {"visible": 12, "hidden": 10, "batch": 4}),
    ),
)


def _conv_make(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Arrays, Arrays]:
    c_in, widths, side, batch = s["channels_in"], s["channels"], s["side"], s["batch"]
    params: Arrays = []
    previous = c_in
    for c, k in zip(widths, s["kernels"]):
        params += [_uniform(rng, (c, previous, k, k), previous * k * k, c * k * k), np.zeros(c, np.float32)]
        previous = c
    if s.get("classes"):
        params += [_uniform(rng, (previous, s["classes"]), previous, s["classes"]), np.zeros(s["classes"], np.float32)]
    x = rng.uniform(0, 1, (batch, c_in, side, side)).astype(np.float32)
    inputs = [x, _one_hot(rng, batch, s["classes"])] if s.get("classes") else [x]
    return params, inputs


def _conv_model(ops: Any, params: Sequence[Any], inputs: Sequence[Any], shapes: Shapes) -> Any:
    h = inputs[0]
    layers = (len(params) - 2) // 2 if len(inputs) == 2 else len(params) // 2
    for i in range(layers):
        w, b = params[2 * i], params[2 * i + 1]
        pad = (shapes[2 * i][-1] - 1) // 2  # 'same' for an odd kernel
        h = ops.relu(ops.conv(h, w, pad) + ops.channel_bias(b))
    if len(inputs) == 1:
        return h
    return _nll(ops, ops.dot(ops.mean(h, axis=(2, 3)), params[-2]) + params[-1], inputs[1])


def _conv_stack(channels: int) -> dict[str, Any]:
    return {"channels_in": 3, "channels": [channels, channels, 2 * channels], "kernels": [3, 3, 1]}


CONV = Family(
    "F3", "conv", "'same' convolutions (3x3, 3x3, 1x1, ReLU, global mean, softmax 10) training step",
    _conv_make, _conv_model,
    (
        Size("c16-s32-b32", "3->16->16->32 channels, 32x32, batch 32",
             {**_conv_stack(16), "side": 32, "batch": 32, "classes": 10},
             {**_conv_stack(2), "side": 6, "batch": 2, "classes": 3}),
        Size("c32-s32-b32", "3->32->32->64 channels, 32x32, batch 32",
             {**_conv_stack(32), "side": 32, "batch": 32, "classes": 10},
             {**_conv_stack(3), "side": 5, "batch": 2, "classes": 3}),
        Size("c64-s16-b32", "3->64->64->128 channels, 16x16, batch 32",
             {**_conv_stack(64), "side": 16, "batch": 32, "classes": 10},
             {**_conv_stack(4), "side": 4, "batch": 2, "classes": 3}),
    ),
    conv=True,
)

CONV_LAYER = Family(
    "F3L", "conv", "one 3x3 'same' convolution + ReLU, forward only", _conv_make, _conv_model,
    (
        Size("32-s32-b32", "32->32 channels, 32x32, batch 32",
             {"channels_in": 32, "channels": [32], "kernels": [3], "side": 32, "batch": 32},
             {"channels_in": 2, "channels": [3], "kernels": [3], "side": 5, "batch": 2}),
        Size("8-s64-b16", "8->8 channels, 64x64, batch 16",
             {"channels_in": 8, "channels": [8], "kernels": [3], "side": 64, "batch": 16},
             {"channels_in": 2, "channels": [2], "kernels": [3], "side": 6, "batch": 2}),
    ),
    train=False,
    conv=True,
)


def _rnn_make(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Arrays, Arrays]:
    n_in, hidden, gates = s["inputs"], s["hidden"], 3 if s["cell"] == "gru" else 1
    params = [
        _uniform(rng, (n_in, gates * hidden), n_in, hidden),
        _uniform(rng, (hidden, gates * hidden), hidden, hidden),
        np.zeros(gates * hidden, np.float32),
        _uniform(rng, (hidden, s["classes"]), hidden, s["classes"]),
    ]
    x = rng.standard_normal((s["steps"], s["batch"], n_in)).astype(np.float32)
    return params, [x, np.zeros((s["batch"], hidden), np.float32), _one_hot(rng, s["batch"], s["classes"])]


def _vanilla_cell(ops: Any, hidden: int) -> Callable[[Any, Any, Sequence[Any]], Any]:
    def cell(xt: Any, h: Any, ws: Sequence[Any]) -> Any:
        W, U, b = ws
        return ops.tanh(ops.dot(xt, W) + ops.dot(h, U) + b)

    return cell


def _gru_cell(ops: Any, n: int) -> Callable[[Any, Any, Sequence[Any]], Any]:
    def cell(xt: Any, h: Any, ws: Sequence[Any]) -> Any:
        W, U, b = ws
        gx, gh = ops.dot(xt, W) + b, ops.dot(h, U)
        r = ops.sigmoid(gx[:, :n] + gh[:, :n])
        z = ops.sigmoid(gx[:, n:2 * n] + gh[:, n:2 * n])
        candidate = ops.tanh(gx[:, 2 * n:] + r * gh[:, 2 * n:])
        return (1 - z) * candidate + z * h

    return cell


def _rnn_model(gru: bool) -> Callable[[Any, Sequence[Any], Sequence[Any], Shapes], Any]:
    def model(ops: Any, params: Sequence[Any], inputs: Sequence[Any], shapes: Shapes) -> Any:
        W, U, b, V = params
        x, h0, target = inputs
        hidden = shapes[1][0]
        cell = _gru_cell(ops, hidden) if gru else _vanilla_cell(ops, hidden)
        return _nll(ops, ops.dot(ops.scan(cell, x, h0, [W, U, b]), V), target)

    return model


def _rnn_size(cell: str, hidden: int, batch: int, steps: int) -> Size:
    return Size(f"{cell}-h{hidden}-b{batch}", f"{cell}, input 64, hidden {hidden}, batch {batch}, {steps} steps",
                {"cell": cell, "inputs": 64, "hidden": hidden, "batch": batch, "steps": steps, "classes": 10},
                {"cell": cell, "inputs": 4, "hidden": 6, "batch": 2, "steps": 3, "classes": 3})


RNN = Family(
    "F4", "rnn", "vanilla tanh RNN through scan, softmax on the last state, training step",
    _rnn_make, _rnn_model(gru=False),
    (_rnn_size("rnn", 256, 32, 50), _rnn_size("rnn", 512, 64, 50)),
)

GRU = Family(
    "F4G", "rnn", "GRU through scan, softmax on the last state, training step",
    _rnn_make, _rnn_model(gru=True),
    (_rnn_size("gru", 256, 32, 50), _rnn_size("gru", 128, 16, 100)),
)


def _small_make(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Arrays, Arrays]:
    width = s["width"]
    params: Arrays = []
    for _ in range(s["layers"]):
        params += [_uniform(rng, (width, width), width, width), np.zeros(width, np.float32)]
    return params, [rng.uniform(-1, 1, (s["batch"], width)).astype(np.float32)]


def _small_model(ops: Any, params: Sequence[Any], inputs: Sequence[Any], shapes: Shapes) -> Any:
    h = inputs[0]
    for i in range(0, len(params), 2):
        h = ops.tanh(ops.dot(h, params[i]) + params[i + 1])
    return h


SMALL_LAYERS = Family(
    "F5", "inference", "inference of many small tanh layers (forward only)", _small_make, _small_model,
    (
        Size("20x64-b16", "20 layers of width 64, batch 16", {"layers": 20, "width": 64, "batch": 16},
             {"layers": 3, "width": 4, "batch": 2}),
        Size("50x32-b1", "50 layers of width 32, batch 1", {"layers": 50, "width": 32, "batch": 1},
             {"layers": 4, "width": 4, "batch": 1}),
        Size("10x256-b8", "10 layers of width 256, batch 8", {"layers": 10, "width": 256, "batch": 8},
             {"layers": 2, "width": 8, "batch": 2}),
    ),
    train=False,
)

FAMILIES: tuple[Family, ...] = (DENSE, TIED, CONV, CONV_LAYER, RNN, GRU, SMALL_LAYERS)
#: Family names for ``compare.py --family``.
FAMILY_NAMES: tuple[str, ...] = tuple(dict.fromkeys(f.name for f in FAMILIES))

WORKLOADS = [w for family in FAMILIES for w in family.workloads()]


def family_ids(names: Sequence[str]) -> list[str]:
    """The workload ids of the families called ``names`` (ValueError naming the unknown ones)."""
    unknown = [n for n in names if n not in FAMILY_NAMES]
    if unknown:
        raise ValueError(f"--family: unknown {', '.join(unknown)}; known: {', '.join(FAMILY_NAMES)}")
    return [w.id for f in FAMILIES if f.name in names for w in f.workloads()]
