"""GPU row kernels of the softmax family: softmax, log_softmax, logsumexp, softmax_crossentropy
and its gradient, one block per row.

The arithmetic is the CPU's (``codegen/cpu/lower_nn.py``: the same ``exp`` and ``log``
approximations, the same non-finite max replaced by 0, the same label check writing the row
into ``status[0]``); the row's passes are spread over the block's threads:

1. each thread's max over elements ``t, t + B, ...`` of the row, then the block's max
   (:func:`.block_reduce.block_reduce`); for logsumexp and the cross-entropy replaced by 0 when
   not finite, while the ops in ``RAW_MAX`` keep it (so a row holding +inf or nan, or only
   -inf, gives nan, as the reference's row max does);
2. each thread's sum of ``exp(x - m)`` over the same elements (softmax and the gradient store
   them in the output on the way), then the block's sum;
3. the outputs: each thread rewrites the elements it wrote (so no barrier is needed), or
   thread 0 stores the row's one value; the gradient's ``out[y[r]] -= dy[r]`` waits for a
   barrier (the element was written by another thread) and is done by thread 0.

Arguments: the CPU row kernel's (``x``, the output, labels, cotangents, ``status``: see
``row_kernel_arity``) with the addresses first, then ``cols`` and ``rows``.
"""

from __future__ import annotations

from tensorir.codegen.cpu.approx import APPROXIMATIONS
from tensorir.codegen.cpu.lower_nn import LABELLED, RAW_MAX, ROW_OPS, checked_label, row_kernel_arity
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.block_reduce import block_reduce
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param, loop, when

__all__ = ["row_kernel"]

#: Row ops whose output is the whole row (the others store one value per row).
_WHOLE_ROW = ("tir.softmax", "tir.log_softmax", "tir.softmax_crossentropy_grad")


def _params(op: str) -> list[Param]:
    """Addresses (x read; output, labels, cotangents, status), then cols and rows."""
    addresses = row_kernel_arity(op) - 1
    kinds = ["in", "out"]
    if op in LABELLED:
        kinds += ["in"] + (["in"] if op == "tir.softmax_crossentropy_grad" else []) + ["out"]
    assert len(kinds) == addresses
    return [Param(k) for k in kinds] + [Param("size"), Param("size")]


