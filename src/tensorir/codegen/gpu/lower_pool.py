"""GPU kernels of 2-D pooling: ``tir.pool2d`` (all four modes), ``tir.pool2d_grad`` and
``tir.max_pool2d_select``, one thread per element they write (grid-stride).

Semantics are the references' (``dialects/tir/conv.py``) and the CPU kernels'
(``codegen/cpu/lower_pool.py``), with the same arithmetic: padding is never read (each window
is clipped to the image, so padding never wins a max and adds nothing to a sum); ``max`` takes
``b`` over ``a`` when ``b > a`` or ``b`` is nan (nan propagates, as ``np.maximum``), from -inf;
``sum`` adds ``0 + v0 + v1 + ...`` in window order; ``average_*`` divides that sum, in float64,
by the window's count (``average_inc_pad`` counts the padded positions up to the padded image's
end, ``average_exc_pad`` only the image's), computed here from the geometry instead of the
CPU's tables.

- **forward** and **select**: one thread per output ``(plane, i, j)``; select sums ``v`` over the
  positions of the window's maximum (ties all count);
- **grad**: one thread per *input* position, gathering from the windows that cover it (rows
  ``i`` with ``i*sh <= r + ph < i*sh + wsh``, likewise columns), so no two threads write one
  element: no atomics, no zero fill, and the result does not depend on scheduling. ``max``
  recomputes each covering window's maximum (windows are small) and takes the window's
  gradient where ``x`` equals it (Theano's ``MaxPoolGrad``: ties all do); ``average_*``
  accumulates ``gz / count`` in float64 and rounds once.

Arguments: ``x`` (read through element strides ``sx0, sx1, sx2``: plane, row, column), then
``v`` (select: strides ``sv*``; grad: ``gz``, C-contiguous ``P x OH x OW``), then the output
(C-contiguous), then the ``i64`` sizes :data:`POOL_SIZES`. Window, strides and pads are run-time
sizes, so one kernel per (kind, mode, dtypes) serves every geometry.
"""

from __future__ import annotations

from tensorir.codegen.cpu.scalar_ops import NotLowerable, cast_scalar
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param
from tensorir.codegen.gpu.kernel_text import Body
from tensorir.dialects.tir.conv import POOL_MODES

__all__ = ["POOL_DTYPES", "POOL_KINDS", "POOL_SIZES", "pool_kernel", "pool_kernel_name"]

POOL_KINDS = ("forward", "grad", "select")
POOL_DTYPES = ("float32", "float64")
#: The ``i64`` sizes every pooling kernel takes, in order (``total``: the elements it writes).
POOL_SIZES = ("total", "H", "W", "OH", "OW", "sx0", "sx1", "sx2", "sv0", "sv1", "sv2", "ph", "pw",
              "wsh", "wsw", "sh", "sw")
_FTYPE = {"float32": "f32", "float64": "f64"}


def pool_kernel_name(kind: str, mode: str, dtype: str, value_dtype: str) -> str:
    """The kernel's name: one kernel per (kind, mode, dtypes)."""
    return f"pool_{kind}_{mode}_{dtype}_{value_dtype}"


def pool_kernel(name: str, kind: str, mode: str, dtype: str, value_dtype: str) -> str:
    """The ``gpu.func`` text of one pooling kernel (see the module docstring). ``dtype`` is x's
    (and the forward's and gradient's output), ``value_dtype`` v's (select, whose output it is)
    or gz's (grad)."""
    if kind not in POOL_KINDS or mode not in POOL_MODES:
        raise NotLowerable(f"no pooling kernel for {kind} in mode {mode}")
    if dtype not in POOL_DTYPES or value_dtype not in POOL_DTYPES:
        raise NotLowerable(f"pooling kernels take float32 and float64, not {dtype}/{value_dtype}")
    if kind == "select" and mode != "max":
        raise NotLowerable("max_pool2d_select is max pooling's")
    return _PoolKernel(name, kind, mode, dtype, value_dtype).text


