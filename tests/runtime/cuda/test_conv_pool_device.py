"""``device=cuda`` on a GPU (``pytest -m gpu``), part 2: convolution (every border mode, strides,
dilations, groups, filter_flip) and its gradients, pooling in all four modes with its gradient
and select, batch normalization, dropout and scan, in float32 and float64 against the NumPy
reference; the fused batch-normalization and dropout kernels launched on their own; the conv
route (cuDNN or the implicit GEMM) reported; LeNet and the char-LSTM in their quick settings.
Nothing here has run on a GPU yet.

As in ``test_gpu_device.py``: without a GPU the tests skip with the driver's reason, except
under ``TENSORIR_CUDA_PREPARE``, where the function-level tests run on the NumPy reference and
leave their kernels' PTX in the bundle the device run reads (``benchmarks/gpu_check.sh prepare``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.runtime.cuda.test_gpu_device import _check, _data, _example, _tolerance

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.cuda.driver import unavailable_reason
from tensorir.runtime.cuda.prepare import prepare_directory
from tensorir.tensor.signal import pool

REASON = unavailable_reason()
PREPARING = prepare_directory() is not None
pytestmark = pytest.mark.gpu
functions = pytest.mark.skipif(REASON is not None and not PREPARING, reason=f"no GPU: {REASON}")
device = pytest.mark.skipif(REASON is not None, reason=f"no GPU: {REASON}")
DTYPES = ["float32", "float64"]


@pytest.fixture(autouse=True)
def _on_the_gpu() -> Iterator[None]:
    with tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


CONVOLUTIONS = [
    {"border_mode": "valid"},
    {"border_mode": "full", "filter_flip": False},
    {"border_mode": "half", "subsample": (2, 1)},
    {"border_mode": (1, 2), "filter_dilation": (2, 1)},
    {"border_mode": "valid", "subsample": (2, 2), "num_groups": 2},
]


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", CONVOLUTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_conv2d_and_its_gradients(dtype: str, options: dict) -> None:
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, **options)
    cost = (T.tanh(y) ** 2).sum()
    gx, gw = tr.grad(cost, [x, w])
    groups = options.get("num_groups", 1)
    data = [_data((3, 4, 9, 8), dtype, 30), _data((6, 4 // groups, 3, 2), dtype, 31)]
    _check([x, w], [y, gx, gw], data, dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_lenet_sized_convolutions_in_chunks(dtype: str) -> None:
    """LeNet's second layer on a batch of 500: one chunk of im2col scratch (or cuDNN)."""
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w)
    gx, gw = tr.grad(y.sum() * 1e-3, [x, w])
    _check([x, w], [y, gx, gw], [_data((500, 20, 12, 12), dtype, 32), _data((50, 20, 5, 5), dtype, 33)], dtype)


