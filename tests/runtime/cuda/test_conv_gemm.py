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
from tests.codegen.gpu.conv_formulas import channels_first, chunks, col2im, convolutions, im2col, strided_gemm

from tensorir.dialects.tir.conv import (
    conv2d_grad_filters_reference,
    conv2d_grad_input_reference,
    conv2d_reference,
)
from tensorir.runtime.cuda.conv_gemm import (
    ConvShape,
    chunk_images,
    filter_gradient_products,
    forward_products,
    input_gradient_products,
)


@settings(max_examples=12, deadline=None)
@given(case=convolutions(), per=st.integers(1, 2))
def test_conv_products_match_the_references(case: tuple, per: int) -> None:
    x, w, attrs = case
    s = ConvShape.of(x.shape, w.shape, attrs)
    y = conv2d_reference(x, w, attrs, "float64")
    gy = np.random.default_rng(1).normal(size=y.shape)
    # Forward: im2col per chunk, then the products into y.
    buffers = {"w": w.ravel().copy(), "y": np.zeros(y.size)}
    for n0, nb in chunks(s, per):
        buffers["cols"] = im2col(x, s, n0, nb).ravel()
        for product in forward_products(s, n0, nb):
            strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["y"].reshape(y.shape), y, rtol=1e-10, atol=1e-10)
    # Input gradient: the products into cols, then col2im.
    dx = np.full(x.shape, np.nan)
    buffers = {"w": w.ravel().copy(), "gy": gy.ravel().copy()}
    for n0, nb in chunks(s, per):
        buffers["cols"] = np.zeros(s.C * s.kh * s.kw * nb * s.P)
        for product in input_gradient_products(s, n0, nb):
            strided_gemm(product, buffers)
        col2im(buffers["cols"].reshape(s.C * s.kh * s.kw, nb * s.P), dx, s, n0, nb)
    np.testing.assert_allclose(dx, conv2d_grad_input_reference(gy, w, x.shape, attrs, "float64"), rtol=1e-10,
                               atol=1e-10)
    # Filter gradient: channels-first gy and im2col per chunk, accumulated over the chunks.
    buffers = {"dw": np.full(w.size, np.nan)}
    for k, (n0, nb) in enumerate(chunks(s, per)):
        buffers["cols"] = im2col(x, s, n0, nb).ravel()
        buffers["gyt"] = channels_first(gy, n0, nb).ravel()
        for product in filter_gradient_products(s, nb, first=k == 0):
            strided_gemm(product, buffers)
    np.testing.assert_allclose(buffers["dw"].reshape(w.shape),
                               conv2d_grad_filters_reference(x, gy, w.shape, attrs, "float64"), rtol=1e-10, atol=1e-10)


def test_chunks_bound_the_scratch() -> None:
    attrs = {"padding": (0, 0), "subsample": (1, 1), "filter_dilation": (1, 1), "filter_flip": True, "num_groups": 1}
    s = ConvShape.of((500, 20, 12, 12), (50, 20, 5, 5), attrs)
    assert chunk_images(s, 4) == 500  # LeNet's second layer: one chunk
    per = chunk_images(s, 4, budget=20 * 25 * 64 * 4 * 7)
    assert per == 7 and s.C * s.kh * s.kw * s.P * 4 * per <= 20 * 25 * 64 * 4 * 7
    assert chunk_images(s, 8, budget=1) == 1
