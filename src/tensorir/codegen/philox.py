"""Philox4x32-10 and the uniform conversions of ``tir`` random draws, as ``arith`` ops: one
definition for every device (the CPU can run it too, which is how it is checked against the
NumPy reference without a GPU).

The bit layout is ``dialects/tir/random.py``'s: ten rounds of::

    hi0, lo0 = mulhilo(M0, c0); hi1, lo1 = mulhilo(M1, c2)
    c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0

with the key bumped by ``(W0, W1)`` between rounds (all mod 2**32); a float32 uniform is
``(2 * (w >> 9) + 1) * 2**-24`` and a float64 one ``(2 * m + 1) * 2**-53`` with
``m = (hi >> 12) * 2**32 + lo`` (exact, never 0 or 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.mlir_text import KernelEmitter
from tensorir.dialects.tir.random import PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1

__all__ = ["ROUNDS", "emit_philox4x32_10", "emit_uniform"]

ROUNDS = 10


def _i32(e: KernelEmitter, value: int) -> str:
    """A 32-bit constant written signed (how MLIR prints and parses ``i32`` literals)."""
    value &= 0xFFFFFFFF
    return e.constant(value - (1 << 32) if value >= 1 << 31 else value, "i32")


def _mulhilo(e: KernelEmitter, multiplier: int, value: str) -> tuple[str, str]:
    """The high and low words of the 64-bit product of two 32-bit words (``mului_extended``, which
    a GPU could do as 32-bit ``mul.hi``/``mul.lo``; LLVM 22 still widens most of the rounds to
    ``mul.lo.s64`` in the PTX, unmeasured so far)."""
    low, high = e.fresh("lo"), e.fresh("hi")
    e.line(f"{low}, {high} = arith.mului_extended {_i32(e, multiplier)}, {value} : i32")
    return high, low


def emit_philox4x32_10(e: KernelEmitter, counter: Sequence[str], key: Sequence[str]) -> list[str]:
    """The four ``i32`` words of ``philox4x32_10(counter, key)``: 4 and 2 ``i32`` SSA values in."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(ROUNDS):
        if r:
            k0 = e.int_op("addi", k0, _i32(e, PHILOX_W0), "i32")
            k1 = e.int_op("addi", k1, _i32(e, PHILOX_W1), "i32")
        hi0, lo0 = _mulhilo(e, PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(e, PHILOX_M1, c2)
        c0, c1, c2, c3 = (e.int_op("xori", e.int_op("xori", hi1, c1, "i32"), k0, "i32"), lo1,
                          e.int_op("xori", e.int_op("xori", hi0, c3, "i32"), k1, "i32"), lo0)
    return [c0, c1, c2, c3]


def emit_uniform(e: KernelEmitter, words: Sequence[str], dtype: str) -> str:
    """A uniform on (0, 1) of ``dtype`` from its words (one for float32; ``hi, lo`` for float64)."""
    if dtype == "float32":
        (word,) = words
        m = e.int_op("shrui", word, e.constant(9, "i32"), "i32")  # the top 23 bits
        odd = e.int_op("addi", e.int_op("shli", m, e.constant(1, "i32"), "i32"), e.constant(1, "i32"), "i32")
        return e.mul(e.cast("uitofp", odd, "i32", "f32"), e.constant(2.0**-24, "f32"), "f32")
    if dtype == "float64":
        hi, lo = (e.cast("extui", w, "i32", "i64") for w in words)
        m = e.int_op("ori", e.int_op("shli", e.int_op("shrui", hi, e.constant(12, "i64"), "i64"),
                                     e.constant(32, "i64"), "i64"), lo, "i64")
        odd = e.int_op("addi", e.int_op("shli", m, e.constant(1, "i64"), "i64"), e.constant(1, "i64"), "i64")
        return e.mul(e.cast("uitofp", odd, "i64", "f64"), e.constant(2.0**-53, "f64"), "f64")
    raise ValueError(f"uniforms of {dtype} have no native conversion")
