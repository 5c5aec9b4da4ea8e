"""GPU kernels of reductions (with an optional fused elementwise body), the two shapes the CPU has.

As on the CPU (``codegen/cpu/lower_reduction.py``, whose identities and combining ops these
kernels share), the input is laid out ``rows x cols`` with the reduced axes together; the
runtime transposes when they are not. ``mean`` is a sum; the runtime divides.

- **rows** (reduced axes are a suffix): one block per row (a grid-stride loop over rows when
  there are more rows than blocks); each thread combines the elements ``t, t + B, ...`` of the
  row (coalesced), then the block combines its threads (:func:`.block_reduce.block_reduce`) and
  thread 0 stores ``out[r]``.
- **columns** (reduced axes are a prefix): one thread per column (grid-stride), each combining
  its column down the rows; consecutive threads read consecutive elements of a row.

Arguments: operand addresses, the output address, then ``rows`` and ``cols``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_reduction import accumulator_dtype, combine, reduction_identity
from tensorir.codegen.cpu.scalar_ops import cast_scalar, mlir_type
from tensorir.codegen.gpu.block_reduce import block_reduce
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, loop, when

__all__ = ["columns_kernel", "rows_kernel"]


def _setup(name: str, body: ElementwiseBody, reduction: str, out_dtype: str
           ) -> tuple[GpuKernelBuilder, str, str, tuple[str, str, str]]:
    """The kernel's builder, the accumulator's dtype, the reduction's identity (an SSA constant)
    and the output, rows and cols arguments."""
    acc_dtype = accumulator_dtype(reduction, body.output_dtypes[0], out_dtype)
    n_in = len(body.input_dtypes)
    kb = GpuKernelBuilder(name, [Param("in")] * n_in + [Param("out")] + [Param("size")] * 2)
    identity = kb.e.constant(reduction_identity(reduction, acc_dtype), mlir_type(acc_dtype))
    return kb, acc_dtype, identity, (kb.args[n_in], kb.args[n_in + 1], kb.args[n_in + 2])


def _element(kb: GpuKernelBuilder, lines: list[str], body: ElementwiseBody, scalars: Sequence[bool], index: str,
             acc_dtype: str) -> str:
    """The body's value at element ``index``, in the accumulator's dtype."""
    values = [kb.load(kb.preamble, kb.args[k], "%zero", d) if scalars[k] else kb.load(lines, kb.args[k], index, d)
              for k, d in enumerate(body.input_dtypes)]
    (value,) = kb.emit_into(lines, body.emit, kb.e, values)
    return kb.emit_into(lines, cast_scalar, kb.e, value, body.output_dtypes[0], acc_dtype)


def rows_kernel(name: str, body: ElementwiseBody, reduction: str, out_dtype: str, scalars: Sequence[bool]) -> str:
    """Reduce each row of the body's (single) value into ``out[r]`` (see the module docstring)."""
    kb, acc_dtype, identity, (out, rows, cols) = _setup(name, body, reduction, out_dtype)
    e, t = kb.e, mlir_type(acc_dtype)
    block, grid, thread, size = kb.block_values()
    row: list[str] = []
    lo = kb.emit_into(row, e.int_op, "muli", "%r", cols, "i64")
    hi = kb.emit_into(row, e.int_op, "addi", lo, cols, "i64")
    first = kb.emit_into(row, e.int_op, "addi", lo, thread, "i64")
    inner: list[str] = []
    value = _element(kb, inner, body, scalars, "%i", acc_dtype)
    new = kb.emit_into(inner, combine, e, reduction, "%acc", value, acc_dtype)
    row += [f"%part = scf.for %i = {first} to {hi} step {size} iter_args(%acc = {identity}) -> ({t}) : i64 {{"]
    row += ["  " + line for line in inner] + [f"  scf.yield {new} : {t}", "}"]
    total = block_reduce(kb, row, "%part", t, identity, lambda a, b: combine(e, reduction, a, b, acc_dtype))
    store: list[str] = []
    kb.store(store, total, out, "%r", acc_dtype)
    row += when(kb.emit_into(row, e.cmpi, "eq", thread, "%zero", "i64"), store)
    return kb.render(loop("%r", block, rows, grid, row))


def columns_kernel(name: str, body: ElementwiseBody, reduction: str, out_dtype: str, scalars: Sequence[bool]) -> str:
    """Reduce each column of the body's (single) value into ``out[j]`` (see the module docstring)."""
    kb, acc_dtype, identity, (out, rows, cols) = _setup(name, body, reduction, out_dtype)
    e, t = kb.e, mlir_type(acc_dtype)
    first, stride = kb.thread_range()
    column: list[str] = []
    inner: list[str] = []
    index = kb.emit_into(inner, e.int_op, "addi", kb.emit_into(inner, e.int_op, "muli", "%r", cols, "i64"), "%j",
                         "i64")
    value = _element(kb, inner, body, scalars, index, acc_dtype)
    new = kb.emit_into(inner, combine, e, reduction, "%acc", value, acc_dtype)
    column += [f"%total = scf.for %r = %zero to {rows} step %one iter_args(%acc = {identity}) -> ({t}) : i64 {{"]
    column += ["  " + line for line in inner] + [f"  scf.yield {new} : {t}", "}"]
    kb.store(column, "%total", out, "%j", acc_dtype)
    return kb.render(loop("%j", first, cols, stride, column))
