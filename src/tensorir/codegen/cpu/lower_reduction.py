"""Lowering of reductions (with an optional fused elementwise body) to kernels.

Two shapes of reduction cover every axis set once the input is laid out C-contiguous with the
reduced axes together (the runtime transposes when they are not):

- **rows** (reduced axes are a suffix): the input is ``rows x cols``; iteration ``r`` reduces the
  elements ``[r*cols, min(r*cols + cols, total))`` into ``out[r]``. A full reduction uses the same
  kernel with one row per thread and combines the partial results afterwards.
- **columns** (reduced axes are a prefix): the input is ``rows x cols``; iterations are columns;
  for each row the inner loop over the iteration's columns updates ``out[j]``. The inner loop is
  contiguous, so it vectorizes without reassociation.

Float sums and products carry ``fastmath<reassoc>`` so LLVM vectorizes them (the order differs
from NumPy's pairwise summation by rounding only). ``mean`` is a sum; the runtime divides.
Arguments (ABI of :mod:`.lower_elementwise`): operand arrays, the output array, then sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, KernelBuilder
from tensorir.codegen.cpu.mlir_text import KernelEmitter
from tensorir.codegen.cpu.scalar_ops import NotLowerable, cast_scalar, dtype_kind, mlir_type

__all__ = ["NATIVE_REDUCTIONS", "accumulator_dtype", "columns_kernel", "combine", "reduction_identity", "rows_kernel"]

#: reductions with a native lowering (``tir.mean`` is a sum divided by the count).
NATIVE_REDUCTIONS = ("tir.sum", "tir.prod", "tir.max", "tir.min", "tir.mean", "tir.all", "tir.any")


def accumulator_dtype(reduction: str, value_dtype: str, out_dtype: str) -> str:
    """The dtype values are converted to before they are combined (the result's dtype)."""
    if reduction not in NATIVE_REDUCTIONS:
        raise NotLowerable(f"{reduction} has no native lowering")
    mlir_type(out_dtype)
    return out_dtype


def reduction_identity(reduction: str, dtype: str) -> float | int | bool:
    """The neutral value of ``reduction`` in ``dtype`` (what an empty row reduces to)."""
    kind = dtype_kind(dtype)
    bits = 1 if dtype == "bool" else int(mlir_type(dtype)[1:])
    if reduction in ("tir.sum", "tir.mean", "tir.any"):
        return 0
    if reduction in ("tir.prod", "tir.all"):
        return 1
    largest = reduction == "tir.min"
    if kind == "f":
        return float("inf") if largest else float("-inf")
    if kind == "b":
        return 1 if largest else 0
    if kind == "u":
        return -1 if largest else 0  # all ones: the largest unsigned value
    return (1 << (bits - 1)) - 1 if largest else -(1 << (bits - 1))


def combine(e: KernelEmitter, reduction: str, acc: str, value: str, dtype: str) -> str:
    """``acc (op) value`` in the accumulator dtype."""
    t, kind = mlir_type(dtype), dtype_kind(dtype)
    if reduction in ("tir.all", "tir.any"):
        return e.logical("andi" if reduction == "tir.all" else "ori", acc, value, t)
    if reduction in ("tir.sum", "tir.mean"):
        if kind == "f":
            return e.op("arith.addf", [acc, value], t, attributes="fastmath<reassoc>")
        return e.op("arith.ori" if kind == "b" else "arith.addi", [acc, value], t)
    if reduction == "tir.prod":
        if kind == "f":
            return e.op("arith.mulf", [acc, value], t, attributes="fastmath<reassoc>")
        return e.op("arith.andi" if kind == "b" else "arith.muli", [acc, value], t)
    largest = reduction == "tir.max"
    if kind == "f":
        return e.op("arith.maximumf" if largest else "arith.minimumf", [acc, value], t)
    if kind == "b":
        return e.logical("ori" if largest else "andi", acc, value, t)
    return e.op(("arith.max" if largest else "arith.min") + ("si" if kind == "s" else "ui"), [acc, value], t)


def _load_values(kb: KernelBuilder, target: list[str], body: ElementwiseBody, bases: Sequence[str],
                 scalars: Sequence[bool], index: str) -> list[str]:
    values = []
    for k, dtype in enumerate(body.input_dtypes):
        if scalars[k]:
            values.append(kb.load(kb.preamble, bases[k], "%zero", dtype))
        else:
            values.append(kb.load(target, bases[k], index, dtype))
    return values


def rows_kernel(name: str, body: ElementwiseBody, reduction: str, out_dtype: str, scalars: Sequence[bool]) -> str:
    """Reduce each row of the body's (single) value; args: operands, output, cols, total."""
    acc_dtype = accumulator_dtype(reduction, body.output_dtypes[0], out_dtype)
    n_in = len(body.input_dtypes)
    kb = KernelBuilder(name, n_in + 3)
    e, pre = kb.e, kb.preamble
    bases = [kb.array_field(pre, kb.args[k], "data") for k in range(n_in + 1)]
    cols, total = kb.args[n_in + 1], kb.args[n_in + 2]
    t = mlir_type(acc_dtype)
    init = e.constant(reduction_identity(reduction, acc_dtype), t)
    outer: list[str] = []
    lo = kb.emit_into(outer, e.int_op, "muli", "%r", cols, "i64")
    hi = kb.emit_into(outer, e.op, "arith.minsi", [kb.emit_into(outer, e.int_op, "addi", lo, cols, "i64"), total],
                      "i64")
    loop: list[str] = []
    values = _load_values(kb, loop, body, bases, scalars, "%i")
    (value,) = kb.emit_into(loop, body.emit, e, values)
    value = kb.emit_into(loop, cast_scalar, e, value, body.output_dtypes[0], acc_dtype)
    new = kb.emit_into(loop, combine, e, reduction, "%acc", value, acc_dtype)
    store: list[str] = []
    kb.store(store, "%sum", bases[n_in], "%r", acc_dtype)
    text = ["scf.for %r = %start to %end step %one : i64 {"] + ["  " + line for line in outer]
    text += [f"  %sum = scf.for %i = {lo} to {hi} step %one iter_args(%acc = {init}) -> ({t}) : i64 {{"]
    text += ["    " + line for line in loop] + [f"    scf.yield {new} : {t}", "  }"]
    text += ["  " + line for line in store] + ["}"]
    return kb.render(text)


def columns_kernel(name: str, body: ElementwiseBody, reduction: str, out_dtype: str, scalars: Sequence[bool]) -> str:
    """Reduce over rows for the iteration's columns; args: operands, output, rows, cols."""
    acc_dtype = accumulator_dtype(reduction, body.output_dtypes[0], out_dtype)
    n_in = len(body.input_dtypes)
    kb = KernelBuilder(name, n_in + 3)
    e, pre = kb.e, kb.preamble
    bases = [kb.array_field(pre, kb.args[k], "data") for k in range(n_in + 1)]
    rows, cols = kb.args[n_in + 1], kb.args[n_in + 2]
    t = mlir_type(acc_dtype)
    init_loop: list[str] = []
    kb.store(init_loop, e.constant(reduction_identity(reduction, acc_dtype), t), bases[n_in], "%j", acc_dtype)
    row: list[str] = []
    base_index = kb.emit_into(row, e.int_op, "muli", "%r", cols, "i64")
    loop: list[str] = []
    index = kb.emit_into(loop, e.int_op, "addi", base_index, "%j", "i64")
    values = _load_values(kb, loop, body, bases, scalars, index)
    (value,) = kb.emit_into(loop, body.emit, e, values)
    value = kb.emit_into(loop, cast_scalar, e, value, body.output_dtypes[0], acc_dtype)
    acc = kb.load(loop, bases[n_in], "%j", acc_dtype)
    new = kb.emit_into(loop, combine, e, reduction, acc, value, acc_dtype)
    kb.store(loop, new, bases[n_in], "%j", acc_dtype)
    text = ["scf.for %j = %start to %end step %one : i64 {"] + ["  " + line for line in init_loop] + ["}"]
    text += [f"scf.for %r = %zero to {rows} step %one : i64 {{"] + ["  " + line for line in row]
    text += ["  scf.for %j = %start to %end step %one : i64 {"] + ["    " + line for line in loop]
    text += ["  }", "}"]
    return kb.render(text)
