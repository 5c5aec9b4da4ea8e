"""The host's vector registers, which the register-tiled kernels size their tiles by.

The products with their own kernels (small_gemm, panel_gemm, lower_skinny, direct_conv) keep a
tile of the output in vector registers while they run through the inner dimension, so their
speed is bounded by the vector width times the number of accumulators a tile keeps. On AVX2 that
is 8 float32 lanes and 16 registers; AVX-512 doubles both (16 lanes, 32 registers), and tiles
sized for AVX2 left half of such a core unused (LLVM keeps an explicit ``vector<8xf32>`` at
256 bits). This module is the one place that reads the host, once per process; each kernel
family keeps its tile shapes per register count in its own table.

``TENSORIR_VECTOR_BITS=256`` sizes the tiles for AVX2 on an AVX-512 host (to compare the two; a
slow test runs the kernels' tests that way); a value above the host's is refused.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

__all__ = ["VECTOR_BITS_VARIABLE", "VectorRegisters", "host_registers", "host_vector_bits", "parse_vector_bits"]

VECTOR_BITS_VARIABLE = "TENSORIR_VECTOR_BITS"
#: Register files by vector width: AVX2 (and narrower hosts, where LLVM splits 256-bit vectors)
#: and AVX-512.
_REGISTERS_BY_BITS = {256: 16, 512: 32}
_ITEM_BITS = {"float32": 32, "float64": 64}


@dataclass(frozen=True)
class VectorRegisters:
    """A vector width in bits and the number of vector registers of that width."""

    bits: int
    count: int

    def lanes(self, dtype: str) -> int:
        """Elements of ``dtype`` per vector."""
        return self.bits // _ITEM_BITS[dtype]


def _cpu_flags() -> set[str]:
    """The CPU's feature flags: /proc/cpuinfo on Linux (no LLVM import needed), else LLVM's view."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        import llvmlite.binding as llvm

        return {name for name, on in llvm.get_host_cpu_features().items() if on}
    except Exception:  # noqa: BLE001 - no way to ask: the AVX2 tiles are correct everywhere
        return set()


def parse_vector_bits(text: str, host_bits: int) -> int:
    """``TENSORIR_VECTOR_BITS``'s value checked: 256 or 512, at most ``host_bits``."""
    allowed = [bits for bits in _REGISTERS_BY_BITS if bits <= host_bits]
    try:
        bits = int(str(text).strip())
    except ValueError:
        bits = 0
    if bits not in allowed:
        raise ValueError(f"{VECTOR_BITS_VARIABLE}={text!r}: the register tiles' vector width in bits must be one "
                         f"of {', '.join(map(str, allowed))} on this host (unset it to use the widest)")
    return bits


@functools.cache
def host_vector_bits() -> int:
    """The widest float vectors of this host the tiles may use: 512 with AVX-512, else 256."""
    flags = _cpu_flags() if platform.machine().lower() in ("x86_64", "amd64") else set()
    return 512 if "avx512f" in flags else 256


@functools.cache
def host_registers() -> VectorRegisters:
    """The vectors the register-tiled kernels use on this host (see the module docstring)."""
    text = os.environ.get(VECTOR_BITS_VARIABLE)
    bits = parse_vector_bits(text, host_vector_bits()) if text else host_vector_bits()
    return VectorRegisters(bits, _REGISTERS_BY_BITS[bits])
