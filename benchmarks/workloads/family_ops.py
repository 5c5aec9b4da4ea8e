"""The few array operations the workload families (``families.py``) are written in, per framework.

A family's model is one function of an ``ops`` object, so every framework runs the same math:
``ops.dot``, the activations, a log-softmax, means and sums over axes, a zero-padded
cross-correlation (``ops.conv``), a per-channel bias and ``ops.scan`` (a loop over the first
axis returning the last carry). Theano-line frameworks (tensorir, PyTensor) build a graph from
symbolic inputs; JAX traces under ``jit``; PyTorch runs eagerly (or under ``torch.compile``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Cell = Callable[[Any, Any, Sequence[Any]], Any]


class TheanoOps:
    """tensorir's ``tensor`` module or PyTensor's ``pytensor.tensor`` (``lib``: the framework)."""

    def __init__(self, lib: Any, T: Any, pytensor: bool = False) -> None:
        self.lib, self.T, self.pytensor = lib, T, pytensor

    def dot(self, a: Any, b: Any) -> Any:
        return self.T.dot(a, b)

    def relu(self, x: Any) -> Any:
        return self.T.maximum(x, 0) if self.pytensor else self.T.nnet.relu(x)

    def tanh(self, x: Any) -> Any:
        return self.T.tanh(x)

    def sigmoid(self, x: Any) -> Any:
        return self.T.sigmoid(x) if self.pytensor else self.T.nnet.sigmoid(x)

    def log(self, x: Any) -> Any:
        return self.T.log(x)

    def log_softmax(self, z: Any) -> Any:
        if self.pytensor:
            return self.T.special.log_softmax(z, axis=-1)
        return self.T.log(self.T.nnet.softmax(z))  # the stabilize rewrite makes it a log-softmax

    def mean(self, x: Any, axis: Any = None) -> Any:
        return self.T.mean(x, axis=axis)

    def sum(self, x: Any, axis: Any = None) -> Any:
        return self.T.sum(x, axis=axis)

    def transpose(self, x: Any) -> Any:
        return x.T

    def channel_bias(self, b: Any) -> Any:
        return b.dimshuffle("x", 0, "x", "x")

    def conv(self, x: Any, w: Any, pad: int) -> Any:
        if self.pytensor:
            raise NotImplementedError("PyTensor 2.x has no conv2d")
        return self.T.nnet.conv2d(x, w, border_mode=pad, filter_flip=False)

    def scan(self, cell: Cell, xs: Any, h0: Any, weights: Sequence[Any]) -> Any:
        h, _ = self.lib.scan(lambda xt, h, *ws: cell(xt, h, ws), sequences=xs, outputs_info=h0,
                             non_sequences=list(weights))
        return h[-1]


class JaxOps:
    def __init__(self, jax: Any) -> None:
        self.jax, self.jnp = jax, jax.numpy

    def dot(self, a: Any, b: Any) -> Any:
        return a @ b

    def relu(self, x: Any) -> Any:
        return self.jnp.maximum(x, 0)

    def tanh(self, x: Any) -> Any:
        return self.jnp.tanh(x)

    def sigmoid(self, x: Any) -> Any:
        return self.jax.nn.sigmoid(x)

    def log(self, x: Any) -> Any:
        return self.jnp.log(x)

    def log_softmax(self, z: Any) -> Any:
        return self.jax.nn.log_softmax(z, axis=-1)

    def mean(self, x: Any, axis: Any = None) -> Any:
        return self.jnp.mean(x, axis=axis)

    def sum(self, x: Any, axis: Any = None) -> Any:
        return self.jnp.sum(x, axis=axis)

    def transpose(self, x: Any) -> Any:
        return x.T

    def channel_bias(self, b: Any) -> Any:
        return b[None, :, None, None]

    def conv(self, x: Any, w: Any, pad: int) -> Any:
        return self.jax.lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def scan(self, cell: Cell, xs: Any, h0: Any, weights: Sequence[Any]) -> Any:
        h, _ = self.jax.lax.scan(lambda h, xt: (cell(xt, h, weights), None), h0, xs)
        return h


class TorchOps:
    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def dot(self, a: Any, b: Any) -> Any:
        return a @ b

    def relu(self, x: Any) -> Any:
        return self.torch.relu(x)

    def tanh(self, x: Any) -> Any:
        return self.torch.tanh(x)

    def sigmoid(self, x: Any) -> Any:
        return self.torch.sigmoid(x)

    def log(self, x: Any) -> Any:
        return self.torch.log(x)

    def log_softmax(self, z: Any) -> Any:
        return self.torch.log_softmax(z, dim=-1)

    def mean(self, x: Any, axis: Any = None) -> Any:
        return x.mean() if axis is None else x.mean(dim=axis)

    def sum(self, x: Any, axis: Any = None) -> Any:
        return x.sum() if axis is None else x.sum(dim=axis)

    def transpose(self, x: Any) -> Any:
        return x.t()

    def channel_bias(self, b: Any) -> Any:
        return b[None, :, None, None]

    def conv(self, x: Any, w: Any, pad: int) -> Any:
        return self.torch.nn.functional.conv2d(x, w, padding=pad)

    def scan(self, cell: Cell, xs: Any, h0: Any, weights: Sequence[Any]) -> Any:
        h = h0
        for t in range(xs.shape[0]):
            h = cell(xs[t], h, weights)
        return h
