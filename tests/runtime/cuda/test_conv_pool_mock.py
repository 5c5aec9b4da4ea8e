"""Convolution and pooling under ``device=cuda`` on the emulated GPU (``mock_gpu.py``): the device
tests' functions run for real through the GPU conv and pool steps (geometry, chunks of the batch,
parameter blocks, launches, the products' arguments) with each pooling, im2col, col2im and
channels-first launch running the kernel's own text as one thread on the CPU and each cuBLAS
product emulated in NumPy on the same addresses; results against the NumPy reference. cuDNN is
absent here, so every shape takes the implicit GEMM and says why. The device run is ``pytest -m gpu``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tests.runtime.cuda import test_conv_pool_device as device_tests
from tests.runtime.cuda.mock_gpu import MockRuntime, mock_gpu

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.cuda import conv_steps
from tensorir.runtime.cuda.conv_choice import IMPLICIT_GEMM, recorded_choices
from tensorir.runtime.cuda.graphs import GRAPHS_VARIABLE, OFF
from tensorir.tensor.signal import pool


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockRuntime]:
    with mock_gpu(monkeypatch) as runtime, tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield runtime


def _launched(gpu: MockRuntime, prefix: str) -> int:
    return sum(name.startswith(prefix) for name, _ in gpu.launches)


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_convolutions_on_the_emulated_gpu(gpu: MockRuntime, dtype: str) -> None:
    for options in device_tests.CONVOLUTIONS:
        device_tests.test_conv2d_and_its_gradients(dtype, options)
    assert _launched(gpu, "conv_im2col_") and _launched(gpu, "conv_col2im_") and _launched(gpu, "conv_channels_first_")


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_pooling_on_the_emulated_gpu(gpu: MockRuntime, dtype: str) -> None:
    for mode in ("max", "sum", "average_inc_pad", "average_exc_pad"):
        for options in device_tests.POOLINGS:
            device_tests.test_pooling_gradient_and_select(dtype, mode, options)
    for kind in ("forward", "grad", "select"):
        assert _launched(gpu, f"pool_{kind}_"), kind


def test_the_batch_in_chunks(gpu: MockRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scratch budget of two images' im2col: the batch of 5 in chunks of 2, 2 and 1."""
    monkeypatch.setattr(conv_steps, "chunk_images", lambda s, itemsize: 2)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode="half", subsample=(1, 2))
    gx, gw = tr.grad((y ** 2).sum(), [x, w])
    data = [np.random.default_rng(1).normal(size=s) for s in ((5, 3, 7, 6), (4, 3, 3, 3))]
    device_tests._check([x, w], [y, gx, gw], data, "float64")
    assert _launched(gpu, "conv_im2col_") == 3 + 3 and _launched(gpu, "conv_col2im_") == 3


def test_conv_choice_is_made_once_per_shape(gpu: MockRuntime) -> None:
    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    f = tr.function([x, w], T.nnet.conv2d(x, w))
    rng = np.random.default_rng(2)
    for n in (2, 2, 3):
        f(rng.normal(size=(n, 3, 6, 6)).astype("float32"), rng.normal(size=(4, 3, 3, 3)).astype("float32"))
    items = f.executor.context.conv_choices.items()
    assert [key[2].N for key, _ in items] == [2, 3]
    assert all(choice.route == IMPLICIT_GEMM and choice.reason.startswith("cuDNN: ") for _, choice in items)
    report = recorded_choices()  # what the profiler and debugprint read, while the function lives
    assert "tir.conv2d float32 x=(2,3,6,6) w=(4,3,3,3)" in report and "implicit GEMM on cuBLAS (cuDNN: " in report
    described = f.executor.describe()
    assert "tir.conv2d: gpu" in described and "convolution routes:\ntir.conv2d float32 x=(2,3,6,6)" in described


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_scan_on_the_emulated_gpu(gpu: MockRuntime, dtype: str) -> None:
    """A recurrence and its gradient through time as GPU scan steps (the body's steps on the
    device, sequences and states in device memory), against the reference."""
    device_tests.test_scan_forward_and_through_time(dtype)


