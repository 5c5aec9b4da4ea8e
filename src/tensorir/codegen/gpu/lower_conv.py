"""GPU kernels of the implicit-GEMM convolution: im2col, col2im and the channels-first copy of the
output gradient; the products between them are cuBLAS calls (``runtime/cuda/conv_gemm.py``).

Notation as in ``codegen/cpu/lower_conv.py`` (NCHW, ``G`` groups, ``Cg = C / G``, ``Fg = F / G``,
``Kg = Cg*kh*kw``, ``P = OH*OW``). The batch is taken in chunks of ``nb`` images starting at
image ``n0`` (the runtime bounds the scratch). For a chunk the im2col matrix is

    cols[(c, a, b), (n, i, j)] = x[n0 + n, c, i*sh + ta*dh - ph, j*sw + tb*dw - pw]   (0 in the padding)

``C*kh*kw`` rows by ``nb*P`` columns, row-major: the reference's ``ConvGeometry.columns`` of
the chunk. ``(ta, tb)`` is ``(a, b)``, or ``(kh-1-a, kw-1-b)`` with ``flip`` (a true
convolution): flipping the im2col rows instead of the filters gives ``w_flipped @ cols`` as
``w @ cols_flipped``, and the filter gradient against flipped columns is already the flipped
gradient the reference returns, so the filters are never copied.

- :func:`im2col_kernel`: one thread per element of ``cols`` (consecutive threads write
  consecutive columns);
- :func:`col2im_kernel`: the adjoint, as a gather: one thread per element of ``dx`` sums, tap by
  tap in the reference's order, the columns that read it (``i*sh = r + ph - ta*dh`` with
  ``0 <= i < OH``, likewise ``j``), so no two threads write one element (no atomics, no zero
  fill, no dependence on scheduling);
- :func:`channels_first_kernel`: ``gyt[f, (n, p)] = gy[n0 + n, f, p]``, the output gradient of a
  chunk as ``F x nb*P`` rows, which makes the filter gradient one product per group.

Arguments: the source address, the destination address, then the ``i64`` sizes
(:data:`IM2COL_SIZES`, :data:`COL2IM_SIZES`, :data:`CHANNELS_FIRST_SIZES`). ``x`` is read through
element strides ``sx0..sx3``; ``cols``, ``dx``, ``gy`` and ``gyt`` are C-contiguous.
"""

from __future__ import annotations

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder, Param
from tensorir.codegen.gpu.kernel_text import Body

__all__ = ["CHANNELS_FIRST_SIZES", "COL2IM_SIZES", "CONV_DTYPES", "IM2COL_SIZES", "channels_first_kernel",
           "col2im_kernel", "im2col_kernel"]

CONV_DTYPES = ("float32", "float64")
_GEOMETRY = ("n0", "nb", "C", "H", "W", "kh", "kw", "OH", "OW", "sh", "sw", "dh", "dw", "ph", "pw", "flip")
IM2COL_SIZES = ("total", *_GEOMETRY, "sx0", "sx1", "sx2", "sx3")
COL2IM_SIZES = ("total", *_GEOMETRY)
CHANNELS_FIRST_SIZES = ("total", "n0", "nb", "F", "P")
_FTYPE = {"float32": "f32", "float64": "f64"}


def _builder(name: str, dtype: str, sizes: tuple[str, ...]) -> tuple[GpuKernelBuilder, Body, dict[str, str]]:
    if dtype not in CONV_DTYPES:
        raise NotLowerable(f"convolution kernels take float32 and float64, not {dtype}")
    kb = GpuKernelBuilder(name, [Param("in"), Param("out")] + [Param("size")] * len(sizes))
    return kb, Body(kb), dict(zip(sizes, kb.args[2:]))


def _tap(b: Body, flip: str, index: str, size: str) -> str:
    """The filter tap read by im2col row tap ``index``: ``size - 1 - index`` when ``flip``."""
    flipped = b.sub(b.sub(size, "%one"), index)
    return b.select(b.cmp("ne", flip, "%zero"), flipped, index)