def row_kernel(name: str, op: str, dtype: str, label_dtype: str | None = None) -> str:
    """The GPU row kernel of ``op`` for float ``dtype`` input and output (see the module docstring)."""
    if op not in ROW_OPS:
        raise NotLowerable(f"{op} has no row kernel")
    if dtype not in ("float32", "float64"):
        raise NotLowerable(f"{op} of {dtype}")
    if op in LABELLED and label_dtype is None:
        raise NotLowerable(f"{op} needs the labels' dtype")
    kb = GpuKernelBuilder(name, _params(op))
    e, t = kb.e, "f32" if dtype == "float32" else "f64"
    gradient = op == "tir.softmax_crossentropy_grad"
    x, out = kb.args[0], kb.args[1]
    y = kb.args[2] if op in LABELLED else ""
    dy = kb.args[3] if gradient else ""
    status = kb.args[-3] if op in LABELLED else ""
    cols, rows = kb.args[-2], kb.args[-1]
    block, grid, thread, size = kb.block_values()
    exp, log = APPROXIMATIONS["exp"], APPROXIMATIONS["log"]
    body: list[str] = []
    row = kb.emit_into(body, e.int_op, "muli", "%r", cols, "i64")
    end = kb.emit_into(body, e.int_op, "addi", row, cols, "i64")
    first = kb.emit_into(body, e.int_op, "addi", row, thread, "i64")
    is_first_thread = kb.emit_into(body, e.cmpi, "eq", thread, "%zero", "i64")

    def maximum(a: str, b: str) -> str:
        return e.op("arith.maximumf", [a, b], t)

    def add(a: str, b: str) -> str:
        return e.op("arith.addf", [a, b], t, attributes="fastmath<reassoc>")

    # Pass 1: the row's max (0 when it is not finite, outside RAW_MAX).
    lowest = e.constant(float("-inf"), t)
    max_loop: list[str] = []
    new_max = kb.emit_into(max_loop, maximum, "%m_acc", kb.load(max_loop, x, "%i", dtype))
    body += [f"%m_part = scf.for %i = {first} to {end} step {size} iter_args(%m_acc = {lowest}) -> ({t}) : i64 {{"]
    body += ["  " + line for line in max_loop] + [f"  scf.yield {new_max} : {t}", "}"]
    m = m_raw = block_reduce(kb, body, "%m_part", t, lowest, maximum)
    if op not in RAW_MAX:
        finite = kb.emit_into(body, e.cmpf, "olt", kb.emit_into(body, e.abs, m_raw, t), e.constant(float("inf"), t),
                              t)
        m = kb.emit_into(body, e.select, finite, m_raw, e.constant(0.0, t), t)
    # Pass 2: the sum of exp(x - m), storing exp(x - m) where the output is made of it.
    zero = e.constant(0.0, t)
    sum_loop: list[str] = []
    ev = kb.emit_into(sum_loop, exp, e, kb.emit_into(sum_loop, e.sub, kb.load(sum_loop, x, "%i", dtype), m, t), t)
    if op in ("tir.softmax", "tir.softmax_crossentropy_grad"):
        kb.store(sum_loop, ev, out, "%i", dtype)
    new_sum = kb.emit_into(sum_loop, add, "%s_acc", ev)
    body += [f"%s_part = scf.for %i = {first} to {end} step {size} iter_args(%s_acc = {zero}) -> ({t}) : i64 {{"]
    body += ["  " + line for line in sum_loop] + [f"  scf.yield {new_sum} : {t}", "}"]
    s = block_reduce(kb, body, "%s_part", t, zero, add)
    # Pass 3: the outputs.
    if op in _WHOLE_ROW:
        rewrite: list[str] = []
        if op == "tir.log_softmax":
            log_sum = kb.emit_into(body, log, e, s, t)
            shifted = kb.emit_into(rewrite, e.sub, kb.load(rewrite, x, "%i", dtype), m, t)
            kb.store(rewrite, kb.emit_into(rewrite, e.sub, shifted, log_sum, t), out, "%i", dtype)
        else:
            scale = kb.load(body, dy, "%r", dtype) if gradient else e.constant(1.0, t)
            inverse = kb.emit_into(body, e.div, scale, s, t)
            kb.store(rewrite, kb.emit_into(rewrite, e.mul, kb.load(rewrite, out, "%i", dtype), inverse, t), out,
                     "%i", dtype)
        body += loop("%i", first, end, size, rewrite)
        if gradient:
            body.append("gpu.barrier")
            fix: list[str] = []
            label = checked_label(kb, fix, y, status, label_dtype, cols)
            at = kb.emit_into(fix, e.int_op, "addi", row, label, "i64")
            kb.store(fix, kb.emit_into(fix, e.sub, kb.load(fix, out, at, dtype), scale, t), out, at, dtype)
            body += when(is_first_thread, fix)
            # The next row's writes must not pass this row's read of the labelled element.
            body.append("gpu.barrier")
    else:
        single: list[str] = []
        log_sum = kb.emit_into(single, log, e, s, t)
        if op == "tir.logsumexp":
            kb.store(single, kb.emit_into(single, e.add, m, log_sum, t), out, "%r", dtype)
        else:  # softmax_crossentropy: log(s) - (x[y[r]] - m)
            label = checked_label(kb, single, y, status, label_dtype, cols)
            picked = kb.load(single, x, kb.emit_into(single, e.int_op, "addi", row, label, "i64"), dtype)
            loss = kb.emit_into(single, e.sub, log_sum, kb.emit_into(single, e.sub, picked, m, t), t)
            kb.store(single, loss, out, "%r", dtype)
        body += when(is_first_thread, single)
    return kb.render(loop("%r", block, rows, grid, body))
