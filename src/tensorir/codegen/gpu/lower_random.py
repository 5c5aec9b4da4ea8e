"""GPU kernels of random draws: the ``tir`` Philox streams, so that one state gives the same numbers
on the CPU and the GPU (the words are ``codegen/philox.py``'s, the layout ``tir/random.py``'s).

Thread ``t`` computes counter blocks ``t, t + T, ...`` (grid-stride): block ``b`` is
``philox4x32_10((lo32(pos + b), hi32(pos + b), 0, 0), (k0, k1))``, whose four words are words
``4b .. 4b + 3`` of the draw. So a float32 uniform ``i`` is word ``i`` and a float64 one is
words ``2i, 2i + 1``: each block writes four float32 or two float64 values, the last block
fewer. The host advances the state by the number of blocks (``ceil(words / 4)``).

Arguments: the output's address, then ``n`` (values), ``k0``, ``k1`` (the key, in the low 32 bits)
and ``pos`` (the stream position), all ``i64``.
"""

from __future__ import annotations

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, loop, when
from tensorir.codegen.philox import emit_philox4x32_10, emit_uniform

__all__ = ["VALUES_PER_BLOCK", "uniform_kernel"]

#: Values of each dtype that one Philox block (four words) makes.
VALUES_PER_BLOCK = {"float32": 4, "float64": 2}


def uniform_kernel(name: str, dtype: str) -> str:
    """The kernel of ``tir.random_uniform`` of ``dtype`` (see the module docstring)."""
    if dtype not in VALUES_PER_BLOCK:
        raise NotLowerable(f"uniform draws of {dtype}")
    per_block = VALUES_PER_BLOCK[dtype]
    kb = GpuKernelBuilder(name, [Param("out")] + [Param("size")] * 4)
    e, pre = kb.e, kb.preamble
    out, n, k0, k1, pos = kb.args
    first, stride = kb.thread_range()
    key = [kb.emit_into(pre, e.cast, "trunci", k, "i64", "i32") for k in (k0, k1)]
    blocks = kb.emit_into(pre, e.op, "arith.ceildivsi", [n, e.constant(per_block, "i64")], "i64")
    body: list[str] = []
    counter = kb.emit_into(body, e.int_op, "addi", pos, "%b", "i64")  # wraps mod 2**64, as the reference
    high = kb.emit_into(body, e.int_op, "shrui", counter, e.constant(32, "i64"), "i64")
    zero = e.constant(0, "i32")
    words = kb.emit_into(body, emit_philox4x32_10, e,
                         [kb.emit_into(body, e.cast, "trunci", counter, "i64", "i32"),
                          kb.emit_into(body, e.cast, "trunci", high, "i64", "i32"), zero, zero], key)
    base = kb.emit_into(body, e.int_op, "muli", "%b", e.constant(per_block, "i64"), "i64")
    for j in range(per_block):
        index = kb.emit_into(body, e.int_op, "addi", base, e.constant(j, "i64"), "i64")
        store: list[str] = []
        own = words[j:j + 1] if dtype == "float32" else words[2 * j:2 * j + 2]
        kb.store(store, kb.emit_into(store, emit_uniform, e, own, dtype), out, index, dtype)
        body += when(kb.emit_into(body, e.cmpi, "slt", index, n, "i64"), store)
    return kb.render(loop("%b", first, blocks, stride, body))
