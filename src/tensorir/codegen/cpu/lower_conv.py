"""Lowering of ``tir.conv2d`` and its two gradients to kernels: im2col / col2im plus matrix products.

Notation (NCHW, per group ``g`` of ``G``): ``Cg = C / G`` input and ``Fg = F / G`` output
channels, ``Kg = Cg*kh*kw``, ``P = OH*OW``. For one image ``n`` the im2col matrix is
``cols[(c, a, b), (i, j)] = x[n, c, i*sh + a*dh - ph, j*sw + b*dw - pw]`` (0 in the padding),
``K x P`` row-major, the rows of group ``g`` being the block ``[g*Kg, (g+1)*Kg)``. Then

- forward: ``y[n, g] (Fg x P) = w[g] (Fg x Kg) @ cols[g]``, written straight into the NCHW output;
- filter gradient: ``dw[g] += gy[n, g] (Fg x P) @ cols[g]^T``, into a per-slot partial sum
  stored transposed (``Kg x Fg`` per group; the runtime sums the slots and transposes);
- input gradient: ``cols[g] = w[g]^T @ gy[n, g]``, then col2im adds ``cols`` back into
  ``dx[n]`` (the adjoint of im2col), in the reference's order (tap by tap).

The filters come flipped by the runtime when ``filter_flip`` (a true convolution), so the
kernels only cross-correlate. BLAS is column-major: a row-major ``A (r x c)`` is the
column-major ``A^T`` with leading dimension ``c``, so ``Y = W @ X`` is ``gemm(X^T, W^T)``.
The ``small`` variant computes the same products with the register-tiled loops of
:mod:`.small_gemm` instead of BLAS; the runtime picks it where it measured faster (one
group's im2col block in L2; see ``ConvStep.small_products``).

Iterations are **slots**: slot ``t`` takes the images ``[t*per, min((t+1)*per, N))`` and its
own ``K x P`` scratch block of ``cols``; the runtime runs one slot per thread with a
single-threaded BLAS, so the im2col block stays in cache for its gemm and no two threads share
a buffer. Measured on the LeNet shapes (2 cores, float32): two slots ran the 20 -> 50 channel
forward in 18 ms against 36 ms for one; one slot with a two-thread BLAS per image was slower and
erratic (70-700 ms); and a whole-batch im2col for one big gemm gains nothing on the gemm itself
(OpenBLAS ran ``m = 4096`` at the same 57 GFLOP/s as the per-image ``m = 64``) while it needs
an output transpose and a buffer of the whole batch.

The output ranges of each tap (``valid_outputs`` in ``dialects/tir/conv.py``) are precomputed:
the copy loops never test the border. With unit column steps (``unit``) the rows are copied (and
added back by col2im) with explicit 32-byte vectors: rows of 8 to 24 elements are too short for
LLVM's own vectorization, which interleaves four vectors and left them to its scalar remainder.

Kernel arguments (ABI of :mod:`.lower_elementwise`): ``a`` (x; gy for the input gradient),
``b`` (w; gy for the filter gradient), the output (y; dx; the ``(slots, G, Kg, Fg)`` partial
filter gradients, zeroed by the runtime), the ``cols`` scratch (``slots x K x P``), ``params`` (int64:
:data:`CONV_PARAMS` then ``ilo[kh], ihi[kh], jlo[kw], jhi[kw]``). x is read through element
strides ``sx*``; gy, w and the outputs are C-contiguous.
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import VECTOR_WIDTH, LoopBuilder, gemm_declaration
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.cpu.small_gemm import (
    product_accumulate_transposed,
    product_into,
    whole_dot_tiles,
    whole_tiles,
)

__all__ = ["CONV_DTYPES", "CONV_KINDS", "CONV_PARAMS", "conv_kernel", "whole_products"]

#: Order of the int64 parameters of the conv kernels (then the valid ranges).
CONV_PARAMS = ("N", "per", "C", "H", "W", "kh", "kw", "OH", "OW", "sh", "sw", "dh", "dw", "ph", "pw",
               "G", "Fg", "sx0", "sx1", "sx2", "sx3")
CONV_KINDS = ("forward", "grad_input", "grad_filters")
CONV_DTYPES = ("float32", "float64")


def conv_kernel(name: str, kind: str, dtype: str, unit: bool, small: bool = False, whole: bool = False) -> str:
    """The kernel text of one conv op (see the module docstring); ``unit``: unit column steps;
    ``small``: the products by register-tiled loops (:mod:`.small_gemm`) instead of BLAS (the
    input gradient then takes the filters transposed, ``(G, Kg, Fg)``); ``whole``: those loops
    with their biggest tiles alone, for sizes :func:`whole_products` accepts."""
    if kind not in CONV_KINDS or dtype not in CONV_DTYPES:
        raise NotLowerable(f"no conv kernel for {kind} of {dtype}")
    return _ConvKernel(name, kind, dtype, unit, small, small and whole).text


def whole_products(kind: str, dtype: str, fg: int, kg: int, p: int) -> bool:
    """Whether the register-tiled products of a conv op with these sizes (``Fg``, ``Kg``, ``P``)
    are made of whole tiles, so its ``whole`` kernel computes them."""
    if kind == "forward":
        return whole_tiles(dtype, fg, p)
    if kind == "grad_input":
        return whole_tiles(dtype, kg, p)
    return whole_dot_tiles(fg)


class _ConvKernel:
    def __init__(self, name: str, kind: str, dtype: str, unit: bool, small: bool, whole: bool) -> None:
        self.kind, self.dtype, self.unit, self.small, self.whole = kind, dtype, unit, small, whole
        self.t = "f32" if dtype == "float32" else "f64"
        lb = self.lb = LoopBuilder(name, 5)
        self.a, self.b, self.out, self.cols = lb.data(0), lb.data(1), lb.data(2), lb.data(3)
        params = lb.data(4)
        p = self.p = {key: lb.param(params, k) for k, key in enumerate(CONV_PARAMS)}
        self.ilo = lb.offset(params, lb.const(len(CONV_PARAMS)), "int64")
        self.ihi = lb.offset(self.ilo, p["kh"], "int64")
        self.jlo = lb.offset(self.ihi, p["kh"], "int64")
        self.jhi = lb.offset(self.jlo, p["kw"], "int64")
        self.taps = lb.mul(p["kh"], p["kw"])
        self.P = lb.mul(p["OH"], p["OW"])
        # Per group: Kg = (C / G) * kh * kw rows of cols and Fg filters; F = G * Fg.
        self.K = lb.mul(p["C"], self.taps)
        self.Kg = lb.div(self.K, p["G"])
        self.F = lb.mul(p["G"], p["Fg"])
        self.text = self.build()

    def build(self) -> str:
        lb, p = self.lb, self.p
        block = lb.mul(self.K, self.P)  # elements of one slot's cols
        with lb.loop("%start", "%end") as slot:
            cols = lb.offset(self.cols, lb.mul(slot, block), self.dtype)
            first = lb.mul(slot, p["per"])
            last = lb.min(lb.add(first, p["per"]), p["N"])
            with lb.loop(first, last) as n:
                getattr(self, self.kind)(slot, n, cols)
        symbol_declaration = gemm_declaration(self.dtype)[1]
        return lb.render(symbol_declaration)

    # -- the three ops -------------------------------------------------------------------------
    def forward(self, slot: str, n: str, cols: str) -> None:
        lb, p = self.lb, self.p
        self.im2col(n, cols)
        with lb.loop("%zero", p["G"]) as g:
            # y[n, g] (Fg x P) = w[g] (Fg x Kg) @ cols[g] (Kg x P)
            a = lb.offset(cols, lb.mul(lb.mul(g, self.Kg), self.P), self.dtype)
            w = lb.offset(self.b, lb.mul(lb.mul(g, p["Fg"]), self.Kg), self.dtype)
            y = lb.offset(self.out, lb.mul(lb.add(lb.mul(n, self.F), lb.mul(g, p["Fg"])), self.P), self.dtype)
            if self.small:
                product_into(lb, self.dtype, w, a, y, p["Fg"], self.P, self.Kg, self.whole)
            else:
                lb.gemm(self.dtype, False, False, self.P, p["Fg"], self.Kg, a, self.P, w, self.Kg, 0.0, y, self.P)

    def grad_filters(self, slot: str, n: str, cols: str) -> None:
        lb, p = self.lb, self.p
        self.im2col(n, cols)
        part = lb.offset(self.out, lb.mul(slot, lb.mul(self.F, self.Kg)), self.dtype)
        with lb.loop("%zero", p["G"]) as g:
            # dw[g] (Fg x Kg) += gy[n, g] (Fg x P) @ cols[g]^T (P x Kg), stored transposed: the
            # gemm with m = Fg, n = Kg ran 1.3x faster than m = Kg, n = Fg on the LeNet shapes.
            a = lb.offset(cols, lb.mul(lb.mul(g, self.Kg), self.P), self.dtype)
            gy = lb.offset(self.b, lb.mul(lb.add(lb.mul(n, self.F), lb.mul(g, p["Fg"])), self.P), self.dtype)
            dw = lb.offset(part, lb.mul(lb.mul(g, p["Fg"]), self.Kg), self.dtype)
            if self.small:
                product_accumulate_transposed(lb, self.dtype, gy, a, dw, p["Fg"], self.Kg, self.P, self.whole)
            else:
                lb.gemm(self.dtype, True, False, p["Fg"], self.Kg, self.P, gy, self.P, a, self.P, 1.0, dw, p["Fg"])

    def grad_input(self, slot: str, n: str, cols: str) -> None:
        lb, p = self.lb, self.p
        with lb.loop("%zero", p["G"]) as g:
            # cols[g] (Kg x P) = w[g]^T (Kg x Fg) @ gy[n, g] (Fg x P)
            gy = lb.offset(self.a, lb.mul(lb.add(lb.mul(n, self.F), lb.mul(g, p["Fg"])), self.P), self.dtype)
            w = lb.offset(self.b, lb.mul(lb.mul(g, p["Fg"]), self.Kg), self.dtype)
            c = lb.offset(cols, lb.mul(lb.mul(g, self.Kg), self.P), self.dtype)
            if self.small:  # the filters come transposed, (G, Kg, Fg)
                product_into(lb, self.dtype, w, gy, c, self.Kg, self.P, p["Fg"], self.whole)
            else:
                lb.gemm(self.dtype, False, True, self.P, self.Kg, p["Fg"], gy, self.P, w, self.Kg, 0.0, c, self.P)
        self.col2im(n, cols)

    # -- im2col and its adjoint ----------------------------------------------------------------
    def tap_rows(self, body) -> None:  # noqa: ANN001
        """``body(c, row, (ilo, ihi), (jlo, jhi), row_offset, col_offset)`` per cols row ``(c, a, b)``."""
        lb, p = self.lb, self.p
        with lb.loop("%zero", p["C"]) as c:
            with lb.loop("%zero", p["kh"]) as a:
                rows = (lb.load(self.ilo, a, "int64"), lb.load(self.ihi, a, "int64"))
                row_offset = lb.sub(lb.mul(a, p["dh"]), p["ph"])
                with lb.loop("%zero", p["kw"]) as b:
                    row = lb.add(lb.mul(lb.add(lb.mul(c, p["kh"]), a), p["kw"]), b)
                    columns = (lb.load(self.jlo, b, "int64"), lb.load(self.jhi, b, "int64"))
                    col_offset = lb.sub(lb.mul(b, p["dw"]), p["pw"])
                    body(c, row, rows, columns, row_offset, col_offset)

    def column(self, j: str, col_offset: str) -> str:
        lb = self.lb
        return lb.add(j if self.unit else lb.mul(j, self.p["sw"]), col_offset)

    def im2col(self, n: str, cols: str) -> None:
        lb, p, dtype = self.lb, self.p, self.dtype
        zero = lb.e.constant(0.0, self.t)
        image = lb.mul(n, p["sx0"])

        def copy(c: str, row: str, rows, columns, row_offset: str, col_offset: str) -> None:  # noqa: ANN001
            dst = lb.mul(row, self.P)
            # Output rows whose input row is in the padding are zeros, as are the padded columns.
            lb.fill(cols, dst, lb.add(dst, lb.mul(rows[0], p["OW"])), zero, dtype)
            lb.fill(cols, lb.add(dst, lb.mul(rows[1], p["OW"])), lb.add(dst, self.P), zero, dtype)
            channel = lb.add(image, lb.mul(c, p["sx1"]))
            with lb.loop(rows[0], rows[1]) as i:
                line = lb.add(dst, lb.mul(i, p["OW"]))
                source = lb.add(channel, lb.mul(lb.add(lb.mul(i, p["sh"]), row_offset), p["sx2"]))
                lb.fill(cols, line, lb.add(line, columns[0]), zero, dtype)

                def copy_one(j: str, width: int = 1) -> None:
                    col = self.column(j, col_offset)
                    value = lb.load(self.a, lb.add(source, col if self.unit else lb.mul(col, p["sx3"])), dtype, width)
                    lb.store(value, cols, lb.add(line, j), dtype, width)

                if self.unit:  # contiguous rows: explicit vectors (rows are short, 8 to 24 elements)
                    width = VECTOR_WIDTH[dtype]
                    lb.vector_loop(columns[0], columns[1], width, lambda j: copy_one(j, width), copy_one)
                else:
                    with lb.loop(columns[0], columns[1]) as j:
                        copy_one(j)
                lb.fill(cols, lb.add(line, columns[1]), lb.add(line, p["OW"]), zero, dtype)

        self.tap_rows(copy)

    def col2im(self, n: str, cols: str) -> None:
        lb, p, dtype = self.lb, self.p, self.dtype
        plane = lb.mul(p["H"], p["W"])
        image = lb.mul(n, lb.mul(p["C"], plane))
        lb.fill(self.out, image, lb.add(image, lb.mul(p["C"], plane)), lb.e.constant(0.0, self.t), dtype)

        def add(c: str, row: str, rows, columns, row_offset: str, col_offset: str) -> None:  # noqa: ANN001
            src = lb.mul(row, self.P)
            channel = lb.add(image, lb.mul(c, plane))
            with lb.loop(rows[0], rows[1]) as i:
                line = lb.add(src, lb.mul(i, p["OW"]))
                target = lb.add(channel, lb.mul(lb.add(lb.mul(i, p["sh"]), row_offset), p["W"]))

                def add_one(j: str, width: int = 1) -> None:
                    slot = lb.add(target, self.column(j, col_offset))
                    contribution = lb.load(cols, lb.add(line, j), dtype, width)
                    ftype = self.t if width == 1 else f"vector<{width}x{self.t}>"
                    total = lb.fop("arith.addf", [lb.load(self.out, slot, dtype, width), contribution], ftype)
                    lb.store(total, self.out, slot, dtype, width)

                if self.unit:
                    width = VECTOR_WIDTH[dtype]
                    lb.vector_loop(columns[0], columns[1], width, lambda j: add_one(j, width), add_one)
                else:
                    with lb.loop(columns[0], columns[1]) as j:
                        add_one(j)

        self.tap_rows(add)
