"""GPU kernels of elementwise bodies: grid-stride loops over the output's elements.

The body is the CPU's (:class:`~tensorir.codegen.cpu.lower_elementwise.ElementwiseBody`, whose
ops come from ``scalar_ops.py`` and ``approx.py``): one definition per op, emitted here into a
``gpu.func`` instead of a ``func.func``.

The kernel ABI (what the launch parameter block holds, in order): the operands' device
addresses, the outputs' device addresses, then ``i64`` sizes. Three variants:

- **flat** (``n``): every operand is full (C-contiguous with the output's shape) or a single
  element broadcast everywhere (``scalar_operands``); thread ``t`` of ``T`` computes elements
  ``t, t + T, ...`` (consecutive threads touch consecutive elements: coalesced).
- **vector** (``n``): the flat kernel reading and writing ``vector<L x T>`` at a time
  (``L = vector_lanes(...)``: 4 for float32, 2 for float64), for arrays whose addresses are
  ``L * itemsize``-aligned (the runtime checks; :func:`vector_alignment`); the ``n % L`` last
  elements take a scalar loop.
- **strided** (``n``, the output's ``rank`` dims, then per operand ``rank`` element strides):
  operands of any layout and broadcasting: a broadcast dim (or a missing leading one) has stride
  0; the outputs are C-contiguous. Each element's index is split into its coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.scalar_ops import memory_type
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, loop

__all__ = ["flat_kernel", "strided_kernel", "vector_alignment", "vector_kernel", "vector_lanes"]

_ITEMSIZE = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "f32": 4, "f64": 8}
#: The widest access a thread makes in one instruction (ld.global.v4.f32, ld.global.v2.f64).
_VECTOR_BYTES = 16
_MAX_LANES = 4


def _params(body: ElementwiseBody, sizes: int) -> list[Param]:
    return ([Param("in")] * len(body.input_dtypes) + [Param("out")] * len(body.output_dtypes)
            + [Param("size")] * sizes)


def flat_kernel(name: str, body: ElementwiseBody, scalar_operands: Sequence[bool]) -> str:
    """The flat kernel (see the module docstring); its one size is the element count ``n``."""
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    kb = GpuKernelBuilder(name, _params(body, 1))
    first, stride = kb.thread_range()
    n = kb.args[n_in + n_out]
    lines: list[str] = []
    values = [kb.load(kb.preamble, kb.args[k], "%zero", dtype) if scalar_operands[k]
              else kb.load(lines, kb.args[k], "%i", dtype) for k, dtype in enumerate(body.input_dtypes)]
    results = kb.emit_into(lines, body.emit, kb.e, values)
    for k, (value, dtype) in enumerate(zip(results, body.output_dtypes)):
        kb.store(lines, value, kb.args[n_in + k], "%i", dtype)
    return kb.render(loop("%i", first, n, stride, lines))


def vector_lanes(dtypes: Sequence[str]) -> int:
    """Elements per vector access for arrays of these dtypes: 16 bytes of the widest, at most 4."""
    widest = max(_ITEMSIZE[memory_type(d)] for d in dtypes)
    return max(1, min(_MAX_LANES, _VECTOR_BYTES // widest))


def vector_alignment(body: ElementwiseBody, scalar_operands: Sequence[bool]) -> list[int]:
    """Per array (operands, then outputs), the byte alignment :func:`vector_kernel` needs of its
    address (1 for scalar operands, which are read one element)."""
    full = [d for d, s in zip(body.input_dtypes, scalar_operands) if not s] + list(body.output_dtypes)
    lanes = vector_lanes(full)
    dtypes = [*body.input_dtypes, *body.output_dtypes]
    scalars = [*scalar_operands, *([False] * len(body.output_dtypes))]
    return [1 if s else lanes * _ITEMSIZE[memory_type(d)] for d, s in zip(dtypes, scalars)]


def _vector_load(kb: GpuKernelBuilder, lines: list[str], base: str, group: str, dtype: str, lanes: int,
                 align: int) -> list[str]:
    """Elements ``group * lanes ...`` of ``base``, one aligned vector load, as ``lanes`` registers."""
    e, mem = kb.e, memory_type(dtype)
    vtype = f"vector<{lanes}x{mem}>"
    addr, vec = e.fresh("va"), e.fresh("vv")
    lines.append(f"{addr} = llvm.getelementptr inbounds {base}[{group}] : (!llvm.ptr, i64) -> !llvm.ptr, {vtype}")
    lines.append(f"{vec} = llvm.load {addr} {{alignment = {align} : i64}} : !llvm.ptr -> {vtype}")
    out = []
    for lane in range(lanes):
        value = e.fresh("ve")
        lines.append(f"{value} = llvm.extractelement {vec}[{e.constant(lane, 'i32')} : i32] : {vtype}")
        if dtype == "bool":
            value = kb.emit_into(lines, e.cmpi, "ne", value, e.constant(0, "i8"), "i8")
        out.append(value)
    return out


def _vector_store(kb: GpuKernelBuilder, lines: list[str], values: Sequence[str], base: str, group: str, dtype: str,
                  align: int) -> None:
    e, mem = kb.e, memory_type(dtype)
    vtype = f"vector<{len(values)}x{mem}>"
    vec = e.fresh("vs")
    lines.append(f"{vec} = llvm.mlir.poison : {vtype}")
    for lane, value in enumerate(values):
        if dtype == "bool":
            value = kb.emit_into(lines, e.cast, "extui", value, "i1", "i8")
        nxt = e.fresh("vs")
        lines.append(f"{nxt} = llvm.insertelement {value}, {vec}[{e.constant(lane, 'i32')} : i32] : {vtype}")
        vec = nxt
    addr = e.fresh("va")
    lines.append(f"{addr} = llvm.getelementptr inbounds {base}[{group}] : (!llvm.ptr, i64) -> !llvm.ptr, {vtype}")
    lines.append(f"llvm.store {vec}, {addr} {{alignment = {align} : i64}} : {vtype}, !llvm.ptr")


def vector_kernel(name: str, body: ElementwiseBody, scalar_operands: Sequence[bool]) -> str:
    """The vector kernel (see the module docstring): the flat kernel's arguments, aligned arrays."""
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    align = vector_alignment(body, scalar_operands)
    full = [d for d, s in zip(body.input_dtypes, scalar_operands) if not s] + list(body.output_dtypes)
    lanes = vector_lanes(full)
    kb = GpuKernelBuilder(name, _params(body, 1))
    e, pre = kb.e, kb.preamble
    first, stride = kb.thread_range()
    n = kb.args[n_in + n_out]
    scalars = {k: kb.load(pre, kb.args[k], "%zero", d) for k, d in enumerate(body.input_dtypes) if scalar_operands[k]}
    width = e.constant(lanes, "i64")
    groups = kb.emit_into(pre, e.op, "arith.divsi", [n, width], "i64")
    done = kb.emit_into(pre, e.int_op, "muli", groups, width, "i64")
    # Groups of `lanes` elements: one vector access per array, the body once per lane.
    vector_lines: list[str] = []
    per_lane: list[list[str]] = [[] for _ in range(lanes)]
    for k, dtype in enumerate(body.input_dtypes):
        if k in scalars:
            for lane_values in per_lane:
                lane_values.append(scalars[k])
        else:
            for lane, value in enumerate(_vector_load(kb, vector_lines, kb.args[k], "%g", dtype, lanes, align[k])):
                per_lane[lane].append(value)
    lane_results = [kb.emit_into(vector_lines, body.emit, e, values) for values in per_lane]
    for k, dtype in enumerate(body.output_dtypes):
        _vector_store(kb, vector_lines, [r[k] for r in lane_results], kb.args[n_in + k], "%g", dtype, align[n_in + k])
    # The last n % lanes elements, one per thread.
    tail: list[str] = []
    values = [scalars[k] if k in scalars else kb.load(tail, kb.args[k], "%i", d)
              for k, d in enumerate(body.input_dtypes)]
    for k, (value, dtype) in enumerate(zip(kb.emit_into(tail, body.emit, e, values), body.output_dtypes)):
        kb.store(tail, value, kb.args[n_in + k], "%i", dtype)
    tail_first = kb.emit_into(pre, e.int_op, "addi", done, first, "i64")
    text = loop("%g", first, groups, stride, vector_lines) + loop("%i", tail_first, n, stride, tail)
    return kb.render(text)


