"""GPU steps of 2-D pooling: ``tir.pool2d``, ``tir.pool2d_grad`` and ``tir.max_pool2d_select``
(kernels in ``codegen/gpu/lower_pool.py``).

A step checks its operands with the references' messages, resolves the geometry with the
reference's :class:`~tensorir.dialects.tir.conv.PoolGeometry` (Theano's output sizes, clipped
border windows), and launches one grid-stride kernel over the elements it writes. The leading
axes are planes; device arrays are C-contiguous, so the element strides are the plane's, the
row's and 1. One kernel per (kind, mode, dtypes), registered when the step is built.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from tensorir.codegen.gpu.lower_pool import POOL_DTYPES, POOL_SIZES, pool_kernel, pool_kernel_name
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.conv import PoolGeometry
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.driver import GpuModule
from tensorir.runtime.cuda.launch import elementwise_launch
from tensorir.runtime.cuda.modules import KernelSpec
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.step_traits import StepTraits

__all__ = ["GRID_STRIDE", "POOL_OPS", "GpuPoolStep", "pool_sizes"]

#: The spec of the pooling and convolution kernels: grid-stride kernels whose own text says what
#: they compute (any grid covers every element, so an emulator runs the text as one thread:
#: ``tests/codegen/gpu/single_thread.py``).
GRID_STRIDE = KernelSpec("grid-stride")
#: The pooling ops and their kernel kinds.
POOL_OPS = {"tir.pool2d": "forward", "tir.pool2d_grad": "grad", "tir.max_pool2d_select": "select"}


def pool_sizes(kind: str, shape: tuple[int, ...], attrs: dict[str, Any]) -> tuple[tuple[int, ...], list[int]]:
    """The output shape of ``kind`` on an input of ``shape`` (C-contiguous) and the kernel's sizes
    (:data:`POOL_SIZES`). Pure: tested without a device."""
    if len(shape) < 2:
        raise ValueError(f"pooling needs an input of rank >= 2, got shape {shape}")
    geo = PoolGeometry(shape[-2:], attrs)
    h, w = geo.hw
    oh, ow = geo.out
    out_shape = shape if kind == "grad" else (*shape[:-2], oh, ow)
    strides = [h * w, w, 1]
    sizes = [math.prod(out_shape), h, w, oh, ow, *strides, *strides, *geo.pad, *geo.ws, *geo.st]
    return out_shape, sizes


class GpuPoolStep:
    """One pooling op on the GPU (module docstring)."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: Any, op: Operation) -> None:  # noqa: ANN401 - a GpuFunctionContext
        from tensorir.codegen.cpu.scalar_ops import NotLowerable

        self.gpu, self.name, self.kind = gpu, op.name, POOL_OPS[op.name]
        self.attrs = dict(op.attributes)
        self.dtype = op.operands[0].type.dtype
        self.value_dtype = op.operands[1].type.dtype if self.kind != "forward" else self.dtype
        if self.dtype not in POOL_DTYPES or self.value_dtype not in POOL_DTYPES:
            raise NotLowerable(f"GPU pooling takes float32 and float64, not {self.dtype}/{self.value_dtype}")
        self.kernel = pool_kernel_name(self.kind, self.attrs["mode"], self.dtype, self.value_dtype)
        gpu.kernels.add(self.kernel, pool_kernel(self.kernel, self.kind, self.attrs["mode"], self.dtype,
                                                 self.value_dtype), GRID_STRIDE)
        self.params = ParameterBlock(3 + len(POOL_SIZES))

    def __call__(self, inputs: list[DeviceArray]) -> list[DeviceArray]:
        x = inputs[0]
        out_shape, sizes = pool_sizes(self.kind, x.shape, self.attrs)
        if self.kind == "grad":
            gz = inputs[1]
            pooled = (*x.shape[:-2], sizes[3], sizes[4])
            if gz.shape != pooled:
                raise ValueError(f"output gradient of shape {gz.shape} for a pooled shape {pooled}")
        if self.kind == "select" and inputs[1].shape != x.shape:
            raise ValueError(f"values of shape {inputs[1].shape} for an input of shape {x.shape}")
        out_dtype = self.value_dtype if self.kind == "select" else self.dtype
        out = DeviceArray.empty(out_shape, out_dtype, self.gpu.memory)
        config = elementwise_launch(out.size, self.gpu.limits)
        if config is not None:
            second = inputs[1].address if self.kind != "forward" else x.address
            self.params.set([x.address, second, out.address, *sizes])
            GpuModule.launch(self.gpu.kernels.function(self.kernel), config, self.params, self.gpu.memory.stream)
        return [out]
