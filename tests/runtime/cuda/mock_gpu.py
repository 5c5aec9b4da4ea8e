"""A GPU emulated in host memory, to run the ``device=cuda`` runtime without a device: its plans,
parameter blocks, launches, device arrays, transfers, updates and label checks.

Memory is :class:`~tests.runtime.cuda.fake_device.HostBackedMemory`; a launch reads the kernel's
:class:`~tensorir.runtime.cuda.modules.KernelSpec` and its parameter block's values and computes
what the kernel computes with the ops' NumPy references, at the addresses the block holds; cuBLAS
is NumPy on the same addresses. Grid-stride kernels whose spec is their own text (pooling, the
convolution's im2col and col2im) run that text as one thread on the CPU
(``tests/codegen/gpu/single_thread.py``). What it cannot check is the kernels' PTX (``ptxas``
and the device run do), only that the runtime around them packs, places and reads correctly.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from tests.codegen.gpu.conv_formulas import strided_gemm_at
from tests.codegen.gpu.single_thread import run_one_thread
from tests.runtime.cuda.fake_device import HostBackedMemory

from tensorir.dialects.registry import OPS
from tensorir.dialects.types import TensorType
from tensorir.runtime.cuda.launch import DeviceLimits
from tensorir.runtime.cuda.modules import KernelSpec


def _array(address: int, count: int, dtype: Any) -> np.ndarray:  # noqa: ANN401
    dtype = np.dtype(dtype)
    buffer = (ctypes.c_char * max(count * dtype.itemsize, 1)).from_address(address)
    return np.frombuffer(buffer, dtype=dtype, count=count)


def _strided(address: int, shape: Sequence[int], strides: Sequence[int], dtype: Any) -> np.ndarray:  # noqa: ANN401
    """Elements of ``dtype`` at ``address`` laid out by element ``strides`` (any sign)."""
    dtype = np.dtype(dtype)
    low = sum((d - 1) * s for d, s in zip(shape, strides) if s < 0 and d > 0)
    high = sum((d - 1) * s for d, s in zip(shape, strides) if s > 0 and d > 0)
    base = _array(address + low * dtype.itemsize, high - low + 1, dtype)
    return np.lib.stride_tricks.as_strided(base[-low:], shape=tuple(shape),
                                           strides=tuple(s * dtype.itemsize for s in strides))


def evaluate_body(body: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:  # noqa: ANN401
    """The body's outputs from its inputs, op by op with the ops' NumPy references."""
    values = [np.asarray(v, dtype=d) for v, d in zip(inputs, body.input_dtypes)]
    for name, attrs, operands, dtype in body.ops:
        if name == "const":
            values.append(np.asarray(attrs["value"], dtype=dtype))
            continue
        args = [values[i] for i in operands]
        ndim = max((a.ndim for a in args), default=0)
        (out,) = OPS[name].reference(args, attrs, [TensorType(dtype, (None,) * ndim)])
        values.append(np.asarray(out, dtype=dtype))
    return [np.asarray(values[i], dtype=d) for i, d in zip(body.outputs, body.output_dtypes)]


_COMBINE = {"tir.sum": np.sum, "tir.prod": np.prod, "tir.max": np.max, "tir.min": np.min, "tir.all": np.all,
            "tir.any": np.any}


def _row_op(spec: KernelSpec, values: list[int]) -> None:
    op, dtype = spec.operation, spec.dtype
    cols, rows = values[-2], values[-1]
    x = _array(values[0], rows * cols, dtype).reshape(rows, cols)
    out_address = values[1]
    if op in ("tir.softmax", "tir.log_softmax"):
        (result,) = OPS[op].reference([x], {"axis": -1}, [TensorType(dtype, (None, None))])
        _array(out_address, rows * cols, dtype)[:] = np.asarray(result).ravel()
        return
    if op == "tir.logsumexp":
        (result,) = OPS[op].reference([x], {"axis": (1,), "keepdims": False}, [TensorType(dtype, (None,))])
        _array(out_address, rows, dtype)[:] = result
        return
    labels = _array(values[2], rows, spec.label_dtype)
    status = _array(values[-3], 1, np.int64)
    bad = np.nonzero((labels < 0) | (labels >= cols))[0]
    if bad.size:
        status[0] = bad[0]
        return
    if op == "tir.softmax_crossentropy":
        (result,) = OPS[op].reference([x, labels], {}, [TensorType(dtype, (None,))])
        _array(out_address, rows, dtype)[:] = result
        return
    dy = _array(values[3], rows, dtype)
    (result,) = OPS[op].reference([dy, x, labels], {}, [TensorType(dtype, (None, None))])
    _array(out_address, rows * cols, dtype)[:] = np.asarray(result).ravel()


def emulate(spec: KernelSpec, values: list[int]) -> None:
    """Run one launch of the kernel ``spec`` describes on the parameter block's ``values``."""
    if spec.family == "row":
        _row_op(spec, values)
        return
    body = spec.body
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    if spec.family in ("rows", "columns"):
        rows, cols = values[n_in + 1], values[n_in + 2]
        inputs = [_array(values[k], 1, d)[0] if s else _array(values[k], rows * cols, d).reshape(rows, cols)
                  for k, (d, s) in enumerate(zip(body.input_dtypes, spec.scalars))]
        (value,) = evaluate_body(body, inputs)
        value = np.broadcast_to(value, (rows, cols)).astype(spec.dtype)
        reduced = _COMBINE[spec.operation](value, axis=1 if spec.family == "rows" else 0)
        _array(values[n_in], rows if spec.family == "rows" else cols, spec.dtype)[:] = reduced
        return
    n = values[n_in + n_out]
    if spec.family == "flat":
        inputs = [_array(values[k], 1, d)[0] if s else _array(values[k], n, d)
                  for k, (d, s) in enumerate(zip(body.input_dtypes, spec.scalars))]
        shape: tuple[int, ...] = (n,)
    else:  # strided: n, the output's dims, then each operand's element strides
        rest = values[n_in + n_out + 1:]
        rank = len(rest) // (1 + n_in)
        shape = tuple(rest[:rank])
        inputs = [_strided(values[k], shape, rest[rank + k * rank:rank + (k + 1) * rank], d)
                  for k, d in enumerate(body.input_dtypes)]
    results = evaluate_body(body, inputs)
    for k, (result, dtype) in enumerate(zip(results, body.output_dtypes)):
        _array(values[n_in + k], n, dtype)[:] = np.broadcast_to(result, shape).ravel()


