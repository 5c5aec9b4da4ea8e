"""Range kernels for matrix products with a skinny output or a small inner dimension.

``C = alpha * op(A) @ op(B) + beta * C`` with ``op(A)`` ``m x k``, ``op(B)`` ``k x n`` and ``C``
``m x n`` row-major and dense. Iteration ``t`` of ``[start, end)`` computes the rows
``[t*rows, (t+1)*rows)`` of ``C`` (the runtime splits a product over threads by its choice of
``rows``, unevenly if it likes). The operands are addressed through element strides, so a
transposed operand is only a swap of its two strides: ``op(A)[i, p] = A[i*sa0 + p*sa1]``,
``op(B)[p, j] = B[p*sb0 + j*sb1]``. With ``accumulate`` the old ``C`` is read from a separate
argument ``c_in``: the runtime passes the accumulated operand as it is instead of copying it
into the output first, and it may be the output itself, since every element is read once,
only for its own new value. Without it ``C`` is never read (it may be uninitialized, as in BLAS
with ``beta = 0``). Sums run in the inner dimension's order or, for ``dots``, by vector lanes:
rounding differs from BLAS's, not the math.

Four kernels, by which stride of the operands is 1 (vector loads need unit steps):

- ``dots`` (``sa1 = sb0 = 1``, few output columns): every output is a dot product over ``k`` of a
  row of ``op(A)`` and a column of ``op(B)`` (the runtime packs ``op(B)`` as ``n x k`` when its
  columns are not contiguous). A tile of 2 rows x 5 columns keeps 10 vector accumulators; each
  step loads 2 + 5 vectors for 10 FMAs.
- ``columns`` (``sa0 = 1``, few output columns): ``op(A)`` is a transposed row-major matrix (the
  gradient ``x.T @ g``), contiguous along the output rows. A tile of 2 vectors of rows x 5
  columns: per step of ``k`` two vector loads of a row of ``A`` and five broadcasts of ``op(B)``
  elements for 10 FMAs; the tile is written back transposed, lane by lane.
- ``small_inner`` (``sb1 = 1``, small ``k``, wide ``n``): ``op(A)`` elements broadcast against
  rows of ``op(B)`` (the runtime packs ``op(B)`` as ``k x n`` when its rows are not contiguous)
  into a tile of rows x 2 vectors, as in :mod:`.small_gemm`; the epilogue is vector loads and
  stores of ``C`` rows.
- ``short`` (``sb1 = 1``, few rows, any ``k``): ``small_inner``'s tiles with the column strips
  outermost, so that each strip of ``op(B)`` is read from memory once (a minibatch of 20 rows
  times a 784 x 500 weight: about twice OpenBLAS's rate on one AVX-512 core, whose blocking is
  made for many rows).

Measured on a 2-core Zen 3 (float32, one thread): ``dots`` on ``600x784 @ 784x10`` (``x @ W`` of a
logistic regression) and ``columns`` on its gradient ``x.T @ g`` each take 124 us, about 38
GFMA/s, the FMA units' limit, where OpenBLAS (built for wide outputs) took 140-270 us on two
threads. The numbers the runtime's choice rests on are in ``runtime/native_blas.py``
(``skinny_kind``).

Kernel arguments (ABI of :mod:`.lower_elementwise`): the arrays ``a``, ``b``, ``c_in``, ``c``, then
:data:`SKINNY_PARAMS`: sizes, element strides and ``alpha``/``beta`` as the bit patterns of
float64 values (the ABI passes integers only).

:func:`pack_kernel` copies a strided matrix into a dense one (the runtime's packing of ``op(B)``):
iterations are the destination's columns, and for each the rows are read in order, which for
the packs above is the source's contiguous direction. Its arguments: ``src``, ``dst``, then
``rows``, ``cols`` of ``dst`` and the element strides of ``src`` along them.
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_builder import LoopBuilder
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.cpu.small_gemm import ROW_TILES, tile_lanes

__all__ = ["PACK_N_ARGS", "SKINNY_DTYPES", "SKINNY_KINDS", "SKINNY_N_ARGS", "SKINNY_PARAMS", "pack_kernel",
           "skinny_kernel", "skinny_tiles"]

SKINNY_KINDS = ("dots", "columns", "small_inner", "short")
SKINNY_DTYPES = ("float32", "float64")
#: Integer arguments after the arrays a, b, c_in, c (alpha and beta: float64 bits).
SKINNY_PARAMS = ("m", "n", "k", "rows", "sa0", "sa1", "sb0", "sb1", "alpha", "beta")
SKINNY_N_ARGS = 4 + len(SKINNY_PARAMS)
#: src, dst, rows, cols, and src's two element strides.
PACK_N_ARGS = 6

#: Output columns per tile of ``dots`` and ``columns``, then single columns for the rest: five
#: columns by two rows (or two vectors of rows) are 10 accumulators of the 16 AVX2 registers,
#: leaving room for the loaded vectors; 2 x 5 ran at the FMA units' limit in a C experiment.
_COLUMN_TILES = (5, 1)
#: Rows per tile of ``dots`` (then single rows) and of ``small_inner`` (rows x 2 vectors as in
#: small_gemm, by the host's registers).
_DOT_ROW_TILES = (2, 1)
_SMALL_INNER_ROW_TILES = ROW_TILES


def skinny_kernel(name: str, kind: str, dtype: str, accumulate: bool, whole: tuple[bool, bool] = (False, False)) -> str:
    """The MLIR text of the range kernel ``name`` (see the module docstring); ``accumulate``:
    add ``beta * C`` (else ``C`` is only written); ``whole``: (rows, columns) that are whole
    tiles (see :func:`skinny_tiles`), whose edge tiles the kernel leaves out."""
    if kind not in SKINNY_KINDS or dtype not in SKINNY_DTYPES:
        raise NotLowerable(f"no skinny product kernel {kind} for {dtype}")
    return _SkinnyKernel(name, kind, dtype, accumulate, whole).text


def skinny_tiles(kind: str, dtype: str) -> tuple[int, int]:
    """The (rows, columns) of ``kind``'s biggest tile: an iteration's rows and the output's
    columns that are multiples of them need no edge tiles."""
    v = tile_lanes(dtype)
    return {"dots": (_DOT_ROW_TILES[0], _COLUMN_TILES[0]), "columns": (2 * v, _COLUMN_TILES[0]),
            "small_inner": (_SMALL_INNER_ROW_TILES[0], 2 * v), "short": (_SMALL_INNER_ROW_TILES[0], 2 * v)}[kind]


def pack_kernel(name: str, dtype: str) -> str:
    """The MLIR text of ``dst[r, q] = src[r*s0 + q*s1]`` for the columns ``q`` in ``[start, end)``
    of a dense ``rows x cols`` ``dst`` (see the module docstring)."""
    if dtype not in SKINNY_DTYPES:
        raise NotLowerable(f"no pack kernel for {dtype}")
    lb = LoopBuilder(name, PACK_N_ARGS)
    src, dst = lb.data(0), lb.data(1)
    rows, cols, s0, s1 = lb.args[2:]
    with lb.loop("%start", "%end") as q:
        start = lb.mul(q, s1)
        with lb.loop("%zero", rows) as r:
            value = lb.load(src, lb.add(start, lb.mul(r, s0)), dtype)
            lb.store(value, dst, lb.add(lb.mul(r, cols), q), dtype)
    return lb.render()


def _vector_type(element: str, width: int) -> str:
    return element if width == 1 else f"vector<{width}x{element}>"


class _SkinnyKernel:
    def __init__(self, name: str, kind: str, dtype: str, accumulate: bool, whole: tuple[bool, bool]) -> None:
        self.dtype, self.accumulate = dtype, accumulate
        self.whole_rows, self.whole_columns = whole
        self.element = "f32" if dtype == "float32" else "f64"
        self.v = tile_lanes(dtype)
        lb = self.lb = LoopBuilder(name, SKINNY_N_ARGS)
        self.a, self.b = lb.data(0), lb.data(1)
        self.c_in = lb.data(2) if accumulate else ""
        self.c = lb.data(3)
        params = dict(zip(SKINNY_PARAMS, lb.args[4:]))
        self.m, self.n, self.k = params["m"], params["n"], params["k"]
        # Iteration t computes the output rows [t*rows, (t+1)*rows) (the last ends at m); for
        # ``short`` the columns (the last ends at n).
        self.first = lb.mul("%start", params["rows"])
        self.last = lb.min(lb.mul("%end", params["rows"]), self.n if kind == "short" else self.m)
        self.sa0, self.sa1, self.sb0, self.sb1 = params["sa0"], params["sa1"], params["sb0"], params["sb1"]
        self.alpha = self._float_param(params["alpha"])
        self.beta = self._float_param(params["beta"])
        self._splats: dict[tuple[str, int], str] = {}
        getattr(self, "_" + kind)()
        self.text = lb.render()

    # -- helpers -------------------------------------------------------------------------------
    def _float_param(self, bits: str) -> str:
        """A float64 passed as its bits, in the kernel's float type."""
        value = self.lb.cast("bitcast", bits, "i64", "f64")
        return value if self.element == "f64" else self.lb.cast("truncf", value, "f64", "f32")

    def _splat(self, scalar: str, width: int) -> str:
        """``scalar`` as a ``width``-lane vector, made once before the loops."""
        if width == 1:
            return scalar
        key = (scalar, width)
        if key not in self._splats:
            self._splats[key] = self.lb.broadcast(scalar, self.element, width)
        return self._splats[key]

    def _multiple(self, size: str, block: int) -> str:
        """The largest multiple of ``block`` not above ``size`` (``size >= 0``)."""
        lb = self.lb
        return size if block == 1 else lb.mul(lb.div(size, lb.const(block)), lb.const(block))

    def _vector_tiers(self, lo: str, hi: str, whole: bool = False) -> list[tuple[str, str, int, int]]:
        """``[lo, hi)`` as (start, end, vectors, width) tiers: tiles of two vectors, of one vector,
        then single elements (``whole``: tiles of two vectors alone)."""
        lb, v = self.lb, self.v
        if whole:
            return [(lo, hi, 2, v)]
        two = lb.add(lo, self._multiple(lb.sub(hi, lo), 2 * v))
        one = lb.add(two, self._multiple(lb.sub(hi, two), v))
        return [(lo, two, 2, v), (two, one, 1, v), (one, hi, 1, 1)]

    def _tiers(self, lo: str, hi: str, tiles: tuple[int, ...], whole: bool = False) -> list[tuple[str, str, int]]:
        """``(lo, hi, tile)`` ranges covering ``[lo, hi)``, each a whole number of its tile
        (``whole``: the biggest tile alone)."""
        if whole:
            return [(lo, hi, tiles[0])]
        tiers = []
        for tile in tiles:
            end = hi if tile == 1 else self.lb.add(lo, self._multiple(self.lb.sub(hi, lo), tile))
            tiers.append((lo, end, tile))
            lo = end
        return tiers

    def _result(self, total: str, index: str, width: int) -> None:
        """``C[index:index + width] = alpha * total (+ beta * C_in[...])``."""
        lb, vtype = self.lb, _vector_type(self.element, width)
        value = lb.fop("arith.mulf", [self._splat(self.alpha, width), total], vtype)
        if self.accumulate:
            old = lb.load(self.c_in, index, self.dtype, width)
            value = lb.fop("math.fma", [self._splat(self.beta, width), old, value], vtype)
        lb.store(value, self.c, index, self.dtype, width)

    def _zeros(self, count: int, width: int) -> list[tuple[str, str]]:
        vtype = _vector_type(self.element, width)
        return [(self.lb.e.constant(0.0, vtype), vtype)] * count

    # -- dots: C[i, j] = sum_p A[i, p] B^T[j, p], rows of A and of B^T contiguous ------------------
    def _dots(self) -> None:
        lb = self.lb
        whole = self._multiple(self.k, self.v)
        for lo, hi, rows in self._tiers(self.first, self.last, _DOT_ROW_TILES, self.whole_rows):
            with lb.loop(lo, hi, lb.const(rows)) as i0:
                for c_lo, c_hi, cols in self._tiers("%zero", self.n, _COLUMN_TILES, self.whole_columns):
                    with lb.loop(c_lo, c_hi, lb.const(cols)) as j0:
                        self._dot_tile(i0, rows, j0, cols, whole)

    def _dot_tile(self, i0: str, rows: int, j0: str, cols: int, whole: str) -> None:
        lb, v, element = self.lb, self.v, self.element
        a_rows = [lb.mul(lb.add(i0, lb.const(r)), self.sa0) for r in range(rows)]
        b_rows = [lb.mul(lb.add(j0, lb.const(c)), self.sb1) for c in range(cols)]

        def step(loop, width: int) -> None:  # noqa: ANN001
            p = loop.var
            xs = [lb.load(self.a, lb.add(row, p), self.dtype, width) for row in a_rows]
            ys = [lb.load(self.b, lb.add(row, p), self.dtype, width) for row in b_rows]
            ftype = _vector_type(element, width)
            loop.next([lb.fop("math.fma", [xs[r], ys[c], loop.args[r * cols + c]], ftype)
                       for r in range(rows) for c in range(cols)])

        with lb.carried("%zero", whole, self._zeros(rows * cols, v), lb.const(v)) as vectors:
            step(vectors, v)
        sums = [(lb.reduce_add(acc, element, v), element) for acc in vectors.results]
        with lb.carried(whole, self.k, sums) as tail:  # the k % v last elements
            step(tail, 1)
        for r in range(rows):
            row = lb.mul(lb.add(i0, lb.const(r)), self.n)
            for c in range(cols):
                self._result(tail.results[r * cols + c], lb.add(row, lb.add(j0, lb.const(c))), 1)

    # -- columns: C[i, :] += A[i, p] B[p, :] with A contiguous along i ----------------------------
    def _columns(self) -> None:
        lb = self.lb
        # Whole tiles of two vectors of rows, then one vector, then single rows (the last block).
        for lo, hi, vectors, width in self._vector_tiers(self.first, self.last, self.whole_rows):
            with lb.loop(lo, hi, lb.const(vectors * width)) as i0:
                for c_lo, c_hi, cols in self._tiers("%zero", self.n, _COLUMN_TILES, self.whole_columns):
                    with lb.loop(c_lo, c_hi, lb.const(cols)) as j0:
                        self._column_tile(i0, vectors, width, j0, cols)

    def _column_tile(self, i0: str, vectors: int, width: int, j0: str, cols: int) -> None:
        lb, element = self.lb, self.element
        ftype = _vector_type(element, width)
        b_cols = [lb.mul(lb.add(j0, lb.const(c)), self.sb1) for c in range(cols)]
        with lb.carried("%zero", self.k, self._zeros(vectors * cols, width)) as loop:
            p = loop.var
            a_row = lb.add(lb.mul(p, self.sa1), i0)
            xs = [lb.load(self.a, lb.add(a_row, lb.const(r * width)), self.dtype, width) for r in range(vectors)]
            b_row = lb.mul(p, self.sb0)
            new = [""] * (vectors * cols)
            for c in range(cols):
                scalar = lb.load(self.b, lb.add(b_row, b_cols[c]), self.dtype)
                factor = scalar if width == 1 else lb.broadcast(scalar, element, width)
                for r in range(vectors):
                    new[r * cols + c] = lb.fop("math.fma", [xs[r], factor, loop.args[r * cols + c]], ftype)
            loop.next(new)
        # The tile holds C[i0 + r*width + lane, j0 + c] in lane ``lane`` of accumulator (r, c): a
        # loop over the lanes (not unrolled: 80 scalar results a tile made the text 4x longer).
        if width == 1:
            self._column_results(loop.results, i0, vectors, j0, cols, None, 1)
            return
        with lb.loop("%zero", lb.const(width)) as lane:
            self._column_results(loop.results, i0, vectors, j0, cols, lane, width)

    def _column_results(self, accs: list[str], i0: str, vectors: int, j0: str, cols: int, lane: str | None,
                        width: int) -> None:
        lb = self.lb
        for r in range(vectors):
            first = lb.add(i0, lb.const(r * width))
            row = lb.mul(first if lane is None else lb.add(first, lane), self.n)
            for c in range(cols):
                acc = accs[r * cols + c]
                value = acc if lane is None else lb.extract(acc, lane, self.element, width)
                self._result(value, lb.add(row, lb.add(j0, lb.const(c))), 1)

    # -- small_inner: C[i, :] = sum_p A[i, p] B[p, :] with B's rows contiguous, p short -----------
    def _small_inner(self) -> None:
        lb, v = self.lb, self.v
        # Splats made here, at the top level, dominate every loop that uses them.
        self._splat(self.alpha, v)
        if self.accumulate:
            self._splat(self.beta, v)
        for lo, hi, rows in self._tiers(self.first, self.last, _SMALL_INNER_ROW_TILES, self.whole_rows):
            with lb.loop(lo, hi, lb.const(rows)) as i0:
                for c_lo, c_hi, vectors, width in self._vector_tiers("%zero", self.n, self.whole_columns):
                    with lb.loop(c_lo, c_hi, lb.const(vectors * width)) as j0:
                        self._inner_tile(i0, rows, j0, vectors, width)

    # -- short: small_inner's tiles for few rows and any k, columns outermost --------------------
    def _short(self) -> None:
        # A batch of a few rows against a wide weight: each column strip of op(B) (k rows of two
        # vectors) is read once, from memory, and stays in cache while every row tile uses it;
        # the rows of op(A) (m x k, a few hundred KiB at most) stay in cache across the strips.
        # small_inner's order (rows outermost) would read all of op(B) again for every row tile.
        # The iterations are column ranges: split over threads, each reads its part of op(B).
        lb, v = self.lb, self.v
        self._splat(self.alpha, v)
        if self.accumulate:
            self._splat(self.beta, v)
        for c_lo, c_hi, vectors, width in self._vector_tiers(self.first, self.last, self.whole_columns):
            with lb.loop(c_lo, c_hi, lb.const(vectors * width)) as j0:
                for lo, hi, rows in self._tiers("%zero", self.m, _SMALL_INNER_ROW_TILES, self.whole_rows):
                    with lb.loop(lo, hi, lb.const(rows)) as i0:
                        self._inner_tile(i0, rows, j0, vectors, width)

    def _inner_tile(self, i0: str, rows: int, j0: str, vectors: int, width: int) -> None:
        lb, element = self.lb, self.element
        ftype = _vector_type(element, width)
        a_rows = [lb.mul(lb.add(i0, lb.const(r)), self.sa0) for r in range(rows)]
        with lb.carried("%zero", self.k, self._zeros(rows * vectors, width)) as loop:
            p = loop.var
            b_row = lb.add(lb.mul(p, self.sb0), j0)
            ys = [lb.load(self.b, lb.add(b_row, lb.const(q * width)), self.dtype, width) for q in range(vectors)]
            a_step = lb.mul(p, self.sa1)
            new = []
            for r in range(rows):
                scalar = lb.load(self.a, lb.add(a_rows[r], a_step), self.dtype)
                factor = scalar if width == 1 else lb.broadcast(scalar, element, width)
                new += [lb.fop("math.fma", [factor, ys[q], loop.args[r * vectors + q]], ftype) for q in range(vectors)]
            loop.next(new)
        for r in range(rows):
            row = lb.add(lb.mul(lb.add(i0, lb.const(r)), self.n), j0)
            for q in range(vectors):
                self._result(loop.results[r * vectors + q], lb.add(row, lb.const(q * width)), width)