def strided_kernel(name: str, body: ElementwiseBody, rank: int) -> str:
    """The strided kernel for outputs of rank ``rank`` >= 1 (see the module docstring); sizes:
    ``n``, the output's dims, then each operand's element strides along them."""
    if rank < 1:
        raise ValueError("the strided kernel is for outputs of rank >= 1; use the flat kernel")
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    kb = GpuKernelBuilder(name, _params(body, 1 + rank + n_in * rank))
    e = kb.e
    first, stride = kb.thread_range()
    sizes = kb.args[n_in + n_out:]
    n, dims = sizes[0], sizes[1:1 + rank]
    strides = [sizes[1 + rank + k * rank:1 + rank + (k + 1) * rank] for k in range(n_in)]
    lines: list[str] = []
    # Coordinates of element %i, last dim fastest (C order).
    coordinate = [""] * rank
    rest = "%i"
    for d in range(rank - 1, 0, -1):
        coordinate[d] = kb.emit_into(lines, e.op, "arith.remsi", [rest, dims[d]], "i64")
        rest = kb.emit_into(lines, e.op, "arith.divsi", [rest, dims[d]], "i64")
    coordinate[0] = rest
    values = []
    for k, dtype in enumerate(body.input_dtypes):
        offset = "%zero"
        for d in range(rank):
            term = kb.emit_into(lines, e.int_op, "muli", coordinate[d], strides[k][d], "i64")
            offset = kb.emit_into(lines, e.int_op, "addi", offset, term, "i64")
        values.append(kb.load(lines, kb.args[k], offset, dtype))
    results = kb.emit_into(lines, body.emit, e, values)
    for k, (value, dtype) in enumerate(zip(results, body.output_dtypes)):
        kb.store(lines, value, kb.args[n_in + k], "%i", dtype)
    return kb.render(loop("%i", first, n, stride, lines))
