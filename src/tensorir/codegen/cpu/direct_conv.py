"""A direct 3x3 convolution (stride 1, any zero padding), without im2col, for few channels.

im2col copies every input element nine times (``C*9 x P`` per image) before one product; with
few channels the product is short (``F x 9C @ 9C x P``) and the copy costs as much as it. Here
each image is copied once into a zero-padded scratch plane per channel (``C x Hp x Wp``), and
register tiles of the output, four filters by two vectors of columns, accumulate
``w[f, c, a, b] * xp[c, i + a, j + b : j + b + 2v]`` over the channels with the nine taps
unrolled: per tap two loads of the input row, four broadcasts of filter taps, eight FMAs.

Cross-correlation (the runtime flips the filters of a true convolution); one group. The ABI is
the im2col kernels' (:mod:`.lower_conv`): ``(start, end, x, w, y, scratch, params)`` over slots,
slot ``t`` taking images ``[t*per, min((t+1)*per, N))`` with its own scratch of ``C*Hp*Wp``
elements, ``params`` the int64 :data:`~.lower_conv.CONV_PARAMS`; x is read through element
strides, w (``F x C x 3 x 3``) and y (``N x F x OH x OW``) are C-contiguous.
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import LoopBuilder
from tensorir.codegen.cpu.lower_conv import CONV_PARAMS
from tensorir.codegen.cpu.registers import host_registers
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.cpu.small_gemm import tile_lanes

__all__ = ["DIRECT_FILTER_TILE", "direct_conv3x3_kernel"]

#: Filters per register tile (times two vectors of columns), by the host's vector registers:
#: 8 accumulators of AVX2's 16, 16 of AVX-512's 32.
DIRECT_FILTER_TILES = {16: 4, 32: 8}
DIRECT_FILTER_TILE = DIRECT_FILTER_TILES[host_registers().count]
_TAPS = 3


def direct_conv3x3_kernel(name: str, dtype: str) -> str:
    """The kernel text (see the module docstring) for ``dtype``."""
    if dtype not in ("float32", "float64"):
        raise NotLowerable(f"no direct convolution kernel for {dtype}")
    return _DirectConv(name, dtype).text


class _DirectConv:
    def __init__(self, name: str, dtype: str) -> None:
        self.dtype = dtype
        self.element = "f32" if dtype == "float32" else "f64"
        lb = self.lb = LoopBuilder(name, 5)
        self.x, self.w, self.y, self.scratch = lb.data(0), lb.data(1), lb.data(2), lb.data(3)
        params = lb.data(4)
        p = self.p = {key: lb.param(params, k) for k, key in enumerate(CONV_PARAMS)}
        self.hp = lb.add(p["OH"], lb.const(_TAPS - 1))  # padded plane: OH + 2 rows of OW + 2
        self.wp = lb.add(p["OW"], lb.const(_TAPS - 1))
        self.plane = lb.mul(self.hp, self.wp)
        self.F = p["Fg"]
        self.text = self.build()

    def build(self) -> str:
        lb, p = self.lb, self.p
        block = lb.mul(p["C"], self.plane)
        zero = lb.e.constant(0.0, self.element)
        with lb.loop("%start", "%end") as slot:
            xp = lb.offset(self.scratch, lb.mul(slot, block), self.dtype)
            # The borders stay zero: every image writes the interior only.
            lb.fill(xp, "%zero", block, zero, self.dtype)
            first = lb.mul(slot, p["per"])
            last = lb.min(lb.add(first, p["per"]), p["N"])
            with lb.loop(first, last) as n:
                self.pad_copy(n, xp)
                self.compute(n, xp)
        return lb.render()

    def pad_copy(self, n: str, xp: str) -> None:
        """``xp[c, r + ph, q + pw] = x[n, c, r, q]``."""
        lb, p = self.lb, self.p
        base = lb.mul(n, p["sx0"])
        with lb.loop("%zero", p["C"]) as c:
            source_c = lb.add(base, lb.mul(c, p["sx1"]))
            target_c = lb.mul(c, self.plane)
            with lb.loop("%zero", p["H"]) as r:
                source = lb.add(source_c, lb.mul(r, p["sx2"]))
                target = lb.add(target_c, lb.add(lb.mul(lb.add(r, p["ph"]), self.wp), p["pw"]))
                with lb.loop("%zero", p["W"]) as q:
                    value = lb.load(self.x, lb.add(source, lb.mul(q, p["sx3"])), self.dtype)
                    lb.store(value, xp, lb.add(target, q), self.dtype)

    def compute(self, n: str, xp: str) -> None:
        lb, p = self.lb, self.p
        v = tile_lanes(self.dtype)
        tile = DIRECT_FILTER_TILE
        whole_f = lb.mul(lb.div(self.F, lb.const(tile)), lb.const(tile))
        ow = p["OW"]
        two = lb.mul(lb.div(ow, lb.const(2 * v)), lb.const(2 * v))
        one = lb.mul(lb.div(ow, lb.const(v)), lb.const(v))
        for f_lo, f_hi, filters in (("%zero", whole_f, tile), (whole_f, self.F, 1)):
            with lb.loop(f_lo, f_hi, lb.const(filters)) as f0:
                with lb.loop("%zero", p["OH"]) as i:
                    for j_lo, j_hi, vectors, width in (("%zero", two, 2, v), (two, one, 1, v), (one, ow, 1, 1)):
                        with lb.loop(j_lo, j_hi, lb.const(vectors * width)) as j0:
                            self.tile(n, xp, f0, filters, i, j0, vectors, width)

    def tile(self, n: str, xp: str, f0: str, filters: int, i: str, j0: str, vectors: int, width: int) -> None:
        """``y[n, f0 : f0 + filters, i, j0 : j0 + vectors*width]``, summed over channels and taps."""
        lb, p = self.lb, self.p
        ftype = self.element if width == 1 else f"vector<{width}x{self.element}>"
        zero = lb.e.constant(0.0, ftype)
        taps = _TAPS * _TAPS
        filter_rows = [lb.mul(lb.add(f0, lb.const(t)), lb.mul(p["C"], lb.const(taps))) for t in range(filters)]
        with lb.carried("%zero", p["C"], [(zero, ftype)] * (filters * vectors)) as loop:
            c = loop.var
            accumulators = list(loop.args)
            plane = lb.mul(c, self.plane)
            for a in range(_TAPS):
                row = lb.add(plane, lb.add(lb.mul(lb.add(i, lb.const(a)), self.wp), j0))
                for b in range(_TAPS):
                    xs = [lb.load(xp, lb.add(row, lb.const(b + k * width)), self.dtype, width) for k in range(vectors)]
                    tap = lb.add(lb.mul(c, lb.const(taps)), lb.const(a * _TAPS + b))
                    for t in range(filters):
                        weight = lb.load(self.w, lb.add(filter_rows[t], tap), self.dtype)
                        factor = weight if width == 1 else lb.broadcast(weight, self.element, width)
                        for k in range(vectors):
                            slot = t * vectors + k
                            accumulators[slot] = lb.fop("math.fma", [factor, xs[k], accumulators[slot]], ftype)
            loop.next(accumulators)
        out_rows = lb.mul(n, self.F)
        for t in range(filters):
            row = lb.add(lb.mul(lb.add(lb.mul(lb.add(out_rows, lb.add(f0, lb.const(t))), p["OH"]), i), p["OW"]), j0)
            for k in range(vectors):
                lb.store(loop.results[t * vectors + k], self.y, lb.add(row, lb.const(k * width)), self.dtype, width)
