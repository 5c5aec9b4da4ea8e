"""Row kernels of the softmax family: softmax, log_softmax, logsumexp, softmax_crossentropy and
its gradient.

Each iteration is one row of a C-contiguous ``rows x cols`` float input ``x``:

1. ``m = max(x)``; for logsumexp and the cross-entropy, replaced by 0 when not finite (an all
   ``-inf`` row, an empty row, nan), as the reference's ``_shifted_max`` does; softmax, log_softmax
   and the cross-entropy's gradient (:data:`RAW_MAX`) keep it, so that a row holding +inf or nan,
   or only -inf, is nan as in the reference's ``_row_max`` (and SciPy);
2. ``s = sum(exp(x - m))`` with our vectorizable ``exp`` (softmax stores ``exp(x - m)`` in the
   output on the way);
3. softmax: ``out *= 1 / s``; log_softmax: ``out = (x - m) - log(s)``; logsumexp:
   ``out[r] = m + log(s)``; softmax_crossentropy: ``out[r] = log(s) - (x[y[r]] - m)``;
   softmax_crossentropy_grad: ``out = exp(x - m) * (dy[r] / s)``, then ``out[y[r]] -= dy[r]``.

The kernels check the labels themselves (so a replayed call checks them too): a label outside
``[0, cols)`` is read as 0, so nothing outside the row is touched, and its row index is stored
in ``status[0]``, which the runtime sets to -1 before the call and reads after it.
Arguments (ABI of :mod:`.lower_elementwise`): ``x``, the output, labels (cross-entropies only),
the per-row cotangents ``dy`` (gradient only, one per row, contiguous), ``status`` (an int64
array; cross-entropies only), then ``cols``.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorir.codegen.cpu.approx import APPROXIMATIONS
from tensorir.codegen.cpu.lower_elementwise import KernelBuilder
from tensorir.codegen.cpu.scalar_ops import NotLowerable, cast_scalar

__all__ = ["ROW_OPS", "SHORT_BLOCK", "SHORT_COLS", "row_kernel", "short_row_kernel"]

ROW_OPS = ("tir.softmax", "tir.log_softmax", "tir.logsumexp", "tir.softmax_crossentropy",
           "tir.softmax_crossentropy_grad")
#: Row ops that read class labels (and, for the gradient, one cotangent per row).
LABELLED = ("tir.softmax_crossentropy", "tir.softmax_crossentropy_grad")
#: Row ops whose shift is the row max as it is (module docstring, step 1).
RAW_MAX = ("tir.softmax", "tir.log_softmax", "tir.softmax_crossentropy_grad")


def row_kernel_arity(op: str) -> int:
    """Arguments of ``op``'s row kernel besides the range (see the module docstring)."""
    return {"tir.softmax_crossentropy": 5, "tir.softmax_crossentropy_grad": 6}.get(op, 3)


def _row_arguments(name: str, op: str, dtype: str, label_dtype: str | None
                   ) -> tuple[KernelBuilder, str, tuple[str, str, str, str, str, str]]:
    """A row kernel's builder, element type and argument values: the data pointers of x, the
    output, the labels, the cotangents and the status word ("" where ``op`` has none), and cols."""
    if op not in ROW_OPS:
        raise NotLowerable(f"{op} has no row kernel")
    if dtype not in ("float32", "float64"):
        raise NotLowerable(f"{op} of {dtype}")
    labels = op in LABELLED
    if labels and label_dtype is None:
        raise NotLowerable(f"{op} needs the labels' dtype")
    kb = KernelBuilder(name, row_kernel_arity(op))
    pre = kb.preamble

    def data(k: int, present: bool = True) -> str:
        return kb.array_field(pre, kb.args[k], "data") if present else ""

    gradient = op == "tir.softmax_crossentropy_grad"
    fields = (data(0), data(1), data(2, labels), data(3, gradient), data(-2, labels), kb.args[-1])
    return kb, "f32" if dtype == "float32" else "f64", fields


def _checked_label(kb: KernelBuilder, body: list[str], y_base: str, status_base: str, label_dtype: str,
                   cols: str) -> str:
    """Row ``%r``'s label as i64, 0 when outside ``[0, cols)`` (the row is then noted in status)."""
    e = kb.e
    label = kb.emit_into(body, cast_scalar, e, kb.load(body, y_base, "%r", label_dtype), label_dtype, "int64")
    # Unsigned: a negative label compares as huge.
    inside = kb.emit_into(body, e.cmpi, "ult", label, cols, "i64")
    outside = kb.emit_into(body, e.int_op, "xori", inside, e.constant(1, "i1"), "i1")
    note: list[str] = []
    kb.store(note, "%r", status_base, e.constant(0, "i64"), "int64")
    body += [f"scf.if {outside} {{"] + ["  " + line for line in note] + ["}"]
    return kb.emit_into(body, e.select, inside, label, e.constant(0, "i64"), "i64")


