"""The GPU's fused batch-normalization kernels: training forward (batch statistics), inference, and
the gradient, over an input laid out ``N x C x S`` (C-contiguous).

``frontend/conv_nnet.py`` builds batch normalization from elementwise ops and means over
``axes``: ``'per-activation'`` on an ``N x C`` input is ``S = 1``, ``'spatial'`` on NCHW is
``S = H*W``; the statistics of channel ``c`` are over its ``M = N*S`` elements. With
``xhat = (x - mean) * invstd``:

- **train** (one block per channel, grid-stride over channels): ``mean = sum(x) / M``, then
  ``var = sum((x - mean)**2) / M`` (two passes, the population variance as ``x.var``), then
  ``invstd = 1 / sqrt(var + eps)`` and ``out = xhat * gamma[c] + beta[c]``, as the frontend's
  ``(x - mean) * invstd * gamma + beta``; ``mean`` and ``invstd`` are outputs (``C`` each);
- **inference** (one thread per element): ``out = (x - mean[c]) * gamma[c] / sqrt(var[c] + eps)
  + beta[c]``, the frontend's ``batch_normalization_test`` in its order of operations;
- **grad** (one block per channel): ``dbeta = sum(dy)``, ``dgamma = sum(dy * xhat)`` (one
  block reduction of the pair), then ``dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M)``.

Float32 square roots are ``math.sqrt``, which the NVVM lowering gives libdevice (without
``__CUDA_PREC_SQRT``: ``sqrt.approx.f32``, and ``1 / sqrt`` becomes ``rsqrt.approx.f32``): within
a few ulp of NumPy's, as every float32 ``sqrt`` of the GPU path. Sums use the dtype's arithmetic
with ``reassoc`` (the block reduction's order, not NumPy's pairwise one: results agree to
rounding). ``eps`` travels as the bits of an ``i64`` (float64).

Arguments: train ``x, gamma, beta, out, mean, invstd``; inference ``x, gamma, beta, mean, var,
out``; grad ``x, dy, gamma, mean, invstd, dx, dgamma, dbeta``; then ``N, C, S`` and (train,
inference) the bits of ``eps``.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.block_reduce import block_reduce, block_reduce_tuple
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param
from tensorir.codegen.gpu.kernel_text import Body

__all__ = ["BATCHNORM_DTYPES", "BATCHNORM_KINDS", "batchnorm_kernel"]

BATCHNORM_DTYPES = ("float32", "float64")
BATCHNORM_KINDS = ("train", "inference", "grad")
_FTYPE = {"float32": "f32", "float64": "f64"}
_PARAMS = {
    "train": ["in", "in", "in", "out", "out", "out", "size", "size", "size", "size"],
    "inference": ["in", "in", "in", "in", "in", "out", "size", "size", "size", "size"],
    "grad": ["in", "in", "in", "in", "in", "out", "out", "out", "size", "size", "size"],
}


def batchnorm_kernel(name: str, kind: str, dtype: str) -> str:
    """The ``gpu.func`` text of one batch-normalization kernel (see the module docstring)."""
    if kind not in BATCHNORM_KINDS:
        raise NotLowerable(f"no batch-normalization kernel {kind!r}: one of {', '.join(BATCHNORM_KINDS)}")
    if dtype not in BATCHNORM_DTYPES:
        raise NotLowerable(f"batch normalization of {dtype}")
    kb = GpuKernelBuilder(name, [Param(k) for k in _PARAMS[kind]])
    b = Body(kb)
    {"train": _train, "inference": _inference, "grad": _grad}[kind](kb, b, dtype, _FTYPE[dtype])
    return b.render()


def _epsilon(kb: GpuKernelBuilder, bits: str, t: str) -> str:
    e = kb.e
    eps = kb.emit_into(kb.preamble, e.bitcast, bits, "i64", "f64")
    return eps if t == "f64" else kb.emit_into(kb.preamble, e.cast, "truncf", eps, "f64", t)


def _add(b: Body, t: str):  # noqa: ANN202 - the block reduction's combine
    return lambda p, q: b.e.op("arith.addf", [p, q], t, attributes="fastmath<reassoc>")


class _Channel:
    """The elements of channel ``c``: ``m`` in ``[0, N*S)`` at ``(n*C + c)*S + s``."""

    def __init__(self, kb: GpuKernelBuilder, b: Body, n: str, c_count: str, s: str, c: str) -> None:
        self.b, self.c_count, self.s, self.c = b, c_count, s, c
        self.m = b.mul(n, s)
        _block, _grid, self.thread, self.size = kb.block_values()

    def index(self, m: str) -> str:
        b = self.b
        return b.add(b.mul(b.add(b.mul(b.div(m, self.s), self.c_count), self.c), self.s), b.rem(m, self.s))

    def sum(self, kb: GpuKernelBuilder, t: str, element: Callable[[str], list[str]], count: int = 1) -> list[str]:
        """The block's sums of the ``count`` values ``element(index)`` over the channel (every
        thread gets them)."""
        b = self.b
        zero = b.e.constant(0.0, t)
        with b.carry(self.thread, self.m, [zero] * count, [t] * count, self.size) as (m, acc):
            values = element(self.index(m))
            acc.next = [_add(b, t)(a, v) for a, v in zip(acc.values, values)]
        if count == 1:
            return [block_reduce(kb, b.e.lines, acc.results[0], t, zero, _add(b, t))]
        return block_reduce_tuple(kb, b.e.lines, acc.results, [t] * count, [zero] * count,
                                  lambda p, q: [_add(b, t)(x, y) for x, y in zip(p, q)])


def _channel_loop(kb: GpuKernelBuilder, b: Body, c_count: str):  # noqa: ANN202
    block, grid, _thread, _size = kb.block_values()
    return b.loop(block, c_count, grid)


def _train(kb: GpuKernelBuilder, b: Body, dtype: str, t: str) -> None:
    x, gamma, beta, out, mean_out, invstd_out, n, c_count, s, eps_bits = kb.args
    e = b.e
    eps = _epsilon(kb, eps_bits, t)
    with _channel_loop(kb, b, c_count) as c:
        ch = _Channel(kb, b, n, c_count, s, c)
        count = e.cast("sitofp", ch.m, "i64", t)
        (total,) = ch.sum(kb, t, lambda i: [b.load(x, i, dtype)])
        mean = e.div(total, count, t)

        def squared(i: str) -> list[str]:
            d = e.sub(b.load(x, i, dtype), mean, t)
            return [e.mul(d, d, t)]

        (squares,) = ch.sum(kb, t, squared)
        variance = e.div(squares, count, t)
        invstd = e.div(e.constant(1.0, t), e.unary_math("sqrt", e.add(variance, eps, t), t), t)
        g, bt = b.load(gamma, c, dtype), b.load(beta, c, dtype)
        with b.loop(ch.thread, ch.m, ch.size) as m:
            i = ch.index(m)
            normalized = e.mul(e.sub(b.load(x, i, dtype), mean, t), invstd, t)
            b.store(e.add(e.mul(normalized, g, t), bt, t), out, i, dtype)
        with b.when(b.cmp("eq", ch.thread, "%zero")):
            b.store(mean, mean_out, c, dtype)
            b.store(invstd, invstd_out, c, dtype)


def _inference(kb: GpuKernelBuilder, b: Body, dtype: str, t: str) -> None:
    x, gamma, beta, mean, var, out, n, c_count, s, eps_bits = kb.args
    e = b.e
    eps = _epsilon(kb, eps_bits, t)
    total = kb.emit_into(kb.preamble, e.int_op, "muli", n, kb.emit_into(kb.preamble, e.int_op, "muli", c_count, s,
                                                                         "i64"), "i64")
    with b.grid_loop(total) as i:
        c = b.rem(b.div(i, s), c_count)
        centered = e.sub(b.load(x, i, dtype), b.load(mean, c, dtype), t)
        scaled = e.mul(centered, b.load(gamma, c, dtype), t)
        root = e.unary_math("sqrt", e.add(b.load(var, c, dtype), eps, t), t)
        b.store(e.add(e.div(scaled, root, t), b.load(beta, c, dtype), t), out, i, dtype)


def _grad(kb: GpuKernelBuilder, b: Body, dtype: str, t: str) -> None:
    x, dy, gamma, mean_in, invstd_in, dx, dgamma_out, dbeta_out, n, c_count, s = kb.args
    e = b.e
    with _channel_loop(kb, b, c_count) as c:
        ch = _Channel(kb, b, n, c_count, s, c)
        mean, invstd = b.load(mean_in, c, dtype), b.load(invstd_in, c, dtype)

        def xhat(i: str) -> str:
            return e.mul(e.sub(b.load(x, i, dtype), mean, t), invstd, t)

        def pair(i: str) -> list[str]:
            g = b.load(dy, i, dtype)
            return [g, e.mul(g, xhat(i), t)]

        dbeta, dgamma = ch.sum(kb, t, pair, count=2)
        count = e.cast("sitofp", ch.m, "i64", t)
        mean_dbeta, mean_dgamma = e.div(dbeta, count, t), e.div(dgamma, count, t)
        scale = e.mul(b.load(gamma, c, dtype), invstd, t)
        with b.loop(ch.thread, ch.m, ch.size) as m:
            i = ch.index(m)
            inner = e.sub(e.sub(b.load(dy, i, dtype), mean_dbeta, t), e.mul(xhat(i), mean_dgamma, t), t)
            b.store(e.mul(scale, inner, t), dx, i, dtype)
        with b.when(b.cmp("eq", ch.thread, "%zero")):
            b.store(dgamma, dgamma_out, c, dtype)
            b.store(dbeta, dbeta_out, c, dtype)
