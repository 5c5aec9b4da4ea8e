"""Reductions across the threads of a block: warp butterflies (``gpu.shuffle xor``) and a
workgroup buffer that holds one partial result per warp.

The block's size must be a multiple of the warp (32) and at most 1024 threads (the launch
configuration guarantees both). Every thread of the block must reach a block reduction (it
contains barriers), and every thread gets the block's result.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder

__all__ = ["WARP", "block_reduce", "warp_reduce"]

WARP = 32
_MAX_WARPS = 1024 // WARP
#: Types ``gpu.shuffle`` takes as they are; narrower integers travel widened to i32 (64-bit ones
#: are split in two by the NVVM lowering).
_SHUFFLED = ("i32", "i64", "f32", "f64")

#: ``combine(acc, value) -> new acc``, appending its ops to the builder's emitter lines.
Combine = Callable[[str, str], str]


def _carrier(t: str) -> str:
    return t if t in _SHUFFLED else "i32"


def _shuffle_xor(kb: GpuKernelBuilder, lines: list[str], value: str, t: str, offset: int) -> str:
    e = kb.e
    carrier = _carrier(t)
    wide = value if carrier == t else kb.emit_into(lines, e.cast, "extui", value, t, carrier)
    moved, valid = e.fresh("sh"), e.fresh("ok")
    lines.append(f"{moved}, {valid} = gpu.shuffle xor {wide}, {e.constant(offset, 'i32')}, "
                 f"{e.constant(WARP, 'i32')} : {carrier}")
    return moved if carrier == t else kb.emit_into(lines, e.cast, "trunci", moved, carrier, t)


def warp_reduce(kb: GpuKernelBuilder, lines: list[str], value: str, t: str, combine: Combine) -> str:
    """The warp's combined ``value`` in every lane: a butterfly over offsets 16, 8, 4, 2, 1."""
    offset = WARP // 2
    while offset:
        other = _shuffle_xor(kb, lines, value, t, offset)
        value = kb.emit_into(lines, combine, value, other)
        offset //= 2
    return value


def block_reduce(kb: GpuKernelBuilder, lines: list[str], value: str, t: str, identity: str,
                 combine: Combine) -> str:
    """The block's combined ``value`` in every thread (``identity``: the reduction's neutral value).

    Each warp reduces its lanes; lane 0 of each writes its warp's result to a workgroup slot;
    after a barrier every warp reads all the slots (a lane past the last warp reads the identity)
    and reduces them again, so every thread ends with the same result and no second broadcast
    is needed. The trailing barrier lets the next block reduction reuse the slots."""
    e = kb.e
    _block, _grid, thread, size = kb.block_values()
    carrier = _carrier(t)
    slots = kb.shared_buffer(carrier, _MAX_WARPS)
    memref = f"memref<{_MAX_WARPS}x{carrier}, #gpu.address_space<workgroup>>"
    warp_value = warp_reduce(kb, lines, value, t, combine)
    lane = kb.emit_into(lines, e.op, "arith.remui", [thread, e.constant(WARP, "i64")], "i64")
    warp = kb.emit_into(lines, e.op, "arith.divui", [thread, e.constant(WARP, "i64")], "i64")
    is_first = kb.emit_into(lines, e.cmpi, "eq", lane, "%zero", "i64")
    slot = e.fresh("slot")
    lines.append(f"{slot} = arith.index_cast {warp} : i64 to index")
    stored = warp_value if carrier == t else kb.emit_into(lines, e.cast, "extui", warp_value, t, carrier)
    lines += [f"scf.if {is_first} {{", f"  memref.store {stored}, {slots}[{slot}] : {memref}", "}"]
    lines.append("gpu.barrier")
    warps = kb.emit_into(lines, e.op, "arith.divui", [size, e.constant(WARP, "i64")], "i64")
    has_slot = kb.emit_into(lines, e.cmpi, "ult", lane, warps, "i64")
    lane_index, loaded, partial = e.fresh("slot"), e.fresh("part"), e.fresh("part")
    lines.append(f"{lane_index} = arith.index_cast {lane} : i64 to index")
    lines += [f"{partial} = scf.if {has_slot} -> ({t}) {{",
              f"  {loaded} = memref.load {slots}[{lane_index}] : {memref}"]
    read: list[str] = []
    narrowed = loaded if carrier == t else kb.emit_into(read, e.cast, "trunci", loaded, carrier, t)
    lines += ["  " + line for line in read]
    lines += [f"  scf.yield {narrowed} : {t}", "} else {", f"  scf.yield {identity} : {t}", "}"]
    total = warp_reduce(kb, lines, partial, t, combine)
    lines.append("gpu.barrier")
    return total
