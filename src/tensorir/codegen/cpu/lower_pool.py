"""Lowering of 2-D pooling (``tir.pool2d``, ``tir.pool2d_grad``, ``tir.max_pool2d_select``) to kernels.

The pooled axes are the last two; the leading ones are flattened into ``P`` planes, and the
iterations of a kernel are planes (the runtime splits them over threads). Each output row is
cut in three segments:

- the **interior** (rows and columns whose whole window lies inside the image, precomputed by
  the runtime): the window is unrolled with its size and strides as compile-time constants,
  accumulated in registers, and the loop over output columns vectorizes (strided loads); where
  windows tile the columns of contiguous rows (LeNet's 2x2 pooling), explicit vectors of
  half-vector groups of windows (one wide load per window row, shuffles per window column);
- the **border** segments (and the rows whose window crosses the top or bottom): per window
  offset ``(a, b)``, a loop over the output columns whose input position
  ``(i*sh + a - ph, j*sw + b - pw)`` lies inside the image (ranges from ``valid_outputs`` in
  ``dialects/tir/conv.py``), so no element is tested against the border and padding is never
  read.

Semantics are the references' in ``dialects/tir/conv.py``, in the same order of operations:

- ``max``: the maximum of the valid positions (nan propagates, as in ``np.maximum``);
- ``sum``: ``0 + v0 + v1 + ...`` in window order; ``average_*``: the sum divided (in float64, as
  the reference does) by the count ``counts_h[i] * counts_w[j]``;
- gradient of ``max``: every valid position equal to its window's maximum receives the window's
  gradient (Theano's ``MaxPoolGrad``: ties all do); on the border the window maxima of one
  output row are kept in a scratch row per plane;
- gradient of ``sum`` / ``average_*``: each valid position receives the (divided) gradient;
- ``select``: per window, the sum of ``v`` where ``x`` equals the window's maximum.

Kernel arguments (ABI of :mod:`.lower_elementwise`): ``x``, ``v`` (``gz`` for the gradient,
``v`` for select, unused by the forward kernel), the output (C-contiguous), ``params`` (int64:
:data:`POOL_PARAMS`, then the valid ranges ``ilo[wsh], ihi[wsh], jlo[wsw], jhi[wsw]``),
``counts_h`` and ``counts_w`` (float64, averages only) and ``scratch`` (``P * OW`` elements of
x's dtype, max gradient and select only). ``x`` and ``v`` are read through element strides
``(plane, row, column)``; ``gz`` is C-contiguous. Window size and strides are part of the
kernel (one compile per pooling geometry); sizes and pads are run-time parameters.
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import VECTOR_WIDTH, LoopBuilder
from tensorir.codegen.cpu.scalar_ops import NotLowerable

__all__ = ["POOL_DTYPES", "POOL_KINDS", "POOL_PARAMS", "pool_kernel", "tiles_exactly"]

#: Order of the int64 parameters of every pooling kernel (then the valid ranges). ``row_lo,
#: row_hi`` and ``col_lo, col_hi`` bound the interior (whole windows inside the image).
#: ``wsh, wsw`` (the window) and ``segments`` (2) repeat compile-time constants as run-time values
#: for the border loops, so that LLVM does not unroll them (which multiplied its compile time).
#: ``zero_fill`` is 0 when the gradient kernel may skip zeroing (see :func:`tiles_exactly`).
POOL_PARAMS = ("H", "W", "OH", "OW", "sx0", "sx1", "sx2", "sv0", "sv1", "sv2", "ph", "pw",
               "row_lo", "row_hi", "col_lo", "col_hi", "wsh", "wsw", "segments", "zero_fill")
POOL_KINDS = ("forward", "grad", "select")
POOL_DTYPES = ("float32", "float64")
#: Windows up to this many elements are unrolled in the interior; larger ones take the border path.
MAX_UNROLLED_WINDOW = 64
_FTYPE = {"float32": "f32", "float64": "f64"}


def tiles_exactly(hw: tuple[int, int], out: tuple[int, int], ws: tuple[int, int], stride: tuple[int, int],
                  pad: tuple[int, int]) -> bool:
    """Whether the windows are disjoint, unpadded and cover the image exactly (as LeNet's 2x2 pooling
    of an even image): then each input position gets exactly one store from the interior loop,
    after its window's loads, so a gradient may be written over x itself."""
    return (stride == ws and pad == (0, 0) and ws[0] * ws[1] <= MAX_UNROLLED_WINDOW
            and hw == (out[0] * ws[0], out[1] * ws[1]))


