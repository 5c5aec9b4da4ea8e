"""Register-tiled matrix products for a small inner dimension, emitted into a :class:`LoopBuilder`.

OpenBLAS reaches 30-35 GFLOP/s per core on the products of a convolution with few input
channels (LeNet's first layer: ``20 x 25 @ 25 x 576`` per image), a third of its peak: the
products are too small for its blocking. These loops keep a tile of accumulators in vector
registers instead (up to 5 rows x 2 vectors, carried through an ``scf.for``), so each step of
the inner dimension is a few loads, broadcasts and FMAs. Edges take 1-row, 1-vector and scalar
tiles. Row-major operands, element strides = row lengths; sums run in the inner dimension's
order (rounding differs from BLAS's, not the math).
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import LoopBuilder
from tensorir.codegen.cpu.registers import host_registers

__all__ = ["ROW_TILES", "ROW_TILES_BY_REGISTERS", "product_accumulate_transposed", "product_into", "tile_lanes",
           "whole_dot_tiles", "whole_tiles"]

#: Rows of the output per tile, then for the rows left over, by the host's vector registers: five
#: rows by two vectors keep 10 accumulators in AVX2's 16 registers (eight rows spilled and ran 2x
#: slower); AVX-512's 32 take eight rows (twelve were no faster).
ROW_TILES_BY_REGISTERS = {16: (5, 2, 1), 32: (8, 4, 2, 1)}
ROW_TILES = ROW_TILES_BY_REGISTERS[host_registers().count]


def tile_lanes(dtype: str) -> int:
    """Elements of ``dtype`` per vector of the register tiles (the host's widest)."""
    return host_registers().lanes(dtype)


def _ftype(dtype: str, width: int) -> str:
    element = "f32" if dtype == "float32" else "f64"
    return element if width == 1 else f"vector<{width}x{element}>"


def _split(lb: LoopBuilder, size: str, block: int) -> str:
    """The largest multiple of ``block`` not above ``size``."""
    return lb.mul(lb.div(size, lb.const(block)), lb.const(block))


def whole_tiles(dtype: str, rows: int, cols: int) -> bool:
    """Whether :func:`product_into` of ``rows x cols`` is made of its biggest tiles alone (its
    ``whole`` form: no edge tiles, a third of the code to compile)."""
    return rows % ROW_TILES[0] == 0 and cols % (2 * tile_lanes(dtype)) == 0


def whole_dot_tiles(rows_a: int) -> bool:
    """Whether :func:`product_accumulate_transposed` with ``rows_a`` rows of ``a`` takes only its
    biggest row blocks (its ``whole`` form; ``b``'s rows keep their odd last one)."""
    return rows_a % ROW_TILES[0] == 0


def product_into(lb: LoopBuilder, dtype: str, a: str, b: str, c: str, rows: str, cols: str, inner: str,
                 whole: bool = False) -> None:
    """``c (rows x cols) = a (rows x inner) @ b (inner x cols)``, all row-major and dense;
    ``whole``: only the biggest tiles, for sizes :func:`whole_tiles` accepts."""
    v = tile_lanes(dtype)
    blocks = [("%zero", rows, ROW_TILES[0])] if whole else _row_blocks(lb, rows)
    for lo, hi, tile_rows in blocks:
        with lb.loop(lo, hi, lb.const(tile_rows)) as r0:
            # Column tiles: two vectors, one vector, half a vector (SSE), then single columns.
            if whole:
                tiers: tuple[tuple[str, str, int, int], ...] = (("%zero", cols, 2, v),)
            else:
                two, one, half = _split(lb, cols, 2 * v), _split(lb, cols, v), _split(lb, cols, v // 2)
                tiers = (("%zero", two, 2, v), (two, one, 1, v), (one, half, 1, v // 2), (half, cols, 1, 1))
            for c_lo, c_hi, vectors, width in tiers:
                with lb.loop(c_lo, c_hi, lb.const(vectors * width)) as c0:
                    _tile(lb, dtype, a, b, c, cols, inner, r0, tile_rows, c0, vectors, width)


def _row_blocks(lb: LoopBuilder, rows: str) -> list[tuple[str, str, int]]:
    """``(lo, hi, tile)`` ranges covering ``[0, rows)`` with the tiles of :data:`ROW_TILES`."""
    blocks, lo = [], "%zero"
    for tile in ROW_TILES:
        hi = rows if tile == 1 else lb.add(lo, _split(lb, lb.sub(rows, lo), tile))
        blocks.append((lo, hi, tile))
        lo = hi
    return blocks


def _tile(lb: LoopBuilder, dtype: str, a: str, b: str, c: str, cols: str, inner: str, r0: str, tile_rows: int,
          c0: str, vectors: int, width: int, b_start: str | None = None, b_stride: str | None = None,
          accumulate: bool = False) -> None:
    """One tile: rows ``r0 ..`` of ``c``, columns ``c0 ..``; ``b``'s row ``k`` of the tile starts
    at element ``b_start + k * b_stride`` (default: ``c0 + k * cols``, ``b`` dense; a packed
    panel gives its own). ``accumulate``: add the tile to ``c`` instead of storing it."""
    ftype = _ftype(dtype, width)
    element = _ftype(dtype, 1)
    zero = lb.e.constant(0.0, ftype)
    with lb.carried("%zero", inner, [(zero, ftype)] * (tile_rows * vectors)) as loop:
        k = loop.var
        row_b = lb.add(lb.mul(k, b_stride or cols), b_start or c0)
        bs = [lb.load(b, lb.add(row_b, lb.const(j * width)), dtype, width) for j in range(vectors)]
        new = []
        for i in range(tile_rows):
            scalar = lb.load(a, lb.add(lb.mul(lb.add(r0, lb.const(i)), inner), k), dtype)
            factor = scalar if width == 1 else lb.broadcast(scalar, element, width)
            for j in range(vectors):
                new.append(lb.fop("math.fma", [factor, bs[j], loop.args[i * vectors + j]], ftype))
        loop.next(new)
    for i in range(tile_rows):
        row_c = lb.add(lb.mul(lb.add(r0, lb.const(i)), cols), c0)
        for j in range(vectors):
            index = lb.add(row_c, lb.const(j * width))
            value = loop.results[i * vectors + j]
            if accumulate:
                value = lb.fop("arith.addf", [lb.load(c, index, dtype, width), value], ftype)
            lb.store(value, c, index, dtype, width)


def product_accumulate_transposed(lb: LoopBuilder, dtype: str, a: str, b: str, c: str, rows_a: str, rows_b: str,
                                  inner: str, whole: bool = False) -> None:
    """``c (rows_b x rows_a) += (a (rows_a x inner) @ b (rows_b x inner)^T)^T``: the dot products
    of every row of ``a`` with every row of ``b``, stored as ``c[j, i]`` (row-major, dense);
    ``whole``: only the biggest row blocks of ``a``, for sizes :func:`whole_dot_tiles` accepts."""
    v = tile_lanes(dtype)
    full_b = _split(lb, rows_b, 2)
    a_blocks = [("%zero", rows_a, ROW_TILES[0])] if whole else _row_blocks(lb, rows_a)
    for a_lo, a_hi, tile_a in a_blocks:
        with lb.loop(a_lo, a_hi, lb.const(tile_a)) as i0:
            for b_lo, b_hi, tile_b in (("%zero", full_b, 2), (full_b, rows_b, 1)):
                with lb.loop(b_lo, b_hi, lb.const(tile_b)) as j0:
                    _dot_tile(lb, dtype, a, b, c, rows_a, inner, i0, tile_a, j0, tile_b, v)


def _dot_tile(lb: LoopBuilder, dtype: str, a: str, b: str, c: str, rows_a: str, inner: str, i0: str, tile_a: int,
              j0: str, tile_b: int, v: int) -> None:
    vtype, element = _ftype(dtype, v), _ftype(dtype, 1)
    count = tile_a * tile_b
    whole = _split(lb, inner, v)
    rows_i = [lb.mul(lb.add(i0, lb.const(i)), inner) for i in range(tile_a)]
    rows_j = [lb.mul(lb.add(j0, lb.const(j)), inner) for j in range(tile_b)]

    def step(loop, width: int, ftype: str) -> None:  # noqa: ANN001
        k = loop.var
        xs = [lb.load(a, lb.add(r, k), dtype, width) for r in rows_i]
        ys = [lb.load(b, lb.add(r, k), dtype, width) for r in rows_j]
        loop.next([lb.fop("math.fma", [xs[i], ys[j], loop.args[i * tile_b + j]], ftype)
                   for i in range(tile_a) for j in range(tile_b)])

    with lb.carried("%zero", whole, [(lb.e.constant(0.0, vtype), vtype)] * count, lb.const(v)) as loop:
        step(loop, v, vtype)
    sums = [(lb.reduce_add(r, element, v), element) for r in loop.results]
    with lb.carried(whole, inner, sums) as tail:
        step(tail, 1, element)
    for i in range(tile_a):
        for j in range(tile_b):
            slot = lb.add(lb.mul(lb.add(j0, lb.const(j)), rows_a), lb.add(i0, lb.const(i)))
            total = lb.fop("arith.addf", [lb.load(c, slot, dtype), tail.results[i * tile_b + j]], element)
            lb.store(total, c, slot, dtype)
