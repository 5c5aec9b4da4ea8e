"""The GPU's steps: the second set of step implementations behind the same plan.

``runtime/native.py`` builds a plan from a kind -> builder table; under ``device=cuda`` it takes
:data:`GPU_STEP_BUILDERS` instead of the CPU's (and the GPU's step table, :func:`gpu_step_kind`).
After ``passes/device_transfer.py`` every op reads values on its own side, so:

- **elementwise** ops and fused bodies: the vector kernel when every operand has the output's
  shape (C-contiguous device arrays, 16-byte aligned blocks), else the strided kernel (any
  broadcasting), both compiled with the function's other kernels (``modules.KernelSet``);
- **BLAS**: ``tir.gemm``, ``tir.gemv``, ``tir.dot`` (matrix-matrix, matrix-vector) and
  ``tir.batched_dot`` on cuBLAS, transposes folded into the call;
- **transfers**: ``tir.to_device`` uploads (a constant once), ``tir.to_host`` downloads;
- everything else runs its NumPy reference on host values (the ops that read a device value's
  shape only get a stub of that shape), with a one-time warning naming the op.

Which ops take a GPU step is decided once, here (:func:`runs_on_device`), from the GPU's step
table and the forms these steps handle; the transfer rewrite and the plan read the same answer.
Each kernel's launch parameter block is made once, when its step is built; a call writes the
values into it (no parameter arrays are built per call).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu import step_table as gpu_table
from tensorir.codegen.gpu.lower_elementwise import (
    flat_kernel,
    strided_kernel,
    vector_alignment,
    vector_kernel,
    vector_lanes,
)
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.runtime.cuda.conv_choice import ConvChoices
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.driver import GpuModule
from tensorir.runtime.cuda.launch import elementwise_launch
from tensorir.runtime.cuda.modules import KernelSpec
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.step_traits import StepTraits

__all__ = ["download_deferred", "GPU_STEP_BUILDERS", "GpuFunctionContext", "broadcast_strides", "gpu_step_kind",
           "DeviceFallbackStep", "host_operands", "host_step", "runs_on_device", "warn_host_op"]

_WARNED: set[str] = set()


def gpu_step_kind(op: Operation) -> StepKind:
    """The kind of step ``op`` takes under ``device=cuda`` (the GPU's step table)."""
    return gpu_table.step_kind(op)


def runs_on_device(op: Operation) -> bool:
    """Whether ``op`` takes a GPU step (for ``passes/device_transfer.py``)."""
    return gpu_table.step_kind(op) not in (StepKind.REFERENCE, StepKind.TRANSFER)


def host_operands(op: Operation) -> tuple[int, ...]:
    """Operands a GPU step reads on the host (for ``passes/device_transfer.py``)."""
    if op.name == "tir.scan" and gpu_table.step_kind(op) is StepKind.LOOP:
        from tensorir.runtime.cuda.scan_steps import scan_host_operands

        return scan_host_operands(op)
    return gpu_table.host_operands(op)


def warn_host_op(op: Operation) -> None:
    """Warn once per op name that ``op`` runs on the host under ``device=cuda``, and why."""
    if op.name in _WARNED or op.opdef is CONSTANT:
        return
    _WARNED.add(op.name)
    warnings.warn(f"device=cuda: {op.name} has no GPU kernel ({gpu_table.why_reference(op)}); it runs on the host "
                  "with transfers around it", stacklevel=2)


class GpuFunctionContext:
    """What a function's GPU steps share: its stream's memory, its kernels, its cuBLAS handle."""

    def __init__(self, memory: Any, kernels: Any, limits: Any) -> None:  # noqa: ANN401
        self.memory = memory
        self.kernels = kernels
        self.limits = limits
        self._cublas = None
        self._count = 0
        #: The route each convolution shape takes (cuDNN or the implicit GEMM) and the function's
        #: cuDNN handle, made by its first conv step that asks (``runtime/cuda/conv_steps.py``).
        self.conv_choices = ConvChoices()
        self.cudnn_handle: Any = None
        #: Checks the call makes once its stream is synchronized: (op, check) pairs whose check
        #: raises on a bad value the kernels flagged (a class label out of range).
        self.pending: list[tuple[Operation, Callable[[], None]]] = []

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    @property
    def cublas(self) -> Any:  # noqa: ANN401
        if self._cublas is None:
            from tensorir.runtime.cuda.cublas import Cublas

            self._cublas = Cublas(self.memory.stream_handle)
        return self._cublas


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous operand of ``shape`` read along ``out_shape`` (a
    broadcast or missing leading dim has stride 0)."""
    rank = len(out_shape)
    padded = (1,) * (rank - len(shape)) + tuple(shape)
    strides, step = [0] * rank, 1
    for d in range(rank - 1, -1, -1):
        strides[d] = 0 if padded[d] == 1 and out_shape[d] != 1 else step
        step *= padded[d]
    return strides


class GpuElementwiseStep:
    """An elementwise body over device arrays (module docstring)."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: GpuFunctionContext, body: ElementwiseBody, out_rank: int) -> None:
        self.gpu, self.body, self.out_rank = gpu, body, out_rank
        n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
        kernels = gpu.kernels
        if out_rank == 0:
            self.full = gpu.name("ew_scalar")
            kernels.add(self.full, flat_kernel(self.full, body, [True] * n_in),
                        KernelSpec("flat", body, (True,) * n_in))
            self.lanes, self.alignment = 1, 1
        else:
            self.full = gpu.name("ew_vector")
            kernels.add(self.full, vector_kernel(self.full, body, [False] * n_in),
                        KernelSpec("flat", body, (False,) * n_in))
            self.lanes = vector_lanes([*body.input_dtypes, *body.output_dtypes])
            self.alignment = max(vector_alignment(body, [False] * n_in))
            self.strided = gpu.name("ew_strided")
            kernels.add(self.strided, strided_kernel(self.strided, body, out_rank), KernelSpec("strided", body))
            self.strided_params = ParameterBlock(n_in + n_out + 1 + out_rank + n_in * out_rank)
        self.full_params = ParameterBlock(n_in + n_out + 1)

    def __call__(self, inputs: list[DeviceArray]) -> list[DeviceArray]:
        gpu = self.gpu
        out_shape = np.broadcast_shapes(*(a.shape for a in inputs)) if inputs else ()
        outs = [DeviceArray.empty(out_shape, dtype, gpu.memory) for dtype in self.body.output_dtypes]
        n = math.prod(out_shape)
        addresses = [a.address for a in inputs] + [o.address for o in outs]
        # The vector kernel needs every array aligned to its vector (a view may start anywhere).
        if self.out_rank == 0 or (all(a.shape == out_shape for a in inputs)
                                  and not any(address % self.alignment for address in addresses)):
            config = elementwise_launch(n, gpu.limits, self.lanes)
            name, params = self.full, self.full_params
            params.set([*addresses, n])
        else:
            config = elementwise_launch(n, gpu.limits)
            name, params = self.strided, self.strided_params
            strides = [s for a in inputs for s in broadcast_strides(a.shape, out_shape)]
            params.set([*addresses, n, *out_shape, *strides])
        if config is not None:
            GpuModule.launch(gpu.kernels.function(name), config, params, gpu.memory.stream)
        return outs


#: The largest host value (elements) whose upload a transfer keeps for the next call with the same
#: value: shapes and sizes, not data.
_KEPT_UPLOAD_ELEMENTS = 64


def download_deferred(op: Operation) -> bool:
    """Whether ``op`` is a ``tir.to_host`` whose value only leaves the function (read by its
    ``func.return`` alone): the call downloads it after the plan has run, so the plan itself makes
    no host round trip for it (and can be captured as a CUDA graph, ``graphs.py``)."""
    uses = op.results[0].uses if op.name == "tir.to_host" and op.results else []
    return bool(uses) and all(user.name == "func.return" for user, _ in uses)


class TransferStep:
    """``tir.to_device`` (upload; a constant's upload is kept) or ``tir.to_host`` (download; left
    to the call, after the plan, for a value the function only returns: :func:`download_deferred`)."""

    #: A kept constant is handed out again at every call: not a fresh output.
    traits: ClassVar[StepTraits] = StepTraits()

    def __init__(self, gpu: GpuFunctionContext, op: Operation) -> None:
        self.gpu = gpu
        self.to_device = op.name == "tir.to_device"
        self.deferred = download_deferred(op)
        owner = op.operands[0].owner
        self.constant = owner is not None and owner.opdef is CONSTANT
        self._kept: DeviceArray | None = None
        self._kept_host: np.ndarray | None = None

    def __call__(self, inputs: list[Any]) -> list[Any]:
        (x,) = inputs
        if not self.to_device:
            return [x] if self.deferred else [x.get()]
        if self.constant:
            if self._kept is None:
                self._kept = DeviceArray.from_host(np.asarray(x), self.gpu.memory)
            return [self._kept]
        host = np.asarray(x)
        # The same small host value as last call (a shape, a size): its upload is kept, so a call
        # whose values the signature fixes uploads nothing (and can be a CUDA graph, graphs.py).
        kept, seen = self._kept, self._kept_host
        if (kept is not None and seen is not None and seen.shape == host.shape and seen.dtype == host.dtype
                and np.array_equal(seen, host)):
            return [kept]
        array = DeviceArray.from_host(host, self.gpu.memory)
        if host.size <= _KEPT_UPLOAD_ELEMENTS:
            self._kept, self._kept_host = array, host.copy()
        return [array]


class BlasStep:
    """A product on cuBLAS (module docstring); alpha and beta are host values."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: GpuFunctionContext, op: Operation) -> None:
        self.gpu, self.name = gpu, op.name
        self.dtype = op.results[0].type.dtype
        self.attributes = op.attributes

    def _accumulate(self, c: Any, beta: float, shape: tuple[int, ...]) -> DeviceArray:  # noqa: ANN401
        """The output, holding ``c`` broadcast to ``shape`` where ``beta`` is not 0."""
        out = DeviceArray.empty(shape, self.dtype, self.gpu.memory)
        if beta != 0:
            if not isinstance(c, DeviceArray) or c.shape != shape:
                host = np.broadcast_to(c.get() if isinstance(c, DeviceArray) else np.asarray(c), shape)
                c = DeviceArray.from_host(np.asarray(host, dtype=self.dtype), self.gpu.memory)
            self.gpu.memory.copy(out.address, c.address, out.nbytes)
        return out

    def __call__(self, inputs: list[Any]) -> list[Any]:
        cublas, dtype = self.gpu.cublas, self.dtype
        if self.name == "tir.gemm":
            c, alpha, a, b, beta = inputs
            ta, tb = self.attributes["trans_a"], self.attributes["trans_b"]
            m, k = (a.shape[1], a.shape[0]) if ta else a.shape
            n = b.shape[0] if tb else b.shape[1]
            beta = float(beta)
            out = self._accumulate(c, beta, (m, n))
            if m and n:
                cublas.gemm(dtype, m, n, k, float(alpha), a.address, b.address, beta if out.size else 0.0,
                            out.address, ta, tb)
            return [out]
        if self.name == "tir.gemv":
            y, alpha, a, x, beta = inputs
            trans = self.attributes["trans"]
            rows, cols = a.shape
            beta = float(beta)
            out = self._accumulate(y, beta, (cols if trans else rows,))
            if out.size:
                cublas.gemv(dtype, rows, cols, float(alpha), a.address, x.address, beta, out.address, trans)
            return [out]
        if self.name == "tir.batched_dot":
            a, b = inputs
            batch, m, k = a.shape
            n = b.shape[2]
            out = DeviceArray.empty((batch, m, n), dtype, self.gpu.memory)
            if out.size:
                cublas.gemm_batched(dtype, batch, m, n, k, a.address, b.address, out.address)
            return [out]
        a, b = inputs  # tir.dot
        if b.ndim == 1:
            out = DeviceArray.empty((a.shape[0],), dtype, self.gpu.memory)
            if out.size:
                cublas.gemv(dtype, a.shape[0], a.shape[1], 1.0, a.address, b.address, 0.0, out.address)
            return [out]
        m, k = a.shape
        n = b.shape[1]
        out = DeviceArray.empty((m, n), dtype, self.gpu.memory)
        if out.size:
            cublas.gemm(dtype, m, n, k, 1.0, a.address, b.address, 0.0, out.address)
        return [out]


def _stub(value: Any) -> Any:  # noqa: ANN401
    """A device array as a host array of its shape and dtype holding no data (zero strides)."""
    if isinstance(value, DeviceArray):
        return np.ndarray(value.shape, value.dtype, buffer=bytes(16), strides=(0,) * value.ndim)
    return value


def _reference_of(op: Operation, inputs: list[Any]) -> list[Any]:  # noqa: ANN401
    """``op``'s NumPy reference (a fused body is evaluated, it has no reference of its own)."""
    if op.regions:
        return list(op.opdef.evaluate(op, inputs))  # type: ignore[attr-defined]
    return run_op(op, inputs)


def host_step(op: Operation) -> Callable[[list[Any]], list[Any]]:
    """``op``'s NumPy reference on host values (operands read for their shape only may be
    device arrays: they get a stub of their shape)."""
    shape_only = op.opdef.shape_operands

    def step(inputs: list[Any]) -> list[Any]:
        if shape_only:
            inputs = [_stub(v) if i in shape_only else v for i, v in enumerate(inputs)]
        return _reference_of(op, inputs)

    return step


class DeviceFallbackStep:
    """An op placed on the GPU whose form no GPU step takes (a dtype mix, say): its operands are
    downloaded, its reference runs, its results are uploaded. Correct, slow, warned about once."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: GpuFunctionContext, op: Operation, reason: str) -> None:
        self.gpu, self.op = gpu, op
        if op.name not in _WARNED:
            _WARNED.add(op.name)
            warnings.warn(f"device=cuda: {op.name} runs on the host here ({reason}), its values copied there and "
                          "back", stacklevel=2)

    def __call__(self, inputs: list[Any]) -> list[Any]:
        host = [v.get() if isinstance(v, DeviceArray) else v for v in inputs]
        results = _reference_of(self.op, host)
        return [DeviceArray.from_host(np.asarray(r), self.gpu.memory) for r in results]


def _gpu(executor: Any) -> GpuFunctionContext:  # noqa: ANN401 - the NativeExecutor
    return executor.device_context


def _guarded(build: Callable[[GpuFunctionContext, Operation], Any]) -> Callable[..., tuple[Any, str]]:
    """A builder that falls back to :class:`DeviceFallbackStep` where ``build`` finds the op's
    form not lowerable (the op stays placed on the GPU; only its step differs)."""

    def builder(executor: Any, op: Operation, predicted: dict) -> tuple[Any, str]:  # noqa: ANN401
        gpu = _gpu(executor)
        try:
            return build(gpu, op), "gpu"
        except NotLowerable as exc:
            return DeviceFallbackStep(gpu, op, str(exc)), "reference"

    return builder


def _elementwise(gpu: GpuFunctionContext, op: Operation) -> GpuElementwiseStep:
    body = ElementwiseBody.from_block(op.regions[0].block) if op.name == "tir.fused" else ElementwiseBody.from_op(op)
    return GpuElementwiseStep(gpu, body, op.results[0].type.ndim)


def _reduction(gpu: GpuFunctionContext, op: Operation) -> Any:  # noqa: ANN401
    from tensorir.runtime.cuda.row_steps import reduction_step

    return reduction_step(gpu, op)


def _row(gpu: GpuFunctionContext, op: Operation) -> Any:  # noqa: ANN401
    from tensorir.runtime.cuda.row_steps import row_step

    return row_step(gpu, op)


def _index(gpu: GpuFunctionContext, op: Operation) -> Any:  # noqa: ANN401
    from tensorir.runtime.cuda.view_steps import GpuSumToStep, GpuViewStep

    return GpuSumToStep(gpu, op) if op.name == "tir.sum_to" else GpuViewStep(gpu, op)


def _conv_pool(gpu: GpuFunctionContext, op: Operation) -> Any:  # noqa: ANN401
    from tensorir.runtime.cuda.conv_steps import CONV_OPS, GpuConvStep
    from tensorir.runtime.cuda.pool_steps import GpuPoolStep

    return GpuConvStep(gpu, op) if op.name in CONV_OPS else GpuPoolStep(gpu, op)


def _loop(executor: Any, op: Operation, predicted: dict) -> tuple[Any, str]:  # noqa: ANN401
    from tensorir.runtime.cuda.scan_steps import GpuScanStep

    step = GpuScanStep(executor, op)
    return step, step.kind


def _transfer(executor: Any, op: Operation, predicted: dict) -> tuple[Any, str]:  # noqa: ANN401
    return TransferStep(_gpu(executor), op), "transfer"


def _reference(executor: Any, op: Operation, predicted: dict) -> tuple[Any, str]:  # noqa: ANN401
    warn_host_op(op)
    return host_step(op), "reference"


#: The GPU's step for each kind (``runtime/native.py`` reads this table under ``device=cuda``).
GPU_STEP_BUILDERS: dict[StepKind, Callable[..., tuple[Any, str] | None]] = {
    StepKind.ELEMENTWISE: _guarded(_elementwise),
    StepKind.REDUCTION: _guarded(_reduction),
    StepKind.ROW: _guarded(_row),
    StepKind.BLAS: _guarded(BlasStep),
    StepKind.INDEX: _guarded(_index),
    StepKind.CONV_POOL: _guarded(_conv_pool),
    StepKind.LOOP: _loop,
    StepKind.TRANSFER: _transfer,
    StepKind.REFERENCE: _reference,
}