def row_kernel(name: str, op: str, dtype: str, label_dtype: str | None = None) -> str:
    """The row kernel of ``op`` for float ``dtype`` input and output (see the module docstring)."""
    kb, t, (x_base, out_base, y_base, dy_base, status_base, cols) = _row_arguments(name, op, dtype, label_dtype)
    e = kb.e
    gradient = op == "tir.softmax_crossentropy_grad"
    exp = APPROXIMATIONS["exp"]
    log = APPROXIMATIONS["log"]
    body: list[str] = []
    row = kb.emit_into(body, e.int_op, "muli", "%r", cols, "i64")
    end = kb.emit_into(body, e.int_op, "addi", row, cols, "i64")
    # Pass 1: the row max.
    max_loop: list[str] = []
    xv = kb.load(max_loop, x_base, "%i", dtype)
    new_max = kb.emit_into(max_loop, e.op, "arith.maximumf", ["%m_acc", xv], t)
    body += [f"%m_raw = scf.for %i = {row} to {end} step %one iter_args(%m_acc = {e.constant(float('-inf'), t)}) "
             f"-> ({t}) : i64 {{"] + ["  " + line for line in max_loop] + [f"  scf.yield {new_max} : {t}", "}"]
    if op in RAW_MAX:
        m = "%m_raw"
    else:
        finite = kb.emit_into(body, e.cmpf, "olt", kb.emit_into(body, e.abs, "%m_raw", t),
                              e.constant(float("inf"), t), t)
        m = kb.emit_into(body, e.select, finite, "%m_raw", e.constant(0.0, t), t)
    # Pass 2: sum of exp(x - m), storing exp(x - m) for softmax.
    sum_loop: list[str] = []
    xv = kb.load(sum_loop, x_base, "%i", dtype)
    ev = kb.emit_into(sum_loop, exp, e, kb.emit_into(sum_loop, e.sub, xv, m, t), t)
    if op in ("tir.softmax", "tir.softmax_crossentropy_grad"):
        kb.store(sum_loop, ev, out_base, "%i", dtype)
    new_sum = kb.emit_into(sum_loop, e.op, "arith.addf", ["%s_acc", ev], t, attributes="fastmath<reassoc>")
    body += [f"%s = scf.for %i = {row} to {end} step %one iter_args(%s_acc = {e.constant(0.0, t)}) -> ({t}) : i64 {{"]
    body += ["  " + line for line in sum_loop] + [f"  scf.yield {new_sum} : {t}", "}"]
    if op in ("tir.softmax", "tir.softmax_crossentropy_grad"):
        dy = kb.load(body, dy_base, "%r", dtype) if gradient else e.constant(1.0, t)
        inverse = kb.emit_into(body, e.div, dy, "%s", t)
        scale: list[str] = []
        scaled = kb.emit_into(scale, e.mul, kb.load(scale, out_base, "%i", dtype), inverse, t)
        kb.store(scale, scaled, out_base, "%i", dtype)
        body += [f"scf.for %i = {row} to {end} step %one : i64 {{"] + ["  " + line for line in scale] + ["}"]
        if gradient:
            label = _checked_label(kb, body, y_base, status_base, label_dtype, cols)
            at = kb.emit_into(body, e.int_op, "addi", row, label, "i64")
            kb.store(body, kb.emit_into(body, e.sub, kb.load(body, out_base, at, dtype), dy, t), out_base, at, dtype)
    elif op == "tir.log_softmax":
        log_sum = kb.emit_into(body, log, e, "%s", t)
        shift: list[str] = []
        shifted = kb.emit_into(shift, e.sub, kb.load(shift, x_base, "%i", dtype), m, t)
        kb.store(shift, kb.emit_into(shift, e.sub, shifted, log_sum, t), out_base, "%i", dtype)
        body += [f"scf.for %i = {row} to {end} step %one : i64 {{"] + ["  " + line for line in shift] + ["}"]
    elif op == "tir.logsumexp":
        log_sum = kb.emit_into(body, log, e, "%s", t)
        kb.store(body, kb.emit_into(body, e.add, m, log_sum, t), out_base, "%r", dtype)
    else:
        assert label_dtype is not None
        log_sum = kb.emit_into(body, log, e, "%s", t)
        label = _checked_label(kb, body, y_base, status_base, label_dtype, cols)
        picked = kb.load(body, x_base, kb.emit_into(body, e.int_op, "addi", row, label, "i64"), dtype)
        loss = kb.emit_into(body, e.sub, log_sum, kb.emit_into(body, e.sub, picked, m, t), t)
        kb.store(body, loss, out_base, "%r", dtype)
    text = ["scf.for %r = %start to %end step %one : i64 {"] + ["  " + line for line in body] + ["}"]
    return kb.render(text)


