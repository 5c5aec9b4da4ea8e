"""The implicit-GEMM convolution's plan, checked without a device: the im2col, col2im and
channels-first kernels' formulas (``codegen/gpu/lower_conv.py``) written in NumPy, the cuBLAS
products of ``runtime/cuda/conv_gemm.py`` run by a NumPy column-major strided-batched gemm on
flat buffers, chunk by chunk, against the references of ``tir.conv2d`` and both gradients
(every padding code, strides, dilations, groups, filter_flip). What only a device checks: the
kernels themselves and cuBLAS (``pytest -m gpu tests/runtime/cuda/test_conv_pool_device.py``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.dialects.tir.conv import (
    conv2d_grad_filters_reference,
    conv2d_grad_input_reference,
    conv2d_reference,
)
from tensorir.runtime.cuda.conv_gemm import (
    CUBLAS_OP_T,
    ConvShape,
    StridedGemm,
    chunk_images,
    filter_gradient_products,
    forward_products,
    input_gradient_products,
)


def _strided_gemm(p: StridedGemm, buffers: dict[str, np.ndarray]) -> None:
    """cuBLAS's strided-batched gemm on flat column-major buffers (written in place)."""
    def matrix(name: str, offset: int, ld: int, rows: int, cols: int) -> np.ndarray:
        flat = buffers[name]
        return np.array([[flat[offset + i + j * ld] for j in range(cols)] for i in range(rows)])

    (an, ao, lda, sa), (bn, bo, ldb, sb), (cn, co, ldc, sc) = p.a, p.b, p.c
    for t in range(p.batch):
        a_at, b_at = ao + t * sa, bo + t * sb
        a = matrix(an, a_at, lda, p.k, p.m).T if p.op_a == CUBLAS_OP_T else matrix(an, a_at, lda, p.m, p.k)
        b = matrix(bn, b_at, ldb, p.n, p.k).T if p.op_b == CUBLAS_OP_T else matrix(bn, b_at, ldb, p.k, p.n)
        product = a @ b
        out = buffers[cn]
        for j in range(p.n):
            start = co + t * sc + j * ldc
            out[start:start + p.m] = product[:, j] + (p.beta * out[start:start + p.m] if p.beta else 0)


def _tap(index: int, size: int, flip: bool) -> int:
    return size - 1 - index if flip else index


def _im2col(x: np.ndarray, s: ConvShape, n0: int, nb: int) -> np.ndarray:
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


def _col2im(cols: np.ndarray, dx: np.ndarray, s: ConvShape, n0: int, nb: int) -> None:
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


def _channels_first(gy: np.ndarray, n0: int, nb: int) -> np.ndarray:
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


def _chunks(s: ConvShape, per: int) -> list[tuple[int, int]]:
    return [(n0, min(per, s.N - n0)) for n0 in range(0, s.N, per)]


@settings(max_examples=12, deadline=None)
@given(case=convolutions(), per=st.integers(1, 2))
def test_conv_products_match_the_references(case: tuple, per: int) -> None:
    x, w, attrs = case
    s = ConvShape.of(x.shape, w.shape, attrs)
    y = conv2d_reference(x, w, attrs, "float64")
    gy = np.random.default_rng(1).normal(size=y.shape)
    # Forward: im2col per chunk, then the products into y.
    buffers = {"w": w.ravel().copy(), "y": np.zeros(y.size)}
    for n0, nb in _chunks(s, per):
        buffers["cols"] = _im2col(x, s, n0, nb).ravel()
        for product in forward_products(s, n0, nb):
            _strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["y"].reshape(y.shape), y, rtol=1e-10, atol=1e-10)
    # Input gradient: the products into cols, then col2im.
    dx = np.full(x.shape, np.nan)
    buffers = {"w": w.ravel().copy(), "gy": gy.ravel().copy()}
    for n0, nb in _chunks(s, per):
        buffers["cols"] = np.zeros(s.C * s.kh * s.kw * nb * s.P)
        for product in input_gradient_products(s, n0, nb):
            _strided_gemm(product, buffers)
        _col2im(buffers["cols"].reshape(s.C * s.kh * s.kw, nb * s.P), dx, s, n0, nb)
    np.testing.assert_allclose(dx, conv2d_grad_input_reference(gy, w, x.shape, attrs, "float64"), rtol=1e-10,
                               atol=1e-10)
    # Filter gradient: channels-first gy and im2col per chunk, accumulated over the chunks.
    buffers = {"dw": np.full(w.size, np.nan)}
    for k, (n0, nb) in enumerate(_chunks(s, per)):
        buffers["cols"] = _im2col(x, s, n0, nb).ravel()
        buffers["gyt"] = _channels_first(gy, n0, nb).ravel()
        for product in filter_gradient_products(s, nb, first=k == 0):
            _strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["dw"].reshape(w.shape),
                               conv2d_grad_filters_reference(x, gy, w.shape, attrs, "float64"), rtol=1e-10, atol=1e-10)


def test_chunks_bound_the_scratch() -> None:
    attrs = {"padding": (0, 0), "subsample": (1, 1), "filter_dilation": (1, 1), "filter_flip": True, "num_groups": 1}
    s = ConvShape.of((500, 20, 12, 12), (50, 20, 5, 5), attrs)
    assert chunk_images(s, 4) == 500  # LeNet's second layer: one chunk
    per = chunk_images(s, 4, budget=20 * 25 * 64 * 4 * 7)
    assert per == 7 and s.C * s.kh * s.kw * s.P * 4 * per <= 20 * 25 * 64 * 4 * 7
    assert chunk_images(s, 8, budget=1) == 1