class MockKernels:
    """A ``KernelSet`` that keeps the specs and hands out names as functions."""

    def __init__(self, device: Any, cache_dir: str | None) -> None:  # noqa: ANN401
        self.specs: dict[str, KernelSpec] = {}
        self.texts: dict[str, str] = {}

    def add(self, name: str, text: str, spec: KernelSpec | None = None) -> str:
        self.texts[name] = text
        assert spec is not None, f"kernel {name} registered without a spec"
        self.specs[name] = spec
        return name

    def function(self, name: str) -> str:
        return name

    def load(self) -> None:
        pass


class MockStreamMemory(HostBackedMemory):
    def __init__(self, allocator: Any) -> None:  # noqa: ANN401
        super().__init__()
        self.allocator = allocator
        self.stream = 7
        self.lock = threading.Lock()

    def fill_bytes(self, address: int, value: int, nbytes: int) -> None:
        ctypes.memset(address, value, nbytes)


class MockRuntime:
    ordinal = 0

    def __init__(self) -> None:
        base = HostBackedMemory()
        self.buffers = base.buffers
        self.allocator = base.allocator
        self.device = type("MockDevice", (), {"chip": "sm_90", "limits": DeviceLimits(4)})()
        self.default = self.stream_memory()

    def stream_memory(self) -> MockStreamMemory:
        memory = MockStreamMemory(self.allocator)
        memory.buffers = self.buffers
        return memory


