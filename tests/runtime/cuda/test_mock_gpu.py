"""The ``device=cuda`` runtime on an emulated GPU (``mock_gpu.py``): the device tests' functions,
run for real through plans, parameter blocks, launches, device arrays, transfers, cuBLAS calls,
updates into shared buffers and label checks, with each launch computed by the kernel's spec.
The kernels themselves are checked by ``ptxas`` here and by the device run (``pytest -m gpu``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from tests.runtime.cuda import test_gpu_device as device_tests
from tests.runtime.cuda.mock_gpu import MockRuntime, mock_gpu

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.cuda.device_array import DeviceArray


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockRuntime]:
    # floatX restored too: the examples set float32, as the tutorial does.
    with mock_gpu(monkeypatch) as runtime, tr.change_flags(device="cuda", floatX=tr.config.floatX), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield runtime


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "softplus", "abs"])
def test_unary(gpu: MockRuntime, name: str, dtype: str) -> None:
    device_tests.test_unary(name, dtype)
    assert gpu.launches


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
@pytest.mark.parametrize(("xs", "ys"), device_tests.SHAPES)
def test_broadcasting(gpu: MockRuntime, xs: tuple, ys: tuple, dtype: str) -> None:
    for name in ("add", "pow", "less", "switch"):
        device_tests.test_binary_and_broadcasting(name, dtype, xs, ys)


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_fused_and_reductions(gpu: MockRuntime, dtype: str) -> None:
    device_tests.test_fused_bodies_and_casts(dtype)
    device_tests.test_fused_reductions_all_any(dtype)
    for name in ("sum", "max", "mean"):
        for axis in (None, 0, 2, (0, 2), (1, 2)):
            device_tests.test_reductions(name, dtype, axis, axis == 2)


@pytest.mark.parametrize("dtype", device_tests.DTYPES)
def test_rows_products_views(gpu: MockRuntime, dtype: str) -> None:
    for shape in ((5, 7), (1, 1), (0, 3)):
        device_tests.test_softmax_family(dtype, shape)
    device_tests.test_crossentropy_and_gradient(dtype)
    device_tests.test_products(dtype)
    device_tests.test_views_and_host_ops(dtype)


def test_training_and_labels(gpu: MockRuntime) -> None:
    device_tests.test_a_bad_label_raises_and_updates_nothing()
    device_tests.test_training_updates_match_the_cpu("float32")
    device_tests.test_shared_variables_live_on_the_gpu()
    device_tests.test_allocator_reuses_blocks_across_calls()


def test_device_arrays_out(gpu: MockRuntime) -> None:
    w = tr.shared(np.arange(6, dtype="float32").reshape(2, 3), name="w")
    f = tr.function([], [w[0], T.exp(w)], updates=[(w, w * 2)], return_device_arrays=True)
    row, e = f()
    assert isinstance(row, DeviceArray) and isinstance(e, DeviceArray)
    # The output viewing w was copied before the update wrote into w's buffer.
    np.testing.assert_array_equal(row.get(), [0, 1, 2])
    np.testing.assert_allclose(e.get(), np.exp(np.arange(6, dtype="float32").reshape(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(w.get_value(), np.arange(6).reshape(2, 3) * 2)
    assert row.root() is not w.get_value(borrow=True).root()


def test_a_host_op_is_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorir.runtime.cuda import steps

    monkeypatch.setattr(steps, "_WARNED", set())
    x = T.matrix("x")
    with mock_gpu(monkeypatch), tr.change_flags(device="cuda"):
        with pytest.warns(UserWarning, match=r"device=cuda: tir.repeat has no GPU kernel .*runs on the host"):
            f = tr.function([x], T.repeat(T.exp(x), 2, axis=0) + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tr.function([x], T.repeat(x, 3, axis=1))  # the same op: no second warning
    data = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(f(data), np.repeat(np.exp(data), 2, axis=0) + 1)
    assert "tir.to_host" in tr.printing.debugprint(f, file="str")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["logistic_regression", "mlp"])
def test_tutorials_on_the_emulated_gpu(gpu: MockRuntime, name: str, tmp_path: object) -> None:
    """The device test of the tutorials, through the runtime with emulated launches."""
    device_tests.test_tutorials_train_to_the_cpu_error(name, tmp_path)
    assert len(gpu.launches) > 100


@pytest.mark.slow
def test_the_tour_on_the_emulated_gpu(gpu: MockRuntime, tmp_path: object) -> None:
    """``examples/tour.py --device cuda``: LeNet's convolutions and the LSTM's scan on the host."""
    device_tests.test_the_tour_runs_on_the_gpu(tmp_path)
    assert gpu.launches


def test_shared_variables_on_the_gpu_pickle(gpu: MockRuntime) -> None:
    import pickle

    w = tr.shared(np.arange(4, dtype="float32"), name="w")
    f = tr.function([], w * 2, updates=[(w, w + 1)])
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(), np.arange(4) * 2)
    loaded = g.graph.shared_inputs[0]
    assert isinstance(loaded.get_value(borrow=True), DeviceArray)
    np.testing.assert_array_equal(loaded.get_value(), np.arange(4) + 1)
    np.testing.assert_array_equal(w.get_value(), np.arange(4))  # the original is its own
