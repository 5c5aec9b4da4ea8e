"""``device=cuda`` on a GPU (``pytest -m gpu``): the op families against the NumPy reference in
float32 and float64, shared variables in GPU memory, device arrays shared with PyTorch and CuPy,
the tutorials and the tour. Nothing here has run on a GPU yet.

Without a GPU the tests skip with the driver's reason, except under ``TENSORIR_CUDA_PREPARE``
(``runtime/cuda/prepare.py``), where the function-level tests run their plans on the NumPy
reference and leave their kernels' PTX in the bundle the device run reads: the one command of
``benchmarks/gpu_check.sh`` runs them that way here first.
"""

from __future__ import annotations

import gc
import importlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.cuda.driver import unavailable_reason
from tensorir.runtime.cuda.prepare import prepare_directory

REASON = unavailable_reason()
PREPARING = prepare_directory() is not None
pytestmark = pytest.mark.gpu
#: Functions compiled for the device: on a GPU, or prepared without one.
functions = pytest.mark.skipif(REASON is not None and not PREPARING, reason=f"no GPU: {REASON}")
#: Needs the device itself (device arrays, memory, peers).
device = pytest.mark.skipif(REASON is not None, reason=f"no GPU: {REASON}")
DTYPES = ["float32", "float64"]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _on_the_gpu() -> Iterator[None]:
    with tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one-time warnings of ops run on the host
        yield


def _tolerance(dtype: str) -> dict:
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-11, "atol": 1e-11}


def _check(inputs: list, outputs: list, args: list, dtype: str, **kwargs: object) -> tr.Function:
    """Compile for the GPU and against the reference (on the CPU); the results must agree."""
    f = tr.function(inputs, outputs, **kwargs)
    with tr.change_flags(device="cpu"):
        reference = tr.function(inputs, outputs, mode="REFERENCE", **kwargs)
    got, want = f(*args), reference(*args)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype, (np.shape(g), np.shape(w))
        if np.asarray(w).dtype.kind == "f":
            np.testing.assert_allclose(g, w, **_tolerance(dtype))
        else:
            np.testing.assert_array_equal(g, w)
    return f


def _data(shape: tuple, dtype: str, seed: int, positive: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 2.0, shape) if positive else rng.normal(size=shape)
    return x.astype(dtype)


UNARY: dict[str, Callable] = {
    "exp": T.exp, "log": T.log, "tanh": T.tanh, "sigmoid": T.nnet.sigmoid, "sqrt": T.sqrt, "abs": abs,
    "neg": lambda x: -x, "sin": T.sin, "cos": T.cos, "softplus": T.nnet.softplus, "log1p": T.log1p,
    "floor": T.floor, "square": lambda x: x ** 2, "reciprocal": lambda x: 1 / x,
}
POSITIVE = {"log", "sqrt", "log1p", "reciprocal"}
BINARY: dict[str, Callable] = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
    "maximum": T.maximum, "minimum": T.minimum, "pow": lambda x, y: abs(x) ** y,
    "less": lambda x, y: x < y, "switch": lambda x, y: T.switch(x > y, x, y * 2),
}
SHAPES = [((3, 4), (3, 4)), ((257, 1031), (1031,)), ((4, 1), (1, 5)), ((0, 5), (5,)), ((2, 3, 4), (3, 1)),
          ((), (6,))]


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name: str, dtype: str) -> None:
    x = T.tensor(dtype, (False, False), name="x")
    data = _data((67, 129), dtype, 1, positive=name in POSITIVE)
    _check([x], [UNARY[name](x)], [data], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(("xs", "ys"), SHAPES)
def test_binary_and_broadcasting(name: str, dtype: str, xs: tuple, ys: tuple) -> None:
    x = T.tensor(dtype, (False,) * len(xs), name="x")
    y = T.tensor(dtype, (False,) * len(ys), name="y")
    _check([x, y], [BINARY[name](x, y)], [_data(xs, dtype, 2), _data(ys, dtype, 3, positive=True)], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_bodies_and_casts(dtype: str) -> None:
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    z = T.tanh(x * 2 + y) * T.exp(-abs(x)) - T.nnet.sigmoid(y)
    _check([x, y], [z, T.cast(z > 0, "int32") + 1, T.cast(x, "float32" if dtype == "float64" else "float64")],
           [_data((513, 77), dtype, 4), _data((77,), dtype, 5)], dtype)


REDUCTIONS = {"sum": T.sum, "prod": T.prod, "max": T.max, "min": T.min, "mean": T.mean}


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 1, (0, 2), (1, 2), (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name: str, dtype: str, axis: object, keepdims: bool) -> None:
    x = T.tensor3("x", dtype=dtype)
    data = _data((9, 33, 70), dtype, 6, positive=name == "prod") ** (0.1 if name == "prod" else 1)
    _check([x], [REDUCTIONS[name](x, axis=axis, keepdims=keepdims)], [data.astype(dtype)], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_reductions_all_any(dtype: str) -> None:
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    _check([x, y], [T.sum(T.exp(x) * y, axis=1), T.max(x - y, axis=0), T.all(x > -3, axis=1), T.any(x > 2),
                    T.mean((x - y) ** 2)], [_data((300, 2049), dtype, 7), _data((2049,), dtype, 8)], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7), (64, 4097), (1, 1), (0, 3)])
def test_softmax_family(dtype: str, shape: tuple) -> None:
    x = T.matrix("x", dtype=dtype)
    outs = [T.nnet.softmax(x), T.nnet.log_softmax(x), T.nnet.logsumexp(x, axis=1)]
    if shape[0]:
        outs += [T.nnet.log_softmax(x, axis=0), T.nnet.logsumexp(x, axis=None)]
    _check([x], outs, [_data(shape, dtype, 9) * 3], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_crossentropy_and_gradient(dtype: str) -> None:
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(x), y))
    _check([x, y], [loss, tr.grad(loss, x)], [_data((130, 10), dtype, 10), np.arange(130, dtype="int32") % 10],
           dtype)