class MockCublas:
    """cuBLAS's row-major products in NumPy on the same addresses."""

    def __init__(self, stream: int) -> None:
        pass

    def gemm(self, dtype: str, m: int, n: int, k: int, alpha: float, a: int, b: int, beta: float, c: int,
             trans_a: bool = False, trans_b: bool = False) -> None:
        A = _array(a, m * k, dtype).reshape((k, m) if trans_a else (m, k))
        B = _array(b, k * n, dtype).reshape((n, k) if trans_b else (k, n))
        C = _array(c, m * n, dtype).reshape(m, n)
        C[...] = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B)) + (beta * C if beta else 0)

    def gemm_batched(self, dtype: str, batch: int, m: int, n: int, k: int, a: int, b: int, c: int) -> None:
        A = _array(a, batch * m * k, dtype).reshape(batch, m, k)
        B = _array(b, batch * k * n, dtype).reshape(batch, k, n)
        _array(c, batch * m * n, dtype)[:] = np.matmul(A, B).ravel()

    def gemv(self, dtype: str, rows: int, cols: int, alpha: float, a: int, x: int, beta: float, y: int,
             trans: bool = False) -> None:
        A = _array(a, rows * cols, dtype).reshape(rows, cols)
        size = cols if trans else rows
        X = _array(x, rows if trans else cols, dtype)
        Y = _array(y, size, dtype)
        Y[...] = alpha * ((A.T if trans else A) @ X) + (beta * Y if beta else 0)


class NoGraphs:
    """The emulated GPU records no CUDA graphs: a capture is refused, and the steps run one by one."""

    def __init__(self, stream: Any) -> None:  # noqa: ANN401
        pass

    def begin(self) -> None:
        from tensorir.runtime.cuda.graphs import CaptureRefused

        raise CaptureRefused("the emulated GPU records no CUDA graphs")


@contextlib.contextmanager
def mock_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockRuntime]:
    """``device=cuda`` on the emulated GPU for the duration of the block."""
    from tensorir.frontend import mode_class, shared
    from tensorir.runtime.cuda import context, conv_steps, driver, executor, graphs, steps

    runtime = MockRuntime()
    launches: list[tuple[str, Any]] = []

    def launch(function: str, config: Any, parameters: Any, stream: Any = 0) -> None:  # noqa: ANN401
        kernels = current["kernels"]
        assert config.threads > 0
        launches.append((function, config))
        values = [int(v) for v in parameters.values.astype(np.int64)]
        if kernels.specs[function].family == "grid-stride":  # its own text, as one thread on the CPU
            run_one_thread(kernels.texts[function], function, values)
        else:
            emulate(kernels.specs[function], values)

    current: dict[str, Any] = {}

    class RecordingKernels(MockKernels):
        def function(self, name: str) -> str:
            current["kernels"] = self
            return name

    monkeypatch.setattr(executor, "runtime_for", lambda ordinal: runtime)
    monkeypatch.setattr(context, "runtime_for", lambda ordinal: runtime)
    monkeypatch.setattr(executor, "KernelSet", RecordingKernels)
    monkeypatch.setattr(driver.GpuModule, "launch", staticmethod(launch))
    monkeypatch.setattr(mode_class, "require_device", lambda choice: None)
    monkeypatch.setattr(shared, "require_device", lambda choice: None)
    monkeypatch.setattr(steps.GpuFunctionContext, "cublas", property(lambda self: MockCublas(0)))
    monkeypatch.setattr(graphs, "DriverGraphs", NoGraphs)
    monkeypatch.setattr(conv_steps, "run_product", lambda cublas, dtype, product, addresses:
                        strided_gemm_at(product, addresses, dtype))
    runtime.launches = launches  # type: ignore[attr-defined]
    yield runtime


__all__ = ["MockRuntime", "emulate", "evaluate_body", "mock_gpu"]
