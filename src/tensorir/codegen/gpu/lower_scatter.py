"""GPU kernels of label gathers and of ``inc_subtensor`` with an index vector on the first axis,
where repeated indices accumulate (NumPy's ``np.add.at(x, idx, y)``): atomic adds.

Both see the indexed array as ``rows x cols`` (the first axis, then the others flattened) and
the update or the gathered values as ``n x cols``. Thread ``t`` handles elements ``t, t + T, ...``
of the ``n x cols`` side (coalesced). An index is checked as the row kernels check labels: a
negative one counts from the end (NumPy), one still outside ``[0, rows)`` is replaced by 0 and
its position ``i`` is stored in ``status[0]``, which the runtime sets to -1 before the launch
and reads after it (so nothing outside the array is touched, and the error names the index).

Arguments of :func:`scatter_add_kernel`: the destination (updated in place), the updates, the
indices, ``status``, then ``n``, ``cols`` and ``rows``. :func:`gather_rows_kernel`: the source,
the result, the indices, ``status``, then the same sizes.
"""

from __future__ import annotations

from tensorir.codegen.cpu.scalar_ops import NotLowerable, cast_scalar, dtype_kind, mlir_type
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, loop, when

__all__ = ["gather_rows_kernel", "scatter_add_kernel"]

#: ``llvm.atomicrmw`` operations by dtype kind: NVPTX has global atomic adds of these widths.
_ATOMIC_ADD = {"f": "fadd", "s": "add", "u": "add"}
_ATOMIC_TYPES = ("f32", "f64", "i32", "i64")


def _checked_row(kb: GpuKernelBuilder, lines: list[str], indices: str, status: str, index_dtype: str,
                 rows: str) -> str:
    """Index ``%k`` as a row in ``[0, rows)`` (see the module docstring)."""
    e = kb.e
    raw = kb.emit_into(lines, cast_scalar, e, kb.load(lines, indices, "%k", index_dtype), index_dtype, "int64")
    negative = kb.emit_into(lines, e.cmpi, "slt", raw, "%zero", "i64")
    wrapped = kb.emit_into(lines, e.select, negative, kb.emit_into(lines, e.int_op, "addi", raw, rows, "i64"), raw,
                           "i64")
    inside = kb.emit_into(lines, e.cmpi, "ult", wrapped, rows, "i64")  # unsigned: still negative is huge
    outside = kb.emit_into(lines, e.int_op, "xori", inside, e.constant(1, "i1"), "i1")
    note: list[str] = []
    kb.store(note, "%k", status, e.constant(0, "i64"), "int64")
    lines += when(outside, note)
    return kb.emit_into(lines, e.select, inside, wrapped, "%zero", "i64")


def _index_kernel(name: str, dtype: str, index_dtype: str, scatter: bool) -> str:
    if dtype_kind(index_dtype) not in ("s", "u"):
        raise NotLowerable(f"indices of {index_dtype}")
    first_kind = "out" if scatter else "in"  # the destination is read and written by the atomics
    kb = GpuKernelBuilder(name, [Param(first_kind), Param("in" if scatter else "out"), Param("in"), Param("out")]
                          + [Param("size")] * 3)
    e = kb.e
    first, second, indices, status, n, cols, rows = kb.args
    first_index, stride = kb.thread_range()
    total = kb.emit_into(kb.preamble, e.int_op, "muli", n, cols, "i64")
    lines = ["%k = arith.divsi %e, " + cols + " : i64", "%j = arith.remsi %e, " + cols + " : i64"]
    row = _checked_row(kb, lines, indices, status, index_dtype, rows)
    at = kb.emit_into(lines, e.int_op, "addi", kb.emit_into(lines, e.int_op, "muli", row, cols, "i64"), "%j", "i64")
    if scatter:
        value = kb.load(lines, second, "%e", dtype)
        address, old = e.fresh("aa"), e.fresh("old")
        t = mlir_type(dtype)
        lines.append(f"{address} = llvm.getelementptr inbounds {first}[{at}] : (!llvm.ptr, i64) -> !llvm.ptr, {t}")
        lines.append(f"{old} = llvm.atomicrmw {_ATOMIC_ADD[dtype_kind(dtype)]} {address}, {value} monotonic "
                     f": !llvm.ptr, {t}")
    else:
        kb.store(lines, kb.load(lines, first, at, dtype), second, "%e", dtype)
    return kb.render(loop("%e", first_index, total, stride, lines))


def scatter_add_kernel(name: str, dtype: str, index_dtype: str) -> str:
    """``np.add.at(dest, idx, updates)`` on the first axis with atomic adds (module docstring)."""
    if dtype_kind(dtype) not in _ATOMIC_ADD or mlir_type(dtype) not in _ATOMIC_TYPES:
        raise NotLowerable(f"atomic adds of {dtype}")
    return _index_kernel(name, dtype, index_dtype, scatter=True)


def gather_rows_kernel(name: str, dtype: str, index_dtype: str) -> str:
    """``result = source[idx]`` on the first axis (label gathers, embeddings; module docstring)."""
    mlir_type(dtype)
    return _index_kernel(name, dtype, index_dtype, scatter=False)