@functions
def test_a_bad_label_raises_and_updates_nothing() -> None:
    x, y = T.matrix("x", dtype="float32"), T.ivector("y")
    w = tr.shared(np.ones((4, 3), "float32"), name="w")
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, w)), y))
    f = tr.function([x, y], loss, updates=[(w, w - tr.grad(loss, w))])
    data = _data((5, 4), "float32", 11)
    with pytest.raises(ValueError, match="class label 7 out of range"):
        f(data, np.array([0, 1, 7, 2, 0], "int32"))
    np.testing.assert_array_equal(w.get_value(), np.ones((4, 3), "float32"))
    f(data, np.array([0, 1, 2, 2, 0], "int32"))
    assert not np.array_equal(w.get_value(), np.ones((4, 3), "float32"))


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_products(dtype: str) -> None:
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    c = T.matrix("c", dtype=dtype)
    s3, t3 = T.tensor3("s", dtype=dtype), T.tensor3("t", dtype=dtype)
    outs = [T.dot(a, b), T.dot(a.T, c), T.dot(b, c.T), T.dot(a, v), T.dot(a.T, a[:, :5]), 0.5 * T.dot(a, b) + 2 * c,
            T.batched_dot(s3, t3)]
    args = [_data((37, 130), dtype, 12), _data((130, 41), dtype, 13), _data((130,), dtype, 14),
            _data((37, 41), dtype, 15), _data((6, 7, 8), dtype, 16), _data((6, 8, 9), dtype, 17)]
    _check([a, b, v, c, s3, t3], outs, args, dtype, on_unused_input="ignore")


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_views_and_host_ops(dtype: str) -> None:
    x = T.matrix("x", dtype=dtype)
    i = T.lscalar("i")
    outs = [x[1:3], x[:, ::2], x[::-1], x.T + 1, x.reshape((x.shape[1], x.shape[0])), x.dimshuffle("x", 1, 0) * 2,
            x[i], x[i:i + 2, 1:], T.repeat(T.exp(x), 2, axis=0), T.argmax(x, axis=1), x[[0, 2, 2]]]
    _check([x, i], outs, [_data((6, 9), dtype, 18), 2], dtype)


@functions
@pytest.mark.parametrize("dtype", DTYPES)
def test_training_updates_match_the_cpu(dtype: str) -> None:
    from tests.runtime.cuda.test_gpu_plan import _mlp

    with tr.change_flags(device="cpu"):
        cpu, data, cpu_params = _mlp(dtype, "REFERENCE")  # the device run has no CPU compiler
        want = [cpu(*data) for _ in range(4)]
    f, _, params = _mlp(dtype)
    got = [f(*data) for _ in range(4)]
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_allclose(a, b, **{k: v * 10 for k, v in _tolerance(dtype).items()})
    for p, q in zip(params, cpu_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), **{k: v * 10 for k, v in _tolerance(dtype).items()})


