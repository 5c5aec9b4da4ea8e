"""The GPU's fused dropout kernel: the Bernoulli mask of ``tir.random_binomial(n=1)`` drawn from
the ``tir`` Philox stream and applied to the input in one pass (no mask round trip through memory
between the draw and the product).

``frontend/conv_nnet.dropout(x, p)`` builds ``mask = binomial(shape, n=1, p=retain)`` then
``x * mask / retain``. Element ``i`` of the mask is word ``i`` of the draw
(``dialects/tir/random.py``: trial ``t`` of value ``i`` uses word ``n*i + t``, success iff
``w * 2**-32 < p`` in float64); word ``i`` is word ``i % 4`` of Philox block ``pos + i // 4``
(``codegen/philox.py``), so one state gives the same mask on the CPU and the GPU. Thread ``t``
takes blocks ``t, t + T, ...`` (grid-stride) and writes their four elements:

    mask[i] = 1 if word_i * 2**-32 < retain else 0            (float64 compare, as the reference)
    out[i]  = (x[i] * mask[i]) / retain_x                     (in x's dtype, as the fused graph)

``retain`` (the probability, float64) and ``retain_x`` (its value in x's dtype, the graph's
constant) travel as the bits of ``i64`` parameters. The mask is written too (the gradient is
``gz * mask / retain_x``). Without an input (``with_input=False``) the kernel is the draw alone:
``tir.random_binomial`` with ``n = 1`` and a float ``dtype``. The host advances the state by
``ceil(n / 4)`` blocks.

Arguments: ``x`` (with an input), ``out`` (with an input), ``mask``, then ``n``, ``k0``, ``k1``,
``pos``, ``retain`` bits, ``retain_x`` bits (``i64``).
"""

from __future__ import annotations

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param
from tensorir.codegen.gpu.kernel_text import Body
from tensorir.codegen.philox import emit_philox4x32_10

__all__ = ["DROPOUT_DTYPES", "WORDS_PER_BLOCK", "dropout_kernel"]

DROPOUT_DTYPES = ("float32", "float64")
WORDS_PER_BLOCK = 4
_FTYPE = {"float32": "f32", "float64": "f64"}


def dropout_kernel(name: str, dtype: str, with_input: bool = True) -> str:
    """The fused dropout kernel of ``dtype`` (see the module docstring)."""
    if dtype not in DROPOUT_DTYPES:
        raise NotLowerable(f"dropout of {dtype}")
    t = _FTYPE[dtype]
    addresses = [Param("in"), Param("out"), Param("out")] if with_input else [Param("out")]
    kb = GpuKernelBuilder(name, addresses + [Param("size")] * 6)
    b, e = Body(kb), kb.e
    x, out, mask = kb.args[:3] if with_input else ("", "", kb.args[0])
    n, k0, k1, pos, retain_bits, retain_x_bits = kb.args[len(addresses):]
    key = [kb.emit_into(kb.preamble, e.cast, "trunci", k, "i64", "i32") for k in (k0, k1)]
    retain = kb.emit_into(kb.preamble, e.bitcast, retain_bits, "i64", "f64")
    retain_x = kb.emit_into(kb.preamble, e.bitcast, retain_x_bits, "i64", "f64")
    if t != "f64":
        retain_x = kb.emit_into(kb.preamble, e.cast, "truncf", retain_x, "f64", t)
    blocks = kb.emit_into(kb.preamble, e.op, "arith.ceildivsi", [n, e.constant(WORDS_PER_BLOCK, "i64")], "i64")
    with b.grid_loop(blocks) as block:
        counter = b.add(pos, block)  # wraps mod 2**64, as the reference
        high = e.int_op("shrui", counter, b.const(32), "i64")
        zero32 = e.constant(0, "i32")
        words = emit_philox4x32_10(e, [e.cast("trunci", counter, "i64", "i32"), e.cast("trunci", high, "i64", "i32"),
                                       zero32, zero32], key)
        first = b.mul(block, b.const(WORDS_PER_BLOCK))
        scale = e.constant(2.0**-32, "f64")
        for j, word in enumerate(words):
            index = b.add(first, b.const(j))
            with b.when(b.cmp("slt", index, n)):
                uniform = e.mul(e.cast("uitofp", word, "i32", "f64"), scale, "f64")
                keep = e.cmpf("olt", uniform, retain, "f64")
                value = e.select(keep, e.constant(1.0, t), e.constant(0.0, t), t)
                b.store(value, mask, index, dtype)
                if with_input:
                    product = e.mul(b.load(x, index, dtype), value, t)
                    b.store(e.div(product, retain_x, t), out, index, dtype)
    return b.render()
