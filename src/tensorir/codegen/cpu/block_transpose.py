"""A matrix transpose in register blocks, emitted as LLVM-dialect lines for other kernels.

A scalar transpose loop reads or writes one element per access with a long stride between
neighbours; for a ``32 x 1024`` float32 matrix that costs about as much as the product it
follows (measured: 25 us with NumPy's strided copy). Loading ``v`` rows of a ``v x v`` block as
vectors (``v`` = the AVX2 vector width) and regrouping them with three rounds of shuffles, as
x86 transposes do with ``unpcklps``/``shufps``/``vperm2f128``, moves whole vectors both ways.
LLVM maps the generic ``shufflevector`` masks below onto those instructions.
"""

from __future__ import annotations

from tensorir.codegen.cpu.mlir_text import KernelEmitter

__all__ = ["BLOCK", "emit_block_transpose"]

#: Block side per element type: one AVX2 vector.
BLOCK = {"f32": 8, "f64": 4}


def _rounds(width: int) -> list[tuple[list[int], list[int], int]]:
    """Per shuffle round: (mask taking the low halves of a pair, mask taking the high halves,
    distance between the paired vectors). Round ``r`` pairs vectors ``2^r`` apart."""
    if width == 8:
        return [([0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15], 1),
                ([0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15], 2),
                ([0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15], 4)]
    return [([0, 4, 2, 6], [1, 5, 3, 7], 1),
            ([0, 1, 4, 5], [2, 3, 6, 7], 2)]


def _transpose_vectors(e: KernelEmitter, lines: list[str], rows: list[str], vtype: str) -> list[str]:
    """``out[j][i] = rows[i][j]`` for ``v`` vectors of width ``v``.

    Each round combines vector ``p`` with vector ``p + d`` into a "low" and a "high" result; the
    results go where the next round expects them (low at ``p``, high at ``p + d``), so after the
    last round vector ``j`` holds column ``j``, except that the first rounds interleave columns:
    the final order is fixed by :func:`_column_order`.
    """
    width = len(rows)
    current = list(rows)
    for low_mask, high_mask, distance in _rounds(width):
        nxt = [""] * width
        for p in range(width):
            if p & distance:
                continue
            a, b = current[p], current[p + distance]
            for slot, mask in ((p, low_mask), (p + distance, high_mask)):
                name = e.fresh("tr")
                lines.append(f"{name} = llvm.shufflevector {a}, {b} [{', '.join(map(str, mask))}] : {vtype}")
                nxt[slot] = name
        current = nxt
    order = _column_order(width)
    return [current[order.index(j)] for j in range(width)]


def _column_order(width: int) -> list[int]:
    """Which column each result slot of :func:`_transpose_vectors`'s rounds holds, worked out
    by running the rounds on column labels (so the masks above are the only source of truth)."""
    # Track, per slot, the list of (row, column) pairs each lane holds.
    lanes = [[(i, j) for j in range(width)] for i in range(width)]
    for low_mask, high_mask, distance in _rounds(width):
        nxt: list[list[tuple[int, int]]] = [[] for _ in range(width)]
        for p in range(width):
            if p & distance:
                continue
            joined = lanes[p] + lanes[p + distance]
            nxt[p] = [joined[k] for k in low_mask]
            nxt[p + distance] = [joined[k] for k in high_mask]
        lanes = nxt
    order = []
    for slot in lanes:
        columns = {j for _i, j in slot}
        rows = [i for i, _j in slot]
        if len(columns) != 1 or rows != list(range(width)):
            raise AssertionError("shuffle rounds do not transpose")  # the masks are wrong
        order.append(columns.pop())
    return order


def emit_block_transpose(e: KernelEmitter, lines: list[str], src: str, dst: str, rows: str, cols: str,
                         ld_dst: str, ftype: str) -> None:
    """Append lines writing ``dst[i * ld_dst + j] = src[i + j * rows]`` for ``i < rows``,
    ``j < cols``: ``src`` is a column-major ``rows x cols`` matrix (pointers ``!llvm.ptr``; i64
    sizes, both multiples of ``BLOCK[ftype]``), ``dst`` its row-major copy."""
    v = BLOCK[ftype]
    vtype = f"vector<{v}x{ftype}>"
    step = e.constant(v, "i64")
    zero = e.constant(0, "i64")
    j0, i0 = e.fresh("j"), e.fresh("i")
    lines.append(f"scf.for {j0} = {zero} to {cols} step {step} : i64 {{")
    lines.append(f"  scf.for {i0} = {zero} to {rows} step {step} : i64 {{")
    body: list[str] = []
    loaded = []
    def element(base: str, outer: str, k: int, stride: str, inner: str, tag: str) -> str:
        """The pointer to element ``(outer + k) * stride + inner`` of ``base``."""
        line = e.fresh(tag + "i")
        body.append(f"{line} = arith.addi {outer}, {e.constant(k, 'i64')} : i64")
        offset = e.fresh("off")
        body.append(f"{offset} = arith.muli {line}, {stride} : i64")
        body.append(f"{offset}b = arith.addi {offset}, {inner} : i64")
        pointer = e.fresh(tag)
        body.append(f"{pointer} = llvm.getelementptr {base}[{offset}b] : (!llvm.ptr, i64) -> !llvm.ptr, {ftype}")
        return pointer

    for jj in range(v):
        pointer = element(src, j0, jj, rows, i0, "src")
        value = e.fresh("blk")
        body.append(f"{value} = llvm.load {pointer} {{alignment = 4 : i64}} : !llvm.ptr -> {vtype}")
        loaded.append(value)
    # Vector jj holds src rows i0.., column j0 + jj: transposed, vector ii holds row i0 + ii.
    for ii, value in enumerate(_transpose_vectors(e, body, loaded, vtype)):
        pointer = element(dst, i0, ii, ld_dst, j0, "dst")
        body.append(f"llvm.store {value}, {pointer} {{alignment = 4 : i64}} : {vtype}, !llvm.ptr")
    lines += ["    " + line for line in body]
    lines.append("  }")
    lines.append("}")