def pool_kernel(name: str, kind: str, mode: str, dtype: str, value_dtype: str, ws: tuple[int, int],
                stride: tuple[int, int], unit: bool) -> str:
    """The kernel text of one pooling op (see the module docstring).

    ``dtype`` is x's (and the output's, except for select), ``value_dtype`` v's or gz's; ``unit``
    says that x and v have unit column strides (contiguous rows, the common case).
    """
    if kind not in POOL_KINDS or dtype not in POOL_DTYPES or value_dtype not in POOL_DTYPES:
        raise NotLowerable(f"no pooling kernel for {kind} of {dtype}/{value_dtype}")
    return _PoolKernel(name, kind, mode, dtype, value_dtype, ws, stride, unit).text


class _PoolKernel:
    def __init__(self, name: str, kind: str, mode: str, dtype: str, value_dtype: str, ws: tuple[int, int],
                 stride: tuple[int, int], unit: bool) -> None:
        self.kind, self.mode, self.dtype, self.value_dtype = kind, mode, dtype, value_dtype
        self.t, self.vt = _FTYPE[dtype], _FTYPE[value_dtype]
        self.ws, self.stride, self.unit = ws, stride, unit
        lb = self.lb = LoopBuilder(name, 7)
        # A gradient may be written over x (see tiles_exactly): one alias scope for both.
        self.x, self.v, self.out = lb.data(0), lb.data(1), lb.data(2, scope=0 if kind == "grad" else None)
        params = lb.data(3)
        self.counts_h, self.counts_w, self.scratch = lb.data(4), lb.data(5), lb.data(6)
        self.p = {key: lb.param(params, k) for k, key in enumerate(POOL_PARAMS)}
        # The valid ranges follow the fixed parameters: ilo, ihi, jlo, jhi.
        self.ilo = lb.offset(params, lb.const(len(POOL_PARAMS)), "int64")
        self.ihi = lb.offset(self.ilo, lb.const(ws[0]), "int64")
        self.jlo = lb.offset(self.ihi, lb.const(ws[0]), "int64")
        self.jhi = lb.offset(self.jlo, lb.const(ws[1]), "int64")
        self.x_strides = (self.p["sx0"], self.p["sx1"], self.p["sx2"])
        self.v_strides = (self.p["sv0"], self.p["sv1"], self.p["sv2"])
        self.text = self.build()

    # -- indexing ------------------------------------------------------------------------------
    def element(self, plane: str, r: str, col: str, strides: tuple[str, str, str]) -> str:
        """Index of element ``(plane, r, col)`` of an array with element ``strides``."""
        lb = self.lb
        row = lb.add(lb.mul(plane, strides[0]), lb.mul(r, strides[1]))
        return lb.add(row, col if self.unit else lb.mul(col, strides[2]))

    def column(self, j: str, col_offset: str) -> str:
        return self.lb.add(self.lb.mul(j, self.lb.const(self.stride[1])), col_offset)

    def zero(self, ftype: str | None = None) -> str:
        return self.lb.e.constant(0.0, ftype or self.t)

    def count(self, i: str, j: str) -> str:
        """The float64 count of window ``(i, j)``."""
        lb = self.lb
        return lb.fop("arith.mulf", [lb.load(self.counts_h, i, "float64"), lb.load(self.counts_w, j, "float64")],
                      "f64")

    def maximum(self, a: str, b: str, ftype: str | None = None) -> str:
        """``max(a, b)``, nan if either is (as ``np.maximum``); scalars or vectors of ``ftype``.

        Not ``arith.maximumf``: LLVM lowers a scalar ``llvm.maximum`` on AVX2 to a slow sequence,
        which made the border and remainder loops 6x slower than this compare and select.
        """
        lb, t = self.lb, ftype or self.t
        take_b = lb.or_(lb.fcmp("ogt", b, a, t), lb.fcmp("uno", b, b, t), t)
        return lb.select(take_b, b, a, t)

    def to_f64(self, value: str, ftype: str | None = None) -> str:
        """A float32 value (or vector of ``ftype``) as float64."""
        ftype = ftype or self.t
        return value if self.t == "f64" else self.lb.cast("extf", value, ftype, ftype.replace("f32", "f64"))

    def from_f64(self, value: str, ftype: str | None = None) -> str:
        """A float64 value rounded to the kernel's float type (``ftype`` for vectors)."""
        ftype = ftype or self.t
        return value if self.t == "f64" else self.lb.cast("truncf", value, ftype.replace("f32", "f64"), ftype)

    # -- the walks over windows ------------------------------------------------------------------
    def border_walk(self, i: str, lo: str, hi: str, body) -> None:  # noqa: ANN001
        """``body(r, col, j)`` for every valid position of the windows ``(i, j)``, ``lo <= j < hi``
        (``r``, ``col``: input row and column), window offset by window offset.

        Run-time loops over the offsets (their bounds are parameters, so LLVM does not unroll
        them): the border is a small part of the work, and one loop body keeps compile time down.
        """
        lb, p = self.lb, self.p
        with lb.loop("%zero", p["wsh"]) as a:
            with lb.when(lb.in_range(i, lb.load(self.ilo, a, "int64"), lb.load(self.ihi, a, "int64"))):
                r = lb.sub(lb.add(lb.mul(i, lb.const(self.stride[0])), a), p["ph"])
                with lb.loop("%zero", p["wsw"]) as b:
                    first = lb.max(lb.load(self.jlo, b, "int64"), lo)
                    last = lb.min(lb.load(self.jhi, b, "int64"), hi)
                    col_offset = lb.sub(b, p["pw"])
                    with lb.loop(first, last) as j:
                        body(r, self.column(j, col_offset), j)

    def interior_taps(self, i: str, j: str) -> list[tuple[str, str]]:
        """The input ``(row, column)`` of every element of window ``(i, j)``, in window order."""
        lb, p = self.lb, self.p
        r0 = lb.sub(lb.mul(i, lb.const(self.stride[0])), p["ph"])
        c0 = lb.sub(lb.mul(j, lb.const(self.stride[1])), p["pw"])
        return [(lb.add(r0, lb.const(a)), lb.add(c0, lb.const(b)))
                for a in range(self.ws[0]) for b in range(self.ws[1])]

    # -- packed interior: explicit vectors of `lanes` windows ------------------------------------
    @property
    def packs(self) -> bool:
        """Whether the interior takes explicit vectors: windows tile the columns (stride equal
        to the window width, at most 4) of contiguous rows. A row of 12 outputs left LLVM's own
        8-wide loop a scalar remainder of 4 (a third of the windows); ``lanes`` windows of half a
        vector divide the LeNet rows (12 and 4) evenly."""
        return self.unit and self.kind != "select" and self.stride[1] == self.ws[1] <= 4

    @property
    def lanes(self) -> int:
        return VECTOR_WIDTH[self.dtype] // 2

    def vector_type(self, element: str, lanes: int | None = None) -> str:
        return f"vector<{lanes or self.lanes}x{element}>"

    def interior_loop(self, lo: str, hi: str, one, packed) -> None:  # noqa: ANN001
        """``one(j)`` per interior window, or ``packed(j0)`` per ``lanes`` windows where it packs."""
        if packed is None or not self.packs:
            with self.lb.loop(lo, hi) as j:
                one(j)
            return
        self.lb.vector_loop(lo, hi, self.lanes, packed, one)

    def packed_rows(self, plane: str, i: str, j0: str) -> list[str]:
        """Per window row, the ``lanes * s`` input elements under windows ``j0 .. j0 + lanes``."""
        lb, p, s = self.lb, self.p, self.stride[1]
        r0 = lb.sub(lb.mul(i, lb.const(self.stride[0])), p["ph"])
        c0 = lb.sub(lb.mul(j0, lb.const(s)), p["pw"])
        return [lb.load(self.x, self.element(plane, lb.add(r0, lb.const(a)), c0, self.x_strides), self.dtype,
                        self.lanes * s) for a in range(self.ws[0])]

    def packed_taps(self, plane: str, i: str, j0: str, rows: list[str] | None = None) -> list[str]:
        """Per window element in window order, its values for windows ``j0 .. j0 + lanes``
        (lanes ``b, b + s, ...`` of each row of :meth:`packed_rows`)."""
        s, lanes = self.stride[1], self.lanes
        return [self.lb.shuffle(x_row, [b + s * k for k in range(lanes)], self.t, lanes * s)
                for x_row in rows or self.packed_rows(plane, i, j0) for b in range(s)]

    def packed_max(self, rows: list[str]) -> str:
        """The maxima of ``lanes`` windows from their :meth:`packed_rows`."""
        taps = self.packed_taps("", "", "", rows)
        best = taps[0]
        for tap in taps[1:]:
            best = self.maximum(best, tap, self.vector_type(self.t))
        return best

    def counts(self, i: str, j0: str) -> str:
        """The float64 counts of windows ``(i, j0 .. j0 + lanes)``."""
        lb = self.lb
        row = lb.broadcast(lb.load(self.counts_h, i, "float64"), "f64", self.lanes)
        return lb.fop("arith.mulf", [row, lb.load(self.counts_w, j0, "float64", self.lanes)], self.vector_type("f64"))

    def interior_max(self, plane: str, taps: list[tuple[str, str]]) -> str:
        lb, best = self.lb, ""
        for r, col in taps:
            value = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
            best = value if not best else self.maximum(best, value)
        return best

    def border_max(self, plane: str, i: str, lo: str, hi: str, base: str, row: str) -> None:
        """``base[row + j]`` = the maximum of window ``(i, j)`` for ``lo <= j < hi``."""
        lb, t = self.lb, self.t
        lb.fill(base, lb.add(row, lo), lb.add(row, hi), lb.e.constant(float("-inf"), t), self.dtype)

        def update(r: str, col: str, j: str) -> None:
            value = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
            slot = lb.add(row, j)
            lb.store(self.maximum(lb.load(base, slot, self.dtype), value), base, slot, self.dtype)

        self.border_walk(i, lo, hi, update)

    # -- the kernels -------------------------------------------------------------------------------
    def build(self) -> str:
        lb, p = self.lb, self.p
        out_plane = lb.mul(p["OH"], p["OW"])
        in_plane = lb.mul(p["H"], p["W"])
        unrolled = self.ws[0] * self.ws[1] <= MAX_UNROLLED_WINDOW
        with lb.loop("%start", "%end") as plane:
            if self.kind == "grad":
                # Zeros first, unless disjoint windows tile the plane exactly (every position is
                # then stored once by the interior loop): that fill was a third of the traffic.
                with lb.when(lb.cmpi("ne", p["zero_fill"], "%zero")):
                    base = lb.mul(plane, in_plane)
                    lb.fill(self.out, base, lb.add(base, in_plane), self.zero(), self.dtype)
            with lb.loop("%zero", p["OH"]) as i:
                row = lb.add(lb.mul(plane, out_plane), lb.mul(i, p["OW"]))
                # The interior columns of an interior row; an empty range elsewhere.
                inside = lb.in_range(i, p["row_lo"], p["row_hi"]) if unrolled else lb.e.constant(0, "i1")
                lo = lb.select(inside, p["col_lo"], "%zero", "i64")
                hi = lb.select(inside, p["col_hi"], "%zero", "i64")
                kernel = getattr(self, self.kind)
                if unrolled:
                    kernel(plane, i, row, lo, hi, True)
                # The border segments [0, lo) and [hi, OW), through one copy of the border code.
                with lb.loop("%zero", p["segments"]) as segment:
                    left = lb.cmpi("eq", segment, "%zero")
                    kernel(plane, i, row, lb.select(left, "%zero", hi, "i64"), lb.select(left, lo, p["OW"], "i64"),
                           False)
        return lb.render()

    def forward(self, plane: str, i: str, row: str, lo: str, hi: str, interior: bool) -> None:
        lb, t, mode = self.lb, self.t, self.mode
        if interior:
            def one(j: str) -> None:
                taps = self.interior_taps(i, j)
                if mode == "max":
                    result = self.interior_max(plane, taps)
                else:
                    result = self.zero()
                    for r, col in taps:
                        value = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
                        result = lb.fop("arith.addf", [result, value], t)
                    if mode != "sum":
                        result = self.from_f64(lb.fop("arith.divf", [self.to_f64(result), self.count(i, j)], "f64"))
                lb.store(result, self.out, lb.add(row, j), self.dtype)

            def packed(j0: str) -> None:
                taps = self.packed_taps(plane, i, j0)
                vt = self.vector_type(self.t)
                if mode == "max":
                    result = taps[0]
                    for tap in taps[1:]:
                        result = self.maximum(result, tap, vt)
                else:
                    result = self.zero(vt)
                    for tap in taps:
                        result = lb.fop("arith.addf", [result, tap], vt)
                    if mode != "sum":
                        quotient = lb.fop("arith.divf", [self.to_f64(result, vt), self.counts(i, j0)],
                                          self.vector_type("f64"))
                        result = self.from_f64(quotient, vt)
                lb.store(result, self.out, lb.add(row, j0), self.dtype, self.lanes)

            self.interior_loop(lo, hi, one, packed)
            return
        if mode == "max":
            self.border_max(plane, i, lo, hi, self.out, row)
            return
        lb.fill(self.out, lb.add(row, lo), lb.add(row, hi), self.zero(), self.dtype)

        def accumulate(r: str, col: str, j: str) -> None:
            value = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
            slot = lb.add(row, j)
            lb.store(lb.fop("arith.addf", [lb.load(self.out, slot, self.dtype), value], t), self.out, slot, self.dtype)

        self.border_walk(i, lo, hi, accumulate)
        if mode != "sum":
            with lb.loop(lo, hi) as j:
                slot = lb.add(row, j)
                total = self.to_f64(lb.load(self.out, slot, self.dtype))
                lb.store(self.from_f64(lb.fop("arith.divf", [total, self.count(i, j)], "f64")),
                         self.out, slot, self.dtype)

    def grad_update(self, old: str, g: str, x: str | None, best: str | None, i: str, j: str) -> str:
        """The new gradient of one input position for window gradient ``g``."""
        lb, t = self.lb, self.t
        if self.mode == "max":
            hit = lb.fcmp("oeq", x, best, t)
            return lb.fop("arith.addf", [old, lb.select(hit, g, self.zero(), t)], t)
        if self.mode == "sum":
            return lb.fop("arith.addf", [old, g], t)
        # As the reference: share = gz / count in float64, added in float64, then rounded.
        share = lb.fop("arith.divf", [self.to_f64(g), self.count(i, j)], "f64")
        return self.from_f64(lb.fop("arith.addf", [self.to_f64(old), share], "f64"))

    def grad(self, plane: str, i: str, row: str, lo: str, hi: str, interior: bool) -> None:
        """Scatter the gradients of windows ``(i, lo..hi)`` into the (zeroed) input plane."""
        lb, p, is_max = self.lb, self.p, self.mode == "max"
        in_plane = lb.mul(plane, lb.mul(p["H"], p["W"]))

        def target(r: str, col: str) -> str:
            return lb.add(in_plane, lb.add(lb.mul(r, p["W"]), col))

        if interior:
            # Disjoint windows (stride >= window): no other window writes these positions, which
            # still hold the zeros of the fill, so the update needs no load.
            disjoint = self.stride[0] >= self.ws[0] and self.stride[1] >= self.ws[1]

            def one(j: str) -> None:
                taps = self.interior_taps(i, j)
                best = self.interior_max(plane, taps) if is_max else None
                g = lb.load(self.v, lb.add(row, j), self.dtype)
                for r, col in taps:
                    x = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype) if is_max else None
                    slot = target(r, col)
                    old = self.zero() if disjoint else lb.load(self.out, slot, self.dtype)
                    lb.store(self.grad_update(old, g, x, best, i, j), self.out, slot, self.dtype)

            def packed(j0: str) -> None:
                # Windows tile the columns and rows do not overlap: one vector store per window row.
                s, lanes = self.stride[1], self.lanes
                vt, wide = self.vector_type(self.t), self.vector_type(self.t, lanes * s)
                expand = [e // s for e in range(lanes * s)]  # each window's value over its s columns
                rows = self.packed_rows(plane, i, j0)
                g = lb.load(self.v, lb.add(row, j0), self.dtype, lanes)
                if is_max:
                    best = self.packed_max(rows)
                    spread_best = lb.shuffle(best, expand, self.t, lanes)
                if self.mode.startswith("average"):
                    share = lb.fop("arith.divf", [self.to_f64(g, vt), self.counts(i, j0)], self.vector_type("f64"))
                    spread = lb.shuffle(share, expand, "f64", lanes)
                else:
                    spread = lb.shuffle(g, expand, self.t, lanes)
                r0 = lb.sub(lb.mul(i, lb.const(self.stride[0])), p["ph"])
                c0 = lb.sub(lb.mul(j0, lb.const(s)), p["pw"])
                for a, x_row in enumerate(rows):
                    # The same operations as grad_update on zeros, lane by lane.
                    if is_max:
                        hit = lb.fcmp("oeq", x_row, spread_best, wide)
                        new = lb.fop("arith.addf", [self.zero(wide), lb.select(hit, spread, self.zero(wide), wide)],
                                     wide)
                    elif self.mode == "sum":
                        new = lb.fop("arith.addf", [self.zero(wide), spread], wide)
                    else:
                        wide64 = self.vector_type("f64", lanes * s)
                        new = self.from_f64(lb.fop("arith.addf", [self.zero(wide64), spread], wide64), wide)
                    lb.store(new, self.out, target(lb.add(r0, lb.const(a)), c0), self.dtype, lanes * s)

            self.interior_loop(lo, hi, one, packed if disjoint else None)
            return
        best_row = lb.mul(plane, p["OW"])
        if is_max:
            self.border_max(plane, i, lo, hi, self.scratch, best_row)

        def scatter(r: str, col: str, j: str) -> None:
            g = lb.load(self.v, lb.add(row, j), self.dtype)
            x = best = None
            if is_max:
                x = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
                best = lb.load(self.scratch, lb.add(best_row, j), self.dtype)
            slot = target(r, col)
            lb.store(self.grad_update(lb.load(self.out, slot, self.dtype), g, x, best, i, j), self.out, slot,
                     self.dtype)

        self.border_walk(i, lo, hi, scatter)

    def select(self, plane: str, i: str, row: str, lo: str, hi: str, interior: bool) -> None:
        """Per window ``(i, lo..hi)``, the sum of v over the positions of x's maximum."""
        lb, p, t, vt, vd = self.lb, self.p, self.t, self.vt, self.value_dtype

        def picked(acc: str, r: str, col: str, best: str) -> str:
            x = lb.load(self.x, self.element(plane, r, col, self.x_strides), self.dtype)
            value = lb.load(self.v, self.element(plane, r, col, self.v_strides), vd)
            hit = lb.fcmp("oeq", x, best, t)
            return lb.fop("arith.addf", [acc, lb.select(hit, value, self.zero(vt), vt)], vt)

        if interior:
            with lb.loop(lo, hi) as j:
                taps = self.interior_taps(i, j)
                best = self.interior_max(plane, taps)
                acc = self.zero(vt)
                for r, col in taps:
                    acc = picked(acc, r, col, best)
                lb.store(acc, self.out, lb.add(row, j), vd)
            return
        best_row = lb.mul(plane, p["OW"])
        self.border_max(plane, i, lo, hi, self.scratch, best_row)
        lb.fill(self.out, lb.add(row, lo), lb.add(row, hi), self.zero(vt), vd)

        def pick(r: str, col: str, j: str) -> None:
            slot = lb.add(row, j)
            best = lb.load(self.scratch, lb.add(best_row, j), self.dtype)
            lb.store(picked(lb.load(self.out, slot, vd), r, col, best), self.out, slot, vd)

        self.border_walk(i, lo, hi, pick)