#: Rows of at most SHORT_COLS elements take :func:`short_row_kernel`, SHORT_BLOCK rows at a time.
SHORT_COLS = 16
SHORT_BLOCK = 64


def _loop(var: str, lo: str, hi: str, lines: list[str]) -> list[str]:
    return [f"scf.for {var} = {lo} to {hi} step %one : i64 {{"] + ["  " + line for line in lines] + ["}"]


def short_row_kernel(name: str, op: str, dtype: str, label_dtype: str | None = None) -> str:
    """:func:`row_kernel` for rows of at most :data:`SHORT_COLS` elements (same arguments).

    A row's own loops are too short to vectorize (a softmax over 10 classes cost about 30 ns a
    row, mostly loop set-up and horizontal sums). Here each block of :data:`SHORT_BLOCK` rows is
    copied transposed into a stack buffer, so that the max, exp and sum passes run down the
    columns, vectorized across rows; results are written back row by row. Same arithmetic per
    element as :func:`row_kernel` (only the order of the sums differs).
    """
    kb, t, (x_base, out_base, y_base, dy_base, status_base, cols) = _row_arguments(name, op, dtype, label_dtype)
    e, pre = kb.e, kb.preamble
    gradient = op == "tir.softmax_crossentropy_grad"
    exp, log = APPROXIMATIONS["exp"], APPROXIMATIONS["log"]
    block = e.constant(SHORT_BLOCK, "i64")
    # Stack buffers, allocated once: the block transposed (column j at j * SHORT_BLOCK), and per
    # row of the block its max and its sum (then what the last pass needs of them).
    pre.append(f"%tr = llvm.alloca {e.constant(SHORT_BLOCK * SHORT_COLS, 'i64')} x {t} : (i64) -> !llvm.ptr")
    pre.append(f"%mx = llvm.alloca {block} x {t} : (i64) -> !llvm.ptr")
    pre.append(f"%sm = llvm.alloca {block} x {t} : (i64) -> !llvm.ptr")

    def per_row(var: str, fill: Callable[[list[str], str, str], None]) -> list[str]:
        """A loop over the block's rows: ``fill(lines, b, first element of the row in x)``."""
        lines: list[str] = []
        r = kb.emit_into(lines, e.int_op, "addi", "%r0", var, "i64")
        fill(lines, var, kb.emit_into(lines, e.int_op, "muli", r, cols, "i64"))
        return _loop(var, "%zero", "%nb", lines)

    def down_columns(var_j: str, var_b: str, fill: Callable[[list[str], str, str], None]) -> list[str]:
        """Loops over the columns, then the block's rows (the vectorized direction):
        ``fill(lines, b, index of (row b, column j) in the transposed buffer)``."""
        inner: list[str] = []
        at = kb.emit_into(inner, e.int_op, "addi", f"{var_j}_base", var_b, "i64")
        fill(inner, var_b, at)
        outer = [f"{var_j}_base = arith.muli {var_j}, {block} : i64"] + _loop(var_b, "%zero", "%nb", inner)
        return _loop(var_j, "%zero", cols, outer)

    body = ["%rest = arith.subi %end, %r0 : i64", f"%nb = arith.minsi %rest, {block} : i64"]

    def transpose_in(lines: list[str], b: str, row: str) -> None:
        inner: list[str] = []
        src = kb.emit_into(inner, e.int_op, "addi", row, "%ji", "i64")
        dst = kb.emit_into(inner, e.int_op, "addi", kb.emit_into(inner, e.int_op, "muli", "%ji", block, "i64"), b,
                           "i64")
        kb.store(inner, kb.load(inner, x_base, src, dtype), "%tr", dst, dtype)
        lines += _loop("%ji", "%zero", cols, inner)

    body += per_row("%b1", transpose_in)
    # Pass 1: each row's max, replaced by 0 when not finite where row_kernel does so.
    init: list[str] = []
    kb.store(init, e.constant(float("-inf"), t), "%mx", "%b2", dtype)
    body += _loop("%b2", "%zero", "%nb", init)

    def max_step(lines: list[str], b: str, at: str) -> None:
        bigger = kb.emit_into(lines, e.op, "arith.maximumf", [kb.load(lines, "%mx", b, dtype),
                                                             kb.load(lines, "%tr", at, dtype)], t)
        kb.store(lines, bigger, "%mx", b, dtype)

    body += down_columns("%j3", "%b3", max_step)
    fix: list[str] = []
    if op not in RAW_MAX:
        raw = kb.load(fix, "%mx", "%b4", dtype)
        finite = kb.emit_into(fix, e.cmpf, "olt", kb.emit_into(fix, e.abs, raw, t), e.constant(float("inf"), t), t)
        kb.store(fix, kb.emit_into(fix, e.select, finite, raw, e.constant(0.0, t), t), "%mx", "%b4", dtype)
    kb.store(fix, e.constant(0.0, t), "%sm", "%b4", dtype)
    body += _loop("%b4", "%zero", "%nb", fix)
    # Pass 2: exp(x - m), kept in the buffer where the output needs it, and its sum per row.
    keeps_exp = op in ("tir.softmax", "tir.softmax_crossentropy_grad")

    def exp_step(lines: list[str], b: str, at: str) -> None:
        shifted = kb.emit_into(lines, e.sub, kb.load(lines, "%tr", at, dtype), kb.load(lines, "%mx", b, dtype), t)
        ev = kb.emit_into(lines, exp, e, shifted, t)
        if keeps_exp:
            kb.store(lines, ev, "%tr", at, dtype)
        kb.store(lines, kb.emit_into(lines, e.add, kb.load(lines, "%sm", b, dtype), ev, t), "%sm", b, dtype)

    body += down_columns("%j5", "%b5", exp_step)
    # Pass 3: per row, what the output needs of the sum; then the output, row by row.
    last: list[str] = []
    total = kb.load(last, "%sm", "%b6", dtype)
    r6 = kb.emit_into(last, e.int_op, "addi", "%r0", "%b6", "i64")
    if keeps_exp:
        scale = kb.load(last, dy_base, r6, dtype) if gradient else e.constant(1.0, t)
        kb.store(last, kb.emit_into(last, e.div, scale, total, t), "%sm", "%b6", dtype)
    elif op == "tir.log_softmax":
        kb.store(last, kb.emit_into(last, log, e, total, t), "%sm", "%b6", dtype)
    elif op == "tir.logsumexp":
        m = kb.load(last, "%mx", "%b6", dtype)
        kb.store(last, kb.emit_into(last, e.add, m, kb.emit_into(last, log, e, total, t), t), out_base, r6, dtype)
    body += _loop("%b6", "%zero", "%nb", last)

    def write_out(lines: list[str], b: str, row: str) -> None:
        inner: list[str] = []
        at = kb.emit_into(inner, e.int_op, "addi", row, "%jo", "i64")
        factor = kb.load(lines, "%sm", b, dtype)
        if keeps_exp:
            src = kb.emit_into(inner, e.int_op, "addi", kb.emit_into(inner, e.int_op, "muli", "%jo", block, "i64"), b,
                               "i64")
            value = kb.emit_into(inner, e.mul, kb.load(inner, "%tr", src, dtype), factor, t)
        else:  # log_softmax: (x - m) - log(s)
            shifted = kb.emit_into(inner, e.sub, kb.load(inner, x_base, at, dtype), kb.load(lines, "%mx", b, dtype), t)
            value = kb.emit_into(inner, e.sub, shifted, factor, t)
        kb.store(inner, value, out_base, at, dtype)
        lines += _loop("%jo", "%zero", cols, inner)
        if gradient:
            lines.append(f"%r = arith.addi %r0, {b} : i64")
            dy = kb.load(lines, dy_base, "%r", dtype)
            label = _checked_label(kb, lines, y_base, status_base, label_dtype, cols)
            at = kb.emit_into(lines, e.int_op, "addi", row, label, "i64")
            kb.store(lines, kb.emit_into(lines, e.sub, kb.load(lines, out_base, at, dtype), dy, t), out_base, at, dtype)

    def crossentropy(lines: list[str], b: str, row: str) -> None:
        lines.append(f"%r = arith.addi %r0, {b} : i64")
        label = _checked_label(kb, lines, y_base, status_base, label_dtype, cols)
        picked = kb.load(lines, x_base, kb.emit_into(lines, e.int_op, "addi", row, label, "i64"), dtype)
        shifted = kb.emit_into(lines, e.sub, picked, kb.load(lines, "%mx", b, dtype), t)
        log_sum = kb.emit_into(lines, log, e, kb.load(lines, "%sm", b, dtype), t)
        kb.store(lines, kb.emit_into(lines, e.sub, log_sum, shifted, t), out_base, "%r", dtype)

    if op in ("tir.softmax", "tir.softmax_crossentropy_grad", "tir.log_softmax"):
        body += per_row("%b7", write_out)
    elif op == "tir.softmax_crossentropy":
        body += per_row("%b7", crossentropy)
    text = [f"scf.for %r0 = %start to %end step {block} : i64 {{"] + ["  " + line for line in body] + ["}"]
    return kb.render(text)