# -- the device itself -----------------------------------------------------------------------------------------
@device
def test_shared_variables_live_on_the_gpu() -> None:
    from tensorir.runtime.cuda.device_array import DeviceArray

    value = np.arange(12, dtype="float32").reshape(3, 4)
    w = tr.shared(value, name="w")
    stored = w.get_value(borrow=True)
    assert isinstance(stored, DeviceArray) and stored.shape == (3, 4)
    copy = w.get_value()
    assert isinstance(copy, np.ndarray)
    np.testing.assert_array_equal(copy, value)
    w.set_value(value * 2)
    assert w.get_value(borrow=True) is stored  # uploaded into its own buffer
    np.testing.assert_array_equal(w.get_value(), value * 2)
    f = tr.function([], [], updates=[(w, w + 1)])
    address = stored.address
    f()
    assert w.get_value(borrow=True).address == address  # the update went into the variable's buffer
    np.testing.assert_array_equal(w.get_value(), value * 2 + 1)
    assert isinstance(tr.shared(np.float32(1.0)).get_value(borrow=True), np.ndarray)  # scalars stay on the host
    assert isinstance(tr.shared(np.ones(2, bool)).get_value(borrow=True), np.ndarray)


@device
def test_device_arrays_out_and_to_peers() -> None:
    x = T.matrix("x", dtype="float32")
    f = tr.function([x], T.tanh(x) * 2, return_device_arrays=True)
    data = _data((64, 33), "float32", 19)
    out = f(data)
    interface = out.__cuda_array_interface__
    assert interface["version"] == 3 and interface["shape"] == (64, 33) and interface["typestr"] == "<f4"
    np.testing.assert_allclose(out.get(), np.tanh(data) * 2, rtol=2e-6, atol=2e-6)
    for name in ("torch", "cupy"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if name == "torch":
            peer = module.from_dlpack(out)
            assert peer.is_cuda and tuple(peer.shape) == (64, 33)
            np.testing.assert_allclose(peer.cpu().numpy(), out.get())
            peer.mul_(0.5)  # written in place: the device array sees it
            module.cuda.synchronize()  # PyTorch's stream, not the function's
            np.testing.assert_allclose(out.get(), np.tanh(data), rtol=2e-6, atol=2e-6)
            shared = module.as_tensor(out, device="cuda")  # through __cuda_array_interface__
            assert shared.data_ptr() == out.address
        else:
            np.testing.assert_allclose(module.asarray(out).get(), out.get())
    del out, f
    gc.collect()


@device
def test_allocator_reuses_blocks_across_calls() -> None:
    from tensorir.runtime.cuda.context import runtime_for

    x = T.matrix("x", dtype="float32")
    f = tr.function([x], T.exp(x) + 1)
    data = _data((256, 256), "float32", 20)
    f(data)
    stats = runtime_for(0).allocator.stats
    misses = stats.misses
    for _ in range(5):
        f(data)
    assert stats.misses == misses and stats.hits > 0


# -- the tutorials and the tour --------------------------------------------------------------------------------
def _example(name: str):  # noqa: ANN202 - a module
    """An example program's module (they import their siblings by name, so examples/ goes on the path)."""
    import sys

    folder = str(REPO / "examples")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def _tutorial(name: str, argv: list[str]) -> dict:
    return _example(name).main(argv)


@functions
@pytest.mark.parametrize("name", ["logistic_regression", "mlp"])
def test_tutorials_train_to_the_cpu_error(name: str, tmp_path: Path) -> None:
    # scikit-learn's digits: the same data here (preparing) and on the device, which has no other.
    argv = ["--quick", "--offline", "--no-progress", "--data", "digits", "--out", str(tmp_path / "gpu")]
    gpu = _tutorial(name, argv)
    with tr.change_flags(device="cpu", mode="REFERENCE"):
        cpu = _tutorial(name, [*argv[:-1], str(tmp_path / "cpu")])
    assert gpu["epochs"] == cpu["epochs"]
    assert abs(gpu["test_error"] - cpu["test_error"]) <= 0.01, (gpu["test_error"], cpu["test_error"])
    # Float32 kernels (their own exp and log) against NumPy: the same steps, to within rounding.
    np.testing.assert_allclose(gpu["batch_loss"], cpu["batch_loss"], rtol=1e-2, atol=1e-3)


@functions
def test_the_tour_runs_on_the_gpu(tmp_path: Path) -> None:
    tour = _example("tour")
    results = tour.main(["--quick", "--offline", "--no-progress", "--data", "digits", "--device", "cuda", "--out",
                         str(tmp_path)])
    assert len(results) == 3
    assert tr.config.device == "cuda0"
