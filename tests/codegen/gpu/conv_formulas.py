"""The implicit-GEMM convolution in NumPy, formula by formula: the im2col, col2im and channels-first
kernels' definitions (``codegen/gpu/lower_conv.py``'s docstring) element by element, and
cuBLAS's column-major strided-batched gemm on flat buffers. Shared by the CPU tests of the
products' plan (``tests/runtime/cuda/test_conv_gemm.py``) and of the kernels run as one thread
(``tests/codegen/gpu/test_conv_kernels.py``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensorir.runtime.cuda.conv_gemm import CUBLAS_OP_T, ConvShape, StridedGemm

__all__ = ["channels_first", "chunks", "col2im", "convolutions", "im2col", "strided_gemm", "strided_gemm_at"]


def strided_gemm(p: StridedGemm, buffers: dict[str, np.ndarray]) -> None:
    """cuBLAS's strided-batched gemm on flat column-major buffers (written in place)."""
    def matrix(name: str, offset: int, ld: int, rows: int, cols: int) -> np.ndarray:
        """Element ``(i, j)`` at ``offset + i + j * ld`` (column-major, leading dimension ``ld``)."""
        flat = buffers[name]
        assert offset + (cols - 1) * ld + rows <= flat.size, "an operand reaches past its buffer"
        return np.lib.stride_tricks.as_strided(flat[offset:], shape=(rows, cols),
                                               strides=(flat.itemsize, ld * flat.itemsize), writeable=False)

    (an, ao, lda, sa), (bn, bo, ldb, sb), (cn, co, ldc, sc) = p.a, p.b, p.c
    for t in range(p.batch):
        a_at, b_at = ao + t * sa, bo + t * sb
        a = matrix(an, a_at, lda, p.k, p.m).T if p.op_a == CUBLAS_OP_T else matrix(an, a_at, lda, p.m, p.k)
        b = matrix(bn, b_at, ldb, p.n, p.k).T if p.op_b == CUBLAS_OP_T else matrix(bn, b_at, ldb, p.k, p.n)
        product = a.astype(np.float64) @ b.astype(np.float64)
        out = buffers[cn]
        c_at = co + t * sc
        assert c_at + (p.n - 1) * ldc + p.m <= out.size, "the result reaches past its buffer"
        c = np.lib.stride_tricks.as_strided(out[c_at:], shape=(p.m, p.n), strides=(out.itemsize, ldc * out.itemsize))
        c[...] = product + (p.beta * c if p.beta else 0)


def _tap(index: int, size: int, flip: bool) -> int:
    return size - 1 - index if flip else index


def im2col(x: np.ndarray, s: ConvShape, n0: int, nb: int) -> np.ndarray:
    """``im2col_kernel``'s formula, element by element (the kernel's docstring)."""
    cols = np.zeros((s.C * s.kh * s.kw, nb * s.P))
    for c in range(s.C):
        for a in range(s.kh):
            for b in range(s.kw):
                ta, tb = _tap(a, s.kh, s.flip), _tap(b, s.kw, s.flip)
                for n in range(nb):
                    for i in range(s.OH):
                        for j in range(s.OW):
                            r, q = i * s.sh + ta * s.dh - s.ph, j * s.sw + tb * s.dw - s.pw
                            if 0 <= r < s.H and 0 <= q < s.W:
                                cols[(c * s.kh + a) * s.kw + b, (n * s.OH + i) * s.OW + j] = x[n0 + n, c, r, q]
    return cols


def col2im(cols: np.ndarray, dx: np.ndarray, s: ConvShape, n0: int, nb: int) -> None:
    """``col2im_kernel``'s gather, element by element."""
    for n in range(nb):
        for c in range(s.C):
            for r in range(s.H):
                for q in range(s.W):
                    total = 0.0
                    for ta in range(s.kh):
                        for tb in range(s.kw):
                            oi, oj = r + s.ph - ta * s.dh, q + s.pw - tb * s.dw
                            if oi < 0 or oj < 0 or oi % s.sh or oj % s.sw or oi // s.sh >= s.OH or oj // s.sw >= s.OW:
                                continue
                            a, b = _tap(ta, s.kh, s.flip), _tap(tb, s.kw, s.flip)
                            total += cols[(c * s.kh + a) * s.kw + b, (n * s.OH + oi // s.sh) * s.OW + oj // s.sw]
                    dx[n0 + n, c, r, q] = total


def channels_first(gy: np.ndarray, n0: int, nb: int) -> np.ndarray:
    return np.ascontiguousarray(gy[n0:n0 + nb].transpose(1, 0, 2, 3)).reshape(gy.shape[1], -1)


@st.composite
def convolutions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, dict]:
    groups = draw(st.sampled_from([1, 2]))
    c, f = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    attrs = {"padding": (draw(st.sampled_from([0, 1, -1, -2])), draw(st.sampled_from([0, 2, -1, -2]))),
             "subsample": (draw(st.integers(1, 2)), draw(st.integers(1, 3))),
             "filter_dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
             "filter_flip": draw(st.booleans()), "num_groups": groups}
    h, w = draw(st.integers(5, 7)), draw(st.integers(5, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(draw(st.integers(1, 3)), c, h, w))
    filters = rng.normal(size=(f, c // groups, kh, kw))
    return x, filters, attrs


def chunks(s: ConvShape, per: int) -> list[tuple[int, int]]:
    return [(n0, min(per, s.N - n0)) for n0 in range(0, s.N, per)]


def _extent(operand: tuple[str, int, int, int], rows: int, cols: int, batch: int) -> int:
    """Elements from a buffer's start that one operand of a strided-batched gemm reaches."""
    _, offset, ld, stride = operand
    return offset + (batch - 1) * stride + (cols - 1) * ld + rows


def strided_gemm_at(product: StridedGemm, addresses: dict[str, int], dtype: str) -> None:
    """:func:`strided_gemm` on device addresses of host-backed memory (an emulated cuBLAS call)."""
    import ctypes

    p = product
    shapes = {p.a[0]: (p.k, p.m) if p.op_a == CUBLAS_OP_T else (p.m, p.k),
              p.b[0]: (p.n, p.k) if p.op_b == CUBLAS_OP_T else (p.k, p.n), p.c[0]: (p.m, p.n)}
    buffers = {}
    for operand in (p.a, p.b, p.c):
        rows, cols = shapes[operand[0]]
        count = _extent(operand, rows, cols, p.batch)
        raw = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(addresses[operand[0]])
        buffers[operand[0]] = np.frombuffer(raw, dtype=dtype, count=count)
    strided_gemm(p, buffers)
