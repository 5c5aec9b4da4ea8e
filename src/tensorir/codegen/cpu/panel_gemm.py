"""Products with a packed right operand, for the short products a loop makes at every step.

An LSTM's step multiplies ``h (32 x 256)`` by the same ``W (256 x 1024)`` 50 times a call.
OpenBLAS packs W again on every call (about a fifth of its time there) and splits the work over
its threads with more overhead than work. Here W is packed once per loop run into panels of
two vectors' width (``P[p][k][0:2v] = op(W)[k][p*2v : (p+1)*2v]``, contiguous), and every step
runs :func:`panel_product_kernel` over the panels, half of them on the loop helper thread
(runtime/loop_helper.py). The tiles are :mod:`.small_gemm`'s (up to 5 rows x 2 vectors of
accumulators on AVX2, 8 rows on AVX-512), reading the panel as one contiguous stream.

Measured on the development VM (2 cores, float32, 32 x 256 @ 256 x 1024, a C prototype of the
same scheme): 88-105 us a product on two threads against 160-210 us for OpenBLAS's, and 50 us
to pack W.

Both are range kernels over panels with the signature of the runner's ``split`` entries
(``start, end`` and six i64 arguments; array arguments are NumPy array objects).
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import LoopBuilder
from tensorir.codegen.cpu.small_gemm import _row_blocks, _tile, tile_lanes

__all__ = ["panel_pack_kernel", "panel_product_kernel", "panel_width"]


def panel_width(dtype: str) -> int:
    """Columns of op(B) per panel: two of the host's vectors."""
    return 2 * tile_lanes(dtype)


def panel_pack_kernel(name: str, dtype: str) -> str:
    """``(start, end, b, p, k, n, row_step, column_step)``: panels ``[start, end)`` of ``op(B)``
    (``k x n``; element ``[r][q]`` at ``b``'s element ``r * row_step + q * column_step``: any
    layout, a transpose included) into ``p``."""
    width = panel_width(dtype)
    lb = LoopBuilder(name, 6)
    b, p = lb.data(0), lb.data(1)
    k, row_step, column_step = lb.args[2], lb.args[4], lb.args[5]
    w = lb.const(width)
    with lb.loop("%start", "%end") as panel:
        c0 = lb.mul(panel, w)
        base = lb.mul(c0, k)
        with lb.loop("%zero", k) as kk:
            row = lb.add(base, lb.mul(kk, w))
            source = lb.add(lb.mul(kk, row_step), lb.mul(c0, column_step))
            for j in range(width):
                index = lb.add(source, lb.mul(lb.const(j), column_step))
                lb.store(lb.load(b, index, dtype), p, lb.add(row, lb.const(j)), dtype)
    return lb.render()


def panel_product_kernel(name: str, dtype: str, accumulate: bool = False) -> str:
    """``(start, end, a, p, c, m, k, n)``: columns of panels ``[start, end)`` of ``c = a @ op(B)``
    (``c += ...`` when ``accumulate``; ``a`` ``m x k``, ``c`` ``m x n``, both C-contiguous; ``p``
    op(B) packed by :func:`panel_pack_kernel`)."""
    vector = tile_lanes(dtype)
    width = 2 * vector
    lb = LoopBuilder(name, 6)
    a, p, c = lb.data(0), lb.data(1), lb.data(2)
    m, k, n = lb.args[3], lb.args[4], lb.args[5]
    w = lb.const(width)
    with lb.loop("%start", "%end") as panel:
        c0 = lb.mul(panel, w)
        start = lb.mul(c0, k)
        for lo, hi, tile_rows in _row_blocks(lb, m):
            with lb.loop(lo, hi, lb.const(tile_rows)) as r0:
                _tile(lb, dtype, a, p, c, n, k, r0, tile_rows, c0, 2, vector, b_start=start, b_stride=w,
                      accumulate=accumulate)
    return lb.render()