POOLINGS = [
    {"ws": (2, 2), "ignore_border": True},
    {"ws": (3, 2), "stride": (2, 1), "ignore_border": False},
    {"ws": (3, 3), "stride": (2, 2), "pad": (1, 2), "ignore_border": True},
]


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("options", POOLINGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_pooling_gradient_and_select(dtype: str, mode: str, options: dict) -> None:
    x, c, v = T.tensor4("x", dtype=dtype), T.tensor4("c", dtype=dtype), T.tensor4("v", dtype=dtype)
    z = pool.pool_2d(x, mode=mode, **options)
    g = tr.grad((z * c).sum(), x)  # tir.pool2d_grad(x, c)
    outputs = [z, g]
    if mode == "max":
        outputs.append(tr.grad((g * v).sum(), c))  # tir.max_pool2d_select(x, v)
    shape = (2, 3, 9, 7)
    with tr.change_flags(device="cpu"):
        pooled = tr.function([x], z, mode="REFERENCE")(_data(shape, dtype, 40)).shape  # the pooled shape
    xs = np.round(_data(shape, dtype, 41) * 2) / 2  # ties in the max windows
    inputs, args = [x, c], [xs, _data(pooled, dtype, 42)]
    if mode == "max":
        inputs, args = [*inputs, v], [*args, _data(shape, dtype, 43)]
    _check(inputs, outputs, args, dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", ["spatial", "per-activation"])
def test_batch_normalization(dtype: str, axes: str) -> None:
    x = T.tensor4("x", dtype=dtype)
    gamma, beta = T.tensor4("gamma", dtype=dtype), T.tensor4("beta", dtype=dtype)
    out, mean, invstd = T.nnet.batch_normalization_train(x, gamma, beta, axes=axes)
    test = T.nnet.batch_normalization_test(x, gamma, beta, mean, 1 / invstd ** 2, axes=axes)
    grads = tr.grad((out * T.sin(x)).sum(), [x, gamma, beta])
    stat_shape = (1, 4, 1, 1) if axes == "spatial" else (1, 4, 5, 6)
    data = [_data((8, 4, 5, 6), dtype, 50), _data(stat_shape, dtype, 51, positive=True), _data(stat_shape, dtype, 52)]
    _check([x, gamma, beta], [out, mean, invstd, test, *grads], data, dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_draws_the_cpus_mask(dtype: str) -> None:
    from tensorir.frontend.random_streams import MRG_RandomStreams

    def build() -> tr.Function:
        x = T.matrix("x", dtype=dtype)
        out = T.nnet.dropout(x, p=0.3, srng=MRG_RandomStreams(seed=7))
        return tr.function([x], [out, tr.grad((out * x).sum(), x)])

    data = _data((33, 17), dtype, 60)
    got = build()(data)
    with tr.change_flags(device="cpu", mode="REFERENCE"):
        want = build()(data)  # the same seed on the CPU: the same mask
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **_tolerance(dtype))


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_scan_forward_and_through_time(dtype: str) -> None:
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    w = T.matrix("w", dtype=dtype)

    def step(x_t, h, w):  # noqa: ANN001, ANN202
        return T.tanh(T.dot(h, w) + x_t)

    hs, _ = tr.scan(step, sequences=[x], outputs_info=[h0], non_sequences=[w])
    cost = (hs[-1] ** 2).sum() + hs.mean()
    grads = tr.grad(cost, [x, h0, w])
    data = [_data((7, 3, 5), dtype, 70), _data((3, 5), dtype, 71), _data((5, 5), dtype, 72) * 0.4]
    _check([x, h0, w], [hs, *grads], data, dtype)


# -- the fused kernels on their own ---------------------------------------------------------------------
def _kernels(names_and_texts: dict[str, str]):  # noqa: ANN202 - (KernelSet, memory, limits) or None when preparing
    from tensorir.runtime.cuda.modules import KernelSet

    if PREPARING:
        from tensorir.runtime.cuda.prepare import PreparedDevice

        kernels = KernelSet(PreparedDevice.from_environment(), None)
        for name, text in names_and_texts.items():
            kernels.add(name, text)
        kernels.prepare()
        return None
    from tensorir.runtime.cuda.context import runtime_for

    runtime = runtime_for(0)
    kernels = KernelSet(runtime.device, None)
    for name, text in names_and_texts.items():
        kernels.add(name, text)
    return kernels, runtime.stream_memory(), runtime.device.limits


def _launch(kernels, memory, limits, name: str, arguments: list, total: int, rows: int | None = None) -> None:  # noqa: ANN001
    from tensorir.runtime.cuda.device_array import DeviceArray
    from tensorir.runtime.cuda.driver import GpuModule
    from tensorir.runtime.cuda.launch import elementwise_launch, row_launch
    from tensorir.runtime.cuda.parameters import ParameterBlock

    params = ParameterBlock(len(arguments))
    params.set([a.address if isinstance(a, DeviceArray) else int(a) for a in arguments])
    config = row_launch(rows, total, limits) if rows is not None else elementwise_launch(total, limits)
    GpuModule.launch(kernels.function(name), config, params, memory.stream)
    memory.synchronize()


def _bits(value: float) -> int:
    return int(np.array(value, dtype=np.float64).view(np.int64))


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_batchnorm_kernels(dtype: str) -> None:
    from tensorir.codegen.gpu.lower_batchnorm import batchnorm_kernel

    loaded = _kernels({f"bn_{k}": batchnorm_kernel(f"bn_{k}", k, dtype) for k in ("train", "inference", "grad")})
    if loaded is None:
        return  # preparing: the PTX is in the bundle
    from tensorir.runtime.cuda.device_array import DeviceArray

    kernels, memory, limits = loaded
    n, c, s, eps = 16, 5, 49, 1e-4
    x, dy = _data((n, c, s), dtype, 80), _data((n, c, s), dtype, 81)
    gamma, beta = _data((c,), dtype, 82, positive=True), _data((c,), dtype, 83)
    mean = x.mean(axis=(0, 2))
    invstd = 1 / np.sqrt(x.var(axis=(0, 2)) + eps)
    xhat = (x - mean[:, None]) * invstd[:, None]
    d = {k: DeviceArray.from_host(np.ascontiguousarray(v), memory) for k, v in
         {"x": x, "dy": dy, "gamma": gamma, "beta": beta}.items()}
    out = DeviceArray.empty(x.shape, dtype, memory)
    mean_d, invstd_d = DeviceArray.empty((c,), dtype, memory), DeviceArray.empty((c,), dtype, memory)
    _launch(kernels, memory, limits, "bn_train", [d["x"], d["gamma"], d["beta"], out, mean_d, invstd_d, n, c, s,
                                                  _bits(eps)], n * s, rows=c)
    close = {"rtol": 2e-4, "atol": 2e-4} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}
    np.testing.assert_allclose(mean_d.get(), mean, **close)
    np.testing.assert_allclose(invstd_d.get(), invstd, **close)
    np.testing.assert_allclose(out.get(), xhat * gamma[:, None] + beta[:, None], **close)
    var_d = DeviceArray.from_host(x.var(axis=(0, 2)).astype(dtype), memory)
    test = DeviceArray.empty(x.shape, dtype, memory)
    _launch(kernels, memory, limits, "bn_inference", [d["x"], d["gamma"], d["beta"], mean_d, var_d, test, n, c, s,
                                                      _bits(eps)], x.size)
    np.testing.assert_allclose(test.get(), xhat * gamma[:, None] + beta[:, None], **close)
    dx, dgamma, dbeta = (DeviceArray.empty(x.shape, dtype, memory), DeviceArray.empty((c,), dtype, memory),
                         DeviceArray.empty((c,), dtype, memory))
    _launch(kernels, memory, limits, "bn_grad", [d["x"], d["dy"], d["gamma"], mean_d, invstd_d, dx, dgamma, dbeta,
                                                 n, c, s], n * s, rows=c)
    m = n * s
    want_dbeta, want_dgamma = dy.sum(axis=(0, 2)), (dy * xhat).sum(axis=(0, 2))
    want_dx = (gamma * invstd)[:, None] * (dy - want_dbeta[:, None] / m - xhat * want_dgamma[:, None] / m)
    np.testing.assert_allclose(dbeta.get(), want_dbeta, **close)
    np.testing.assert_allclose(dgamma.get(), want_dgamma, **close)
    np.testing.assert_allclose(dx.get(), want_dx, **close)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_dropout_kernel_draws_the_cpus_stream(dtype: str) -> None:
    from tensorir.codegen.gpu.lower_dropout import WORDS_PER_BLOCK, dropout_kernel
    from tensorir.dialects.registry import _build
    from tensorir.dialects.tir.random import seed_state
    from tensorir.dialects.types import TensorType

    loaded = _kernels({"dropout": dropout_kernel("dropout", dtype)})
    if loaded is None:
        return
    from tensorir.runtime.cuda.device_array import DeviceArray

    kernels, memory, limits = loaded
    n, retain = 100_003, 0.7
    state = seed_state(11)
    binomial = _build()["tir.random_binomial"]
    _, mask = binomial.reference([state, np.array([n]), np.float64(retain)],
                                 {"static_shape": (n,), "n": 1, "dtype": dtype},
                                 [TensorType("uint32", (4,)), TensorType(dtype, (n,))])
    x = _data((n,), dtype, 90)
    retain_x = float(np.asarray(retain, dtype=dtype))
    xd = DeviceArray.from_host(x, memory)
    out, mask_d = DeviceArray.empty((n,), dtype, memory), DeviceArray.empty((n,), dtype, memory)
    position = int(state[3]) << 32 | int(state[2])
    _launch(kernels, memory, limits, "dropout", [xd, out, mask_d, n, int(state[0]), int(state[1]), position,
                                                 _bits(retain), _bits(retain_x)], math.ceil(n / WORDS_PER_BLOCK))
    np.testing.assert_array_equal(mask_d.get(), mask)
    np.testing.assert_array_equal(out.get(), (x * mask / np.asarray(retain_x, dtype=dtype)).astype(dtype))


@device
def test_the_conv_route_is_chosen_once_and_reported() -> None:
    from tensorir.runtime.cuda.conv_choice import recorded_choices

    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    f = tr.function([x, w], T.nnet.conv2d(x, w))
    data = [_data((4, 3, 10, 10), "float32", 95), _data((5, 3, 3, 3), "float32", 96)]
    for _ in range(3):
        f(*data)
    choices = f.executor.context.conv_choices.items()
    assert len(choices) == 1
    report = recorded_choices()
    assert "tir.conv2d float32 x=(4,3,10,10)" in report
    assert "cuDNN" in report or "implicit GEMM on cuBLAS" in report


# -- the tutorial's bigger models ---------------------------------------------------------------------------
@functions
def test_lenet_quick_trains_as_on_the_cpu(tmp_path: Path) -> None:
    argv = ["--quick", "--offline", "--no-progress", "--data", "digits", "--epochs", "1"]
    with tr.change_flags(floatX=tr.config.floatX):  # lenet.py sets float32, as the tutorial does
        gpu = _example("lenet").main([*argv, "--device", "cuda", "--out", str(tmp_path / "gpu")])
    with tr.change_flags(device="cpu", mode="REFERENCE", floatX=tr.config.floatX):
        cpu = _example("lenet").main([*argv, "--device", "cpu", "--out", str(tmp_path / "cpu")])
    assert abs(gpu["test_error"] - cpu["test_error"]) <= 0.02, (gpu["test_error"], cpu["test_error"])


@functions
def test_char_lstm_quick_trains_as_on_the_cpu(tmp_path: Path) -> None:
    argv = ["--quick", "--offline", "--no-progress", "--epochs", "1", "--batches-per-epoch", "5", "--valid-batches",
            "2", "--sample-length", "10"]
    gpu = _example("lstm_text").main([*argv, "--device", "cuda", "--out", str(tmp_path / "gpu")])
    with tr.change_flags(device="cpu", mode="REFERENCE"):
        cpu = _example("lstm_text").main([*argv, "--device", "cpu", "--out", str(tmp_path / "cpu")])
    gpu_loss, cpu_loss = gpu["validation"][-1]["error"], cpu["validation"][-1]["error"]
    assert abs(gpu_loss - cpu_loss) <= 1e-3 * max(1.0, abs(cpu_loss)), (gpu_loss, cpu_loss)


# -- CUDA graphs (TENSORIR_CUDA_GRAPHS=1) -----------------------------------------------------------------
@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_scan_replays_its_body_as_a_cuda_graph(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorir.runtime.cuda.graphs import GRAPHS_VARIABLE

    monkeypatch.setenv(GRAPHS_VARIABLE, "1")
    x, h0, w = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype), T.matrix("w", dtype=dtype)
    hs, _ = tr.scan(lambda x_t, h, w: T.tanh(T.dot(h, w) + x_t), sequences=[x], outputs_info=[h0], non_sequences=[w])
    cost = (hs ** 2).sum()
    outputs = [hs, *tr.grad(cost, [x, h0, w])]
    data = [_data((12, 3, 5), dtype, 100), _data((3, 5), dtype, 101), _data((5, 5), dtype, 102) * 0.4]
    for _ in range(3):  # warm-up, capture, replays: the same numbers each time
        f = _check([x, h0, w], outputs, data, dtype)
    if REASON is None:
        scans = [s for s, *_ in f.executor.plan.steps if type(s).__name__ == "GpuScanStep"]
        assert scans and all(s.reason is None for s in scans), [s.reason for s in scans]
        assert all(s.run_body.reason is None and len(s.run_body.cache) == 1 for s in scans), \
            [s.run_body.reason for s in scans]


@device
def test_a_call_replays_as_one_cuda_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorir.runtime.cuda.graphs import GRAPHS_VARIABLE

    monkeypatch.setenv(GRAPHS_VARIABLE, "1")
    x = T.matrix("x", dtype="float32")
    w = tr.shared(_data((16, 8), "float32", 110), name="w")
    y = T.nnet.softmax(T.tanh(T.dot(x, w)))
    f = tr.function([x], y, updates=[(w, w * 0.5)], return_device_arrays=True)
    assert f.executor.graphed.reason is None, f.executor.graphed.reason
    data, value = _data((32, 16), "float32", 111), w.get_value()
    for _ in range(4):
        got = f(data).get()
        want = np.exp(np.tanh(data @ value))
        np.testing.assert_allclose(got, want / want.sum(axis=1, keepdims=True), rtol=2e-5, atol=2e-6)
        value = value * 0.5
        np.testing.assert_allclose(w.get_value(), value, rtol=1e-6)
    entry = next(iter(f.executor.graphed.cache._entries.values()))
    assert entry.launches == 3  # calls 2 (the capture's launch), 3 and 4
