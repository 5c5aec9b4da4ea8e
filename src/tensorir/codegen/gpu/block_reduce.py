"""Reductions across the threads of a block: warp butterflies (``gpu.shuffle xor``) and a
workgroup buffer that holds one partial result per warp.

The block's size must be a multiple of the warp (32) and at most 1024 threads (the launch
configuration guarantees both). Every thread of the block must reach a block reduction (it
contains barriers), and every thread gets the block's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder

__all__ = ["WARP", "block_reduce", "block_reduce_tuple", "warp_reduce", "warp_reduce_tuple"]

WARP = 32
_MAX_WARPS = 1024 // WARP
#: Types ``gpu.shuffle`` takes as they are; narrower integers travel widened to i32 (64-bit ones
#: are split in two by the NVVM lowering).
_SHUFFLED = ("i32", "i64", "f32", "f64")

#: ``combine(acc, value) -> new acc``, appending its ops to the builder's emitter lines.
Combine = Callable[[str, str], str]
#: The same for tuples of values combined together: ``combine(accs, values) -> new accs``.
CombineTuple = Callable[[list[str], list[str]], list[str]]


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
    (out,) = warp_reduce_tuple(kb, lines, [value], [t], lambda a, b: [combine(a[0], b[0])])
    return out


def warp_reduce_tuple(kb: GpuKernelBuilder, lines: list[str], values: Sequence[str], types: Sequence[str],
                      combine: CombineTuple) -> list[str]:
    """:func:`warp_reduce` of a tuple of values combined together (e.g. a max and its index)."""
    values = list(values)
    offset = WARP // 2
    while offset:
        others = [_shuffle_xor(kb, lines, v, t, offset) for v, t in zip(values, types)]
        values = kb.emit_into(lines, combine, values, others)
        offset //= 2
    return values


def block_reduce(kb: GpuKernelBuilder, lines: list[str], value: str, t: str, identity: str,
                 combine: Combine) -> str:
    """The block's combined ``value`` in every thread (``identity``: the reduction's neutral value).

    Each warp reduces its lanes; lane 0 of each writes its warp's result to a workgroup slot;
    after a barrier every warp reads all the slots (a lane past the last warp reads the identity)
    and reduces them again, so every thread ends with the same result and no second broadcast
    is needed. The trailing barrier lets the next block reduction reuse the slots."""
    (out,) = block_reduce_tuple(kb, lines, [value], [t], [identity], lambda a, b: [combine(a[0], b[0])])
    return out


def block_reduce_tuple(kb: GpuKernelBuilder, lines: list[str], values: Sequence[str], types: Sequence[str],
                       identities: Sequence[str], combine: CombineTuple) -> list[str]:
    """:func:`block_reduce` of a tuple of values combined together (one workgroup buffer each)."""
    e = kb.e
    _block, _grid, thread, size = kb.block_values()
    carriers = [_carrier(t) for t in types]
    slots = [kb.shared_buffer(c, _MAX_WARPS) for c in carriers]
    memrefs = [f"memref<{_MAX_WARPS}x{c}, #gpu.address_space<workgroup>>" for c in carriers]
    warp_values = warp_reduce_tuple(kb, lines, values, types, combine)
    lane = kb.emit_into(lines, e.op, "arith.remui", [thread, e.constant(WARP, "i64")], "i64")
    warp = kb.emit_into(lines, e.op, "arith.divui", [thread, e.constant(WARP, "i64")], "i64")
    is_first = kb.emit_into(lines, e.cmpi, "eq", lane, "%zero", "i64")
    slot = e.fresh("slot")
    lines.append(f"{slot} = arith.index_cast {warp} : i64 to index")
    write: list[str] = []
    for value, t, carrier, buffer, memref in zip(warp_values, types, carriers, slots, memrefs):
        stored = value if carrier == t else kb.emit_into(write, e.cast, "extui", value, t, carrier)
        write.append(f"memref.store {stored}, {buffer}[{slot}] : {memref}")
    lines += [f"scf.if {is_first} {{"] + ["  " + line for line in write] + ["}"]
    lines.append("gpu.barrier")
    warps = kb.emit_into(lines, e.op, "arith.divui", [size, e.constant(WARP, "i64")], "i64")
    has_slot = kb.emit_into(lines, e.cmpi, "ult", lane, warps, "i64")
    lane_index = e.fresh("slot")
    lines.append(f"{lane_index} = arith.index_cast {lane} : i64 to index")
    partials = [e.fresh("part") for _ in values]
    read: list[str] = []
    narrowed = []
    for t, carrier, buffer, memref in zip(types, carriers, slots, memrefs):
        loaded = e.fresh("part")
        read.append(f"{loaded} = memref.load {buffer}[{lane_index}] : {memref}")
        narrowed.append(loaded if carrier == t else kb.emit_into(read, e.cast, "trunci", loaded, carrier, t))
    all_types = ", ".join(types)
    lines += [f"{', '.join(partials)} = scf.if {has_slot} -> ({all_types}) {{"] + ["  " + line for line in read]
    lines += [f"  scf.yield {', '.join(narrowed)} : {all_types}", "} else {",
              f"  scf.yield {', '.join(identities)} : {all_types}", "}"]
    totals = warp_reduce_tuple(kb, lines, partials, types, combine)
    lines.append("gpu.barrier")
    return totals