def im2col_kernel(name: str, dtype: str) -> str:
    """``cols`` of one chunk from ``x`` (see the module docstring)."""
    kb, b, s = _builder(name, dtype, IM2COL_SIZES)
    x, cols = kb.args[:2]
    with b.grid_loop(s["total"]) as index:
        width = b.mul(s["nb"], b.mul(s["OH"], s["OW"]))
        row, column = b.div(index, width), b.rem(index, width)
        c, a, bb = b.split(row, [s["C"], s["kh"], s["kw"]])
        n, i, j = b.split(column, [s["nb"], s["OH"], s["OW"]])
        ta, tb = _tap(b, s["flip"], a, s["kh"]), _tap(b, s["flip"], bb, s["kw"])
        r = b.sub(b.add(b.mul(i, s["sh"]), b.mul(ta, s["dh"])), s["ph"])
        q = b.sub(b.add(b.mul(j, s["sw"]), b.mul(tb, s["dw"])), s["pw"])
        inside = b.both(b.both(b.cmp("sge", r, "%zero"), b.cmp("slt", r, s["H"])),
                        b.both(b.cmp("sge", q, "%zero"), b.cmp("slt", q, s["W"])))
        # Padding reads nothing: the address is clamped to element 0 and the value replaced by 0.
        at = b.dot([b.add(s["n0"], n), c, r, q], [s["sx0"], s["sx1"], s["sx2"], s["sx3"]])
        value = b.load(x, b.select(inside, at, "%zero"), dtype)
        zero = b.e.constant(0.0, _FTYPE[dtype])
        b.store(b.select(inside, value, zero, _FTYPE[dtype]), cols, index, dtype)
    return b.render()


def _source_index(b: Body, position: str, pad: str, tap: str, dilation: str, stride: str, out: str
                  ) -> tuple[str, str]:
    """The output index along one axis whose window reads input ``position`` at filter ``tap``
    (clamped to 0), and whether there is one: ``(position + pad - tap*dilation) / stride``, a
    whole number in ``[0, out)``."""
    offset = b.sub(b.add(position, pad), b.mul(tap, dilation))
    index = b.div(offset, stride)
    whole = b.cmp("eq", b.rem(offset, stride), "%zero")
    valid = b.both(b.both(b.cmp("sge", offset, "%zero"), whole), b.cmp("slt", index, out))
    return b.select(valid, index, "%zero"), valid


def col2im_kernel(name: str, dtype: str) -> str:
    """``dx`` of one chunk from its ``cols`` gradient, a gather (see the module docstring)."""
    kb, b, s = _builder(name, dtype, COL2IM_SIZES)
    cols, dx = kb.args[:2]
    t = _FTYPE[dtype]
    zero = b.e.constant(0.0, t)
    with b.grid_loop(s["total"]) as index:
        n, c, r, q = b.split(index, [s["nb"], s["C"], s["H"], s["W"]])
        width = b.mul(s["nb"], b.mul(s["OH"], s["OW"]))
        image = b.mul(n, b.mul(s["OH"], s["OW"]))
        with b.carry("%zero", s["kh"], [zero], [t]) as (ta, rows):
            i, row_valid = _source_index(b, r, s["ph"], ta, s["dh"], s["sh"], s["OH"])
            a = _tap(b, s["flip"], ta, s["kh"])
            with b.carry("%zero", s["kw"], rows.values, [t]) as (tb, taps):
                j, col_valid = _source_index(b, q, s["pw"], tb, s["dw"], s["sw"], s["OW"])
                bb = _tap(b, s["flip"], tb, s["kw"])
                row = b.add(b.mul(b.add(b.mul(c, s["kh"]), a), s["kw"]), bb)
                column = b.add(image, b.add(b.mul(i, s["OW"]), j))
                value = b.load(cols, b.add(b.mul(row, width), column), dtype)
                valid = b.both(row_valid, col_valid)
                taps.next = [b.e.add(taps.values[0], b.select(valid, value, zero, t), t)]
            rows.next = taps.results
        chunk_start = b.mul(s["n0"], b.mul(s["C"], b.mul(s["H"], s["W"])))
        b.store(rows.results[0], dx, b.add(chunk_start, index), dtype)
    return b.render()


def channels_first_kernel(name: str, dtype: str) -> str:
    """``gyt[f, (n, p)] = gy[n0 + n, f, p]`` for one chunk (see the module docstring)."""
    kb, b, s = _builder(name, dtype, CHANNELS_FIRST_SIZES)
    gy, gyt = kb.args[:2]
    with b.grid_loop(s["total"]) as index:
        f, n, p = b.split(index, [s["F"], s["nb"], s["P"]])
        source = b.add(b.mul(b.add(b.mul(b.add(s["n0"], n), s["F"]), f), s["P"]), p)
        b.store(b.load(gy, source, dtype), gyt, index, dtype)
    return b.render()
