"""A LeNet-like training step under ``device=cuda``, prepared without a GPU (``TENSORIR_CUDA_PREPARE``):
the convolutions, their gradients and the pooling ops take GPU steps (no host fallback), their
kernels' PTX is accepted by ``ptxas``, and the step's numbers (run on the NumPy reference here)
equal the CPU's. The conv choice cache and cuDNN's descriptor parameters are checked as data."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.gpu import step_table as gpu_table
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas
from tensorir.codegen.step_kinds import StepKind
from tensorir.runtime.cuda.conv_choice import CUDNN, IMPLICIT_GEMM, ConvChoice, ConvChoices, recorded_choices
from tensorir.runtime.cuda.conv_gemm import ConvShape
from tensorir.runtime.cuda.cudnn import (
    CudnnRefused,
    cudnn_output_size,
    descriptor_parameters,
    refusal_reason,
)
from tensorir.runtime.cuda.graphs import GRAPHS_VARIABLE
from tensorir.runtime.cuda.prepare import PREPARE_VARIABLE, bundle_ptx
from tensorir.tensor.signal import pool

_CONV_POOL_OPS = {"tir.conv2d", "tir.conv2d_grad_input", "tir.conv2d_grad_filters", "tir.pool2d", "tir.pool2d_grad"}


def _cnn(dtype: str, mode: str) -> tuple[tr.Function, list[np.ndarray], list[tr.SharedVariable]]:
    rng = np.random.default_rng(0)
    x, y = T.tensor4("x", dtype=dtype), T.ivector("y")
    w1 = tr.shared((rng.normal(size=(4, 1, 3, 3)) * 0.3).astype(dtype), name="w1")
    w2 = tr.shared((rng.normal(size=(6, 2, 3, 3)) * 0.3).astype(dtype), name="w2")
    v = tr.shared((rng.normal(size=(6 * 2 * 2, 3)) * 0.3).astype(dtype), name="v")
    h = T.tanh(pool.pool_2d(T.nnet.conv2d(x, w1, border_mode="half"), ws=(2, 2), ignore_border=True, mode=mode))
    h = T.tanh(pool.pool_2d(T.nnet.conv2d(h, w2, subsample=(1, 1), num_groups=2, filter_flip=False),
                            ws=(2, 2), ignore_border=True, mode=mode))
    p = T.nnet.softmax(T.dot(h.flatten(2), v))
    loss = T.mean(T.nnet.categorical_crossentropy(p, y))
    params = [w1, w2, v]
    grads = tr.grad(loss, params)
    f = tr.function([x, y], loss, updates=[(q, q - 0.1 * g) for q, g in zip(params, grads)])
    data = [rng.normal(size=(5, 1, 12, 12)).astype(dtype), rng.integers(0, 3, 5).astype("int32")]
    return f, data, params


@pytest.mark.parametrize(("dtype", "mode"), [("float32", "max"), ("float64", "average_exc_pad")])
def test_a_prepared_cnn_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str, mode: str) -> None:
    with tr.change_flags(device="cpu"):
        cpu, data, cpu_params = _cnn(dtype, mode)
        expected = [cpu(*data) for _ in range(2)]
    monkeypatch.setenv(PREPARE_VARIABLE, str(tmp_path))
    monkeypatch.setenv(GRAPHS_VARIABLE, "1")
    with tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, _, params = _cnn(dtype, mode)
    executor = f.executor
    assert executor.kind == "cuda" and executor.prepared
    # The whole training step may be one CUDA graph: its host steps compute shapes only, its
    # uploads are of constants and shapes (kept), its one download is the returned cost.
    assert executor.graphed.reason is None, executor.graphed.reason
    kinds = dict(zip([op.name for op in executor.plan.ops], executor.plan.plan_kinds))
    assert {name for name in kinds if name in _CONV_POOL_OPS} == _CONV_POOL_OPS
    for op in executor.plan.ops:
        if op.name in _CONV_POOL_OPS:
            assert gpu_table.step_kind(op) is StepKind.CONV_POOL
    on_gpu = {name for name, kind in executor.step_kinds if kind == "gpu"}
    assert _CONV_POOL_OPS <= on_gpu, executor.describe()
    text = executor.kernels.module_text()
    for role in ("im2col", "col2im", "channels_first"):
        assert f"gpu.func @conv_{role}_{dtype}(" in text
    assert f"gpu.func @pool_forward_{mode}_{dtype}_{dtype}(" in text
    ptx = bundle_ptx(tmp_path, text, "sm_90")
    assert ptx is not None
    if find_ptxas() is not None:
        cubin, messages = assemble(ptx, "sm_90")
        assert cubin, messages
    tolerance = 1e-5 if dtype == "float32" else 1e-10
    for want in expected:
        np.testing.assert_allclose(f(*data), want, rtol=tolerance, atol=tolerance)
    for p, q in zip(params, cpu_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=tolerance, atol=tolerance)


_ATTRS = {"padding": (1, 2), "subsample": (2, 1), "filter_dilation": (1, 2), "filter_flip": True, "num_groups": 2}


def test_cudnn_descriptor_parameters() -> None:
    s = ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    p = descriptor_parameters(s, "float32")
    assert p.x == (3, 4, 9, 11) and p.w == (6, 2, 3, 3) and p.y == (3, 6, s.OH, s.OW)
    assert (p.pad, p.stride, p.dilation, p.groups) == ((1, 2), (2, 1), (1, 2), 2)
    assert p.mode == 0 and p.data_type == 0 and p.math_type == 3  # CONVOLUTION, FLOAT, FMA (no TF32)
    flipped = descriptor_parameters(ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), {**_ATTRS, "filter_flip": False}),
                                    "float64")
    assert flipped.mode == 1 and flipped.data_type == 1  # CROSS_CORRELATION, DOUBLE
    with pytest.raises(CudnnRefused, match="float16"):
        descriptor_parameters(s, "float16")


@pytest.mark.parametrize("size", range(5, 12))
@pytest.mark.parametrize(("k", "pad", "stride", "dilation"), [(3, 0, 1, 1), (3, 1, 2, 1), (2, 1, 3, 2), (5, 4, 1, 1)])
def test_cudnn_output_size_is_the_ops(size: int, k: int, pad: int, stride: int, dilation: int) -> None:
    attrs = {"padding": (pad, pad), "subsample": (stride, stride), "filter_dilation": (dilation, dilation),
             "filter_flip": True, "num_groups": 1}
    s = ConvShape.of((1, 1, size, size), (1, 1, k, k), attrs)
    assert cudnn_output_size(size, k, pad, stride, dilation) == s.OH == s.OW


def test_refusals_before_asking_cudnn() -> None:
    s = ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    assert refusal_reason(s, "float32") is None
    assert "int32" in refusal_reason(s, "int32")
    empty = ConvShape.of((0, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    assert "empty" in refusal_reason(empty, "float64")
    huge = ConvShape.of((2**16, 64, 32, 32), (8, 32, 3, 3), _ATTRS)
    assert "32-bit" in refusal_reason(huge, "float32")


def test_the_choice_is_made_once_per_shape_and_reported() -> None:
    choices = ConvChoices()
    calls: list[ConvShape] = []
    s = ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    other = ConvShape.of((5, 4, 9, 11), (6, 2, 3, 3), _ATTRS)

    def decide(shape: ConvShape, choice: ConvChoice):  # noqa: ANN202
        def run() -> ConvChoice:
            calls.append(shape)
            return choice

        return run

    first = choices.choose("tir.conv2d", "float32", s, decide(s, ConvChoice(CUDNN, 1, "IMPLICIT_PRECOMP_GEMM", 4096)))
    again = choices.choose("tir.conv2d", "float32", s, decide(s, ConvChoice(IMPLICIT_GEMM, reason="never asked")))
    assert first is again and calls == [s]
    refused = choices.choose("tir.conv2d", "float32", other,
                             decide(other, ConvChoice(IMPLICIT_GEMM, reason="cuDNN: not installed")))
    assert refused.route == IMPLICIT_GEMM and calls == [s, other]
    text = choices.describe()
    assert "x=(3,4,9,11)" in text and "cuDNN IMPLICIT_PRECOMP_GEMM (algorithm 1), workspace 4096 bytes" in text
    assert "implicit GEMM on cuBLAS (cuDNN: not installed)" in text
    assert text in recorded_choices()
    # A cuDNN choice that fails when run is replaced, and says why.
    choices.forget("tir.conv2d", "float32", s, "cuDNN failed when run: CUDNN_STATUS_EXECUTION_FAILED")
    assert choices.choose("tir.conv2d", "float32", s, decide(s, first)).route == IMPLICIT_GEMM
    assert calls == [s, other]