class _PoolKernel:
    def __init__(self, name: str, kind: str, mode: str, dtype: str, value_dtype: str) -> None:
        self.kind, self.mode, self.dtype, self.value_dtype = kind, mode, dtype, value_dtype
        self.t, self.vt = _FTYPE[dtype], _FTYPE[value_dtype]
        kb = GpuKernelBuilder(name, [Param("in"), Param("in"), Param("out")] + [Param("size")] * len(POOL_SIZES))
        self.kb = kb
        self.x, self.v, self.out = kb.args[:3]
        self.s = dict(zip(POOL_SIZES, kb.args[3:]))
        self.b = Body(kb)
        getattr(self, kind)()
        self.text = self.b.render()

    # -- geometry ----------------------------------------------------------------------------------
    def window(self, i: str, j: str) -> tuple[str, str, str, str]:
        """Rows ``[r0, r1)`` and columns ``[c0, c1)`` of window ``(i, j)`` inside the image."""
        b, s = self.b, self.s
        top = b.sub(b.mul(i, s["sh"]), s["ph"])
        left = b.sub(b.mul(j, s["sw"]), s["pw"])
        r0, c0 = b.max(top, "%zero"), b.max(left, "%zero")
        r1 = b.min(b.add(top, s["wsh"]), s["H"])
        c1 = b.min(b.add(left, s["wsw"]), s["W"])
        return r0, r1, c0, c1

    def count(self, i: str, j: str, r0: str, r1: str, c0: str, c1: str) -> str:
        """The float64 count of window ``(i, j)``: its positions inside the padded image
        (``average_inc_pad``) or the image (``average_exc_pad``); windows clipped at the end as
        Theano does."""
        b, s, e = self.b, self.s, self.b.e
        if self.mode == "average_inc_pad":
            rows = b.sub(b.min(b.add(b.mul(i, s["sh"]), s["wsh"]), b.add(s["H"], b.add(s["ph"], s["ph"]))),
                         b.mul(i, s["sh"]))
            cols = b.sub(b.min(b.add(b.mul(j, s["sw"]), s["wsw"]), b.add(s["W"], b.add(s["pw"], s["pw"]))),
                         b.mul(j, s["sw"]))
        else:
            rows, cols = b.max(b.sub(r1, r0), "%zero"), b.max(b.sub(c1, c0), "%zero")
        return e.cast("sitofp", b.mul(rows, cols), "i64", "f64")

    def x_at(self, plane: str, r: str, c: str) -> str:
        s = self.s
        return self.b.load(self.x, self.b.dot([plane, r, c], [s["sx0"], s["sx1"], s["sx2"]]), self.dtype)

    def maximum(self, a: str, value: str) -> str:
        """``np.maximum(a, value)`` with nan taking over (see the module docstring)."""
        e, t = self.b.e, self.t
        take = e.logical("ori", e.cmpf("ogt", value, a, t), e.cmpf("uno", value, value, t), "i1")
        return e.select(take, value, a, t)

    def window_max(self, plane: str, r0: str, r1: str, c0: str, c1: str) -> str:
        b, t = self.b, self.t
        with b.carry(r0, r1, [b.e.constant(float("-inf"), t)], [t]) as (r, rows):
            with b.carry(c0, c1, rows.values, [t]) as (c, cols):
                cols.next = [self.maximum(cols.values[0], self.x_at(plane, r, c))]
            rows.next = cols.results
        return rows.results[0]

    def output_position(self, index: str) -> tuple[str, str, str]:
        plane_row, j = self.b.div(index, self.s["OW"]), self.b.rem(index, self.s["OW"])
        return self.b.div(plane_row, self.s["OH"]), self.b.rem(plane_row, self.s["OH"]), j

    def to_f64(self, value: str, t: str) -> str:
        return value if t == "f64" else self.b.e.cast("extf", value, t, "f64")

    def from_f64(self, value: str, t: str) -> str:
        return value if t == "f64" else self.b.e.cast("truncf", value, "f64", t)

    # -- the kernels -------------------------------------------------------------------------------
    def forward(self) -> None:
        b, t = self.b, self.t
        with b.grid_loop(self.s["total"]) as index:
            plane, i, j = self.output_position(index)
            r0, r1, c0, c1 = self.window(i, j)
            if self.mode == "max":
                result = self.window_max(plane, r0, r1, c0, c1)
            else:
                with b.carry(r0, r1, [b.e.constant(0.0, t)], [t]) as (r, rows):
                    with b.carry(c0, c1, rows.values, [t]) as (c, cols):
                        cols.next = [b.e.add(cols.values[0], self.x_at(plane, r, c), t)]
                    rows.next = cols.results
                result = rows.results[0]
                if self.mode != "sum":
                    quotient = b.e.div(self.to_f64(result, t), self.count(i, j, r0, r1, c0, c1), "f64")
                    result = self.from_f64(quotient, t)
            b.store(result, self.out, index, self.dtype)

    def select(self) -> None:
        b, s, vt = self.b, self.s, self.vt
        with b.grid_loop(s["total"]) as index:
            plane, i, j = self.output_position(index)
            r0, r1, c0, c1 = self.window(i, j)
            best = self.window_max(plane, r0, r1, c0, c1)
            zero = b.e.constant(0.0, vt)
            with b.carry(r0, r1, [zero], [vt]) as (r, rows):
                with b.carry(c0, c1, rows.values, [vt]) as (c, cols):
                    hit = b.e.cmpf("oeq", self.x_at(plane, r, c), best, self.t)
                    value = b.load(self.v, b.dot([plane, r, c], [s["sv0"], s["sv1"], s["sv2"]]), self.value_dtype)
                    cols.next = [b.e.add(cols.values[0], b.e.select(hit, value, zero, vt), vt)]
                rows.next = cols.results
            b.store(rows.results[0], self.out, index, self.value_dtype)

    def grad(self) -> None:
        b, s, t = self.b, self.s, self.t
        # Accumulate in float64 for the averages (the share gz / count is float64 in the reference).
        acc_t = "f64" if self.mode.startswith("average") else t
        with b.grid_loop(s["total"]) as index:
            plane_row, c = b.div(index, s["W"]), b.rem(index, s["W"])
            plane, r = b.div(plane_row, s["H"]), b.rem(plane_row, s["H"])
            # Windows covering (r, c): i*sh <= r + ph < i*sh + wsh, inside [0, OH).
            rp, cp = b.add(r, s["ph"]), b.add(c, s["pw"])
            i0 = b.max(b.ceildiv(b.add(b.sub(rp, s["wsh"]), "%one"), s["sh"]), "%zero")
            i1 = b.min(b.add(b.div(rp, s["sh"]), "%one"), s["OH"])
            j0 = b.max(b.ceildiv(b.add(b.sub(cp, s["wsw"]), "%one"), s["sw"]), "%zero")
            j1 = b.min(b.add(b.div(cp, s["sw"]), "%one"), s["OW"])
            x = self.x_at(plane, r, c) if self.mode == "max" else ""
            gz_plane = b.mul(plane, b.mul(s["OH"], s["OW"]))
            with b.carry(i0, i1, [b.e.constant(0.0, acc_t)], [acc_t]) as (i, rows):
                with b.carry(j0, j1, rows.values, [acc_t]) as (j, cols):
                    g = b.load(self.v, b.add(gz_plane, b.add(b.mul(i, s["OW"]), j)), self.value_dtype)
                    g = cast_scalar(b.e, g, self.value_dtype, self.dtype)
                    acc = cols.values[0]
                    if self.mode == "max":
                        best = self.window_max(plane, *self.window(i, j))
                        hit = b.e.cmpf("oeq", x, best, t)
                        cols.next = [b.e.add(acc, b.e.select(hit, g, b.e.constant(0.0, t), t), t)]
                    elif self.mode == "sum":
                        cols.next = [b.e.add(acc, g, t)]
                    else:
                        share = b.e.div(self.to_f64(g, t), self.count(i, j, *self.window(i, j)), "f64")
                        cols.next = [b.e.add(acc, share, "f64")]
                rows.next = cols.results
            b.store(self.from_f64(rows.results[0], t) if acc_t != t else rows.results[0], self.out, index,
                    self.dtype)