def test_scan_steps_say_why_they_are_not_replayed(gpu: MockRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    x, h0 = T.matrix("x"), T.vector("h0")
    hs, _ = tr.scan(lambda x_t, h: T.tanh(h + x_t), sequences=[x], outputs_info=[h0])
    off = tr.function([x, h0], hs)
    (step,) = [s for s in _plan_steps(off) if type(s).__name__ == "GpuScanStep"]
    assert step.reason == OFF and off.executor.graphed.reason == OFF
    monkeypatch.setenv(GRAPHS_VARIABLE, "1")
    f = tr.function([x, h0], hs)
    kinds = dict(f.executor.step_kinds)
    assert kinds["tir.scan"] == "gpu"
    (step,) = [s for s in _plan_steps(f) if type(s).__name__ == "GpuScanStep"]
    assert step.reason is None  # the body is all device steps: the rule allows a graph
    rng = np.random.default_rng(3)
    data = [rng.normal(size=(6, 4)), rng.normal(size=4)]
    np.testing.assert_allclose(f(*data), tr.function([x, h0], hs, mode="REFERENCE")(*data), rtol=1e-12)
    assert step.run_body.reason == "the emulated GPU records no CUDA graphs"  # refused when captured

    stop, _ = tr.scan(lambda h: (T.tanh(h) + 1, tr.scan_module.until(h.sum() > 10)), outputs_info=[h0],
                      n_steps=20)
    g = tr.function([h0], stop)
    (until_step,) = [s for s in _plan_steps(g) if type(s).__name__ == "GpuScanStep"]
    assert until_step.reason.startswith("the loop stops on a condition its body computes (until)")
    np.testing.assert_allclose(g(data[1]), tr.function([h0], stop, mode="REFERENCE")(data[1]), rtol=1e-12)


def _plan_steps(f: tr.Function) -> list:
    return [step for step, *_ in f.executor.plan.steps]


def test_a_training_call_is_one_graph_with_its_cost_downloaded_after(gpu: MockRuntime,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-call rule on a real plan: the cost (a host scalar the function only returns) is
    downloaded by the call after the plan, so the rule allows a graph (the emulated GPU then
    refuses the capture and the steps run); the numbers are the reference's either way."""
    monkeypatch.setenv(GRAPHS_VARIABLE, "1")
    x = T.matrix("x")
    w = tr.shared(np.random.default_rng(4).normal(size=(3, 2)), name="w")
    cost = T.tanh(T.dot(x, w)).sum()
    f = tr.function([x], cost, updates=[(w, w - 0.1 * tr.grad(cost, w))])
    assert f.executor.graphed.reason is None, f.executor.graphed.reason
    data = np.random.default_rng(5).normal(size=(4, 3))
    with tr.change_flags(device="cpu"):
        w_cpu = tr.shared(np.random.default_rng(4).normal(size=(3, 2)), name="w")
        c_cpu = T.tanh(T.dot(x, w_cpu)).sum()
        g = tr.function([x], c_cpu, updates=[(w_cpu, w_cpu - 0.1 * tr.grad(c_cpu, w_cpu))], mode="REFERENCE")
    for _ in range(3):
        got = f(data)
        assert isinstance(got, np.ndarray) and got.shape == ()
        np.testing.assert_allclose(got, g(data), rtol=1e-12)
    np.testing.assert_allclose(w.get_value(), w_cpu.get_value(), rtol=1e-12)
    assert f.executor.graphed.reason == "the emulated GPU records no CUDA graphs"


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_empty_batches_and_windows(gpu: MockRuntime, dtype: str) -> None:
    """Nothing to compute: an empty batch (every output empty, no launch), and filters whose
    gradient sums over no images (zeros)."""
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w)
    gx, gw = tr.grad(y.sum(), [x, w])
    pooled = pool.pool_2d(x, ws=(2, 2), ignore_border=True, mode="average_exc_pad")
    rng = np.random.default_rng(6)
    data = [np.zeros((0, 3, 6, 5), dtype), rng.normal(size=(4, 3, 3, 2)).astype(dtype)]
    device_tests._check([x, w], [y, gx, gw, pooled], data, dtype)


class FakeCudnn:
    """cuDNN's three calls computed by the references on the emulated GPU's memory (what the
    conv step hands cuDNN: the input, the filters and the output by role); ``fail`` makes a run
    fail as a refused configuration would."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.runs = fail, []

    def plan(self, kind: str, s: Any, dtype: str) -> Any:  # noqa: ANN401
        from types import SimpleNamespace

        return SimpleNamespace(kind=kind, s=s, dtype=dtype, algorithm=1, algorithm_name="IMPLICIT_PRECOMP_GEMM",
                               workspace_bytes=256)

    def run(self, plan: Any, x: int, w: int, y: int, workspace: int) -> None:  # noqa: ANN401
        from tests.runtime.cuda.mock_gpu import _array

        from tensorir.dialects.tir.conv import (
            conv2d_grad_filters_reference,
            conv2d_grad_input_reference,
            conv2d_reference,
        )

        self.runs.append(plan.kind)
        if self.fail:
            raise RuntimeError("cudnnConvolutionForward failed: CUDNN_STATUS_EXECUTION_FAILED (cuDNN status 8)")
        s, dtype = plan.s, plan.dtype
        attrs = {"padding": (s.ph, s.pw), "subsample": (s.sh, s.sw), "filter_dilation": (s.dh, s.dw),
                 "filter_flip": s.flip, "num_groups": s.G}
        shapes = {"x": (s.N, s.C, s.H, s.W), "w": (s.F, s.Cg, s.kh, s.kw), "y": (s.N, s.F, s.OH, s.OW)}
        view = {k: _array(a, int(np.prod(shapes[k])), dtype).reshape(shapes[k]) for k, a in
                (("x", x), ("w", w), ("y", y))}
        if plan.kind == "forward":
            view["y"][...] = conv2d_reference(view["x"], view["w"], attrs, dtype)
        elif plan.kind == "grad_input":
            view["x"][...] = conv2d_grad_input_reference(view["y"], view["w"], shapes["x"], attrs, dtype)
        else:
            view["w"][...] = conv2d_grad_filters_reference(view["x"], view["y"], shapes["w"], attrs, dtype)


@pytest.mark.parametrize("fail", [False, True])
def test_the_cudnn_route(gpu: MockRuntime, monkeypatch: pytest.MonkeyPatch, fail: bool) -> None:
    """With cuDNN there: every conv op runs on it (operands by role), the choice says so; a run
    that fails gives the shape to the implicit GEMM, with the reason, and the numbers hold."""
    fake = FakeCudnn(fail)
    monkeypatch.setattr(conv_steps.GpuConvStep, "_cudnn", lambda self: fake)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode=(1, 0), subsample=(2, 1), num_groups=2)
    gx, gw = tr.grad((y ** 2).sum(), [x, w])
    rng = np.random.default_rng(8)
    data = [rng.normal(size=(3, 4, 7, 6)), rng.normal(size=(6, 2, 3, 2))]
    f = device_tests._check([x, w], [y, gx, gw], data, "float64")
    assert sorted(fake.runs) == ["forward", "grad_filters", "grad_input"]
    routes = f.executor.describe().split("convolution routes:\n", 1)[1]
    if fail:
        assert routes.count("implicit GEMM on cuBLAS (cuDNN failed when run: cudnnConvolutionForward failed") == 3
        assert _launched(gpu, "conv_im2col_")
    else:
        assert routes.count("cuDNN IMPLICIT_PRECOMP_GEMM (algorithm 1), workspace 256 bytes") == 3
        assert not _launched(gpu, "conv_im2col_") and not _launched(gpu, "conv_col2im_")
