"""GPU kernels of ``tir.argmax`` and ``tir.argmin`` over rows: one block per row, each thread keeping
its best (value, index) pair, then a block reduction of the pairs.

NumPy's answer is the first index of the extreme value, and the first NaN when there is one (a
NaN beats every number). :func:`combine_arg` states that order on pairs, so it is associative
and commutative and the threads may combine in any order. As with the other reductions, the
runtime lays the reduced axes out last and together (``rows x cols``).

Arguments: the input's address, the output's address (int64), then ``rows`` and ``cols``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.lower_reduction import reduction_identity
from tensorir.codegen.cpu.mlir_text import KernelEmitter
from tensorir.codegen.cpu.scalar_ops import NotLowerable, dtype_kind, mlir_type
from tensorir.codegen.gpu.block_reduce import block_reduce_tuple
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, when

__all__ = ["ARG_REDUCTIONS", "argmax_rows_kernel", "combine_arg"]

ARG_REDUCTIONS = ("tir.argmax", "tir.argmin")
_NO_INDEX = 2**63 - 1  # the identity's index: loses every tie


def combine_arg(e: KernelEmitter, a: Sequence[str], b: Sequence[str], dtype: str, largest: bool) -> list[str]:
    """The better of the pairs ``a = (value, index)`` and ``b``: a NaN first, then the larger
    (``largest``) or smaller value, then the smaller index."""
    t, kind = mlir_type(dtype), dtype_kind(dtype)
    (va, ia), (vb, ib) = a, b
    earlier = e.cmpi("slt", ib, ia, "i64")
    if kind == "f":
        strictly = e.cmpf("ogt" if largest else "olt", vb, va, t)
        equal = e.cmpf("oeq", vb, va, t)
        nan_a, nan_b = e.cmpf("uno", va, va, t), e.cmpf("uno", vb, vb, t)
        not_nan_a = e.logical("xori", nan_a, e.constant(1, "i1"), "i1")
        numbers = e.logical("ori", strictly, e.logical("andi", equal, earlier, "i1"), "i1")
        # b wins: b is NaN and (a is not, or b is earlier); or neither is NaN and b is better.
        b_nan_wins = e.logical("andi", nan_b, e.logical("ori", not_nan_a, earlier, "i1"), "i1")
        b_number_wins = e.logical("andi", not_nan_a, numbers, "i1")  # a number b never beats a NaN a
        take_b = e.logical("ori", b_nan_wins, b_number_wins, "i1")
    else:
        signed = "s" if kind == "s" else "u"
        strictly = e.cmpi(("sgt" if largest else "slt").replace("s", signed, 1), vb, va, t)
        equal = e.cmpi("eq", vb, va, t)
        take_b = e.logical("ori", strictly, e.logical("andi", equal, earlier, "i1"), "i1")
    return [e.select(take_b, vb, va, t), e.select(take_b, ib, ia, "i64")]


def argmax_rows_kernel(name: str, op: str, dtype: str) -> str:
    """The kernel of ``op`` (argmax or argmin) over each row of ``dtype`` values (module docstring)."""
    if op not in ARG_REDUCTIONS:
        raise NotLowerable(f"{op} is not an arg reduction")
    largest = op == "tir.argmax"
    t = mlir_type(dtype)
    # The identity loses to every value: the smallest (argmax) or largest (argmin) one, no index.
    identity_value = reduction_identity("tir.max" if largest else "tir.min", dtype)
    kb = GpuKernelBuilder(name, [Param("in"), Param("out"), Param("size"), Param("size")])
    e = kb.e
    x, out, rows, cols = kb.args
    block, grid, thread, size = kb.block_values()
    identity = [e.constant(identity_value, t), e.constant(_NO_INDEX, "i64")]
    row: list[str] = []
    lo = kb.emit_into(row, e.int_op, "muli", "%r", cols, "i64")
    hi = kb.emit_into(row, e.int_op, "addi", lo, cols, "i64")
    first = kb.emit_into(row, e.int_op, "addi", lo, thread, "i64")
    inner: list[str] = []
    value = kb.load(inner, x, "%i", dtype)
    index = kb.emit_into(inner, e.int_op, "subi", "%i", lo, "i64")
    best = kb.emit_into(inner, combine_arg, e, ["%v_acc", "%i_acc"], [value, index], dtype, largest)
    row += [f"%v_part, %i_part = scf.for %i = {first} to {hi} step {size} "
            f"iter_args(%v_acc = {identity[0]}, %i_acc = {identity[1]}) -> ({t}, i64) : i64 {{"]
    row += ["  " + line for line in inner] + [f"  scf.yield {best[0]}, {best[1]} : {t}, i64", "}"]
    _, winner = block_reduce_tuple(kb, row, ["%v_part", "%i_part"], [t, "i64"], identity,
                                   lambda a, b: combine_arg(e, a, b, dtype, largest))
    store: list[str] = []
    kb.store(store, winner, out, "%r", "int64")
    row += when(kb.emit_into(row, e.cmpi, "eq", thread, "%zero", "i64"), store)
    text = [f"scf.for %r = {block} to {rows} step {grid} : i64 {{"] + ["  " + line for line in row] + ["}"]
    return kb.render(text)
