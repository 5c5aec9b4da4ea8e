"""GPU steps of views and ``sum_to``: basic indexing, dimshuffle, reshape and the leading-axis
views read their operand in place or through one strided copy; ``sum_to`` is a reduction.

A view's layout is not recomputed here: the op's NumPy reference computes it. It runs on a
**probe**, an array of the operand's shape and dtype whose strides are C-contiguous, over one
element of memory (the reference makes views, so it never reads past it): the reference's
result, when it is a view of the probe, has the view's shape, its strides and its first
element's offset. A C-contiguous result is a :class:`DeviceArray` over
the operand's memory (no copy, as on the CPU); another is gathered by the strided copy kernel
(any strides, negative ones too). The other operands (indices, shapes) are host values.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_elementwise import strided_kernel
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.runtime.cuda.device_array import DeviceArray, c_strides
from tensorir.runtime.cuda.driver import GpuModule
from tensorir.runtime.cuda.launch import elementwise_launch
from tensorir.runtime.cuda.modules import KernelSpec
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.cuda.row_steps import GpuReductionStep
from tensorir.runtime.cuda.steps import GpuFunctionContext
from tensorir.runtime.step_traits import StepTraits

__all__ = ["GpuSumToStep", "GpuViewStep", "probe_view", "sum_to_axes"]


def _owns(result: Any, buffer: np.ndarray) -> bool:  # noqa: ANN401
    """Whether ``result`` is a view reaching ``buffer`` through its bases."""
    seen = result
    for _ in range(64):
        if seen is buffer:
            return True
        seen = getattr(seen, "base", None)
        if seen is None:
            return False
    return False


def probe_view(op: Operation, shape: tuple[int, ...], others: list[Any], dtype: Any = None  # noqa: ANN401
               ) -> tuple[tuple[int, ...], tuple[int, ...], int] | None:
    """``(shape, element strides, element offset)`` of ``op``'s result as a view of its operand
    of ``shape`` (the other operands ``others``), or None when the reference copies. The probe
    has the operand's dtype (``dtype``, default its declared one), so the reference's casts to
    the result's dtype are no-ops and its views stay views."""
    dtype = np.dtype(dtype or op.operands[0].type.dtype)
    buffer = np.zeros(1, dtype)
    probe = np.lib.stride_tricks.as_strided(buffer, shape=shape, strides=c_strides(shape, dtype.itemsize),
                                            writeable=False)
    (result,) = run_op(op, [probe, *others])
    if not isinstance(result, np.ndarray) or not _owns(result, buffer):
        return None
    size = dtype.itemsize
    offset = result.__array_interface__["data"][0] - buffer.ctypes.data
    return tuple(result.shape), tuple(s // size for s in result.strides), offset // size


class GpuViewStep:
    """A view op on a device array (module docstring)."""

    #: A contiguous view shares its operand's memory: not a fresh output.
    traits: ClassVar[StepTraits] = StepTraits()

    def __init__(self, gpu: GpuFunctionContext, op: Operation) -> None:
        self.gpu, self.op = gpu, op
        dtype, rank = op.results[0].type.dtype, op.results[0].type.ndim
        if op.operands[0].type.dtype != dtype:
            raise NotLowerable(f"{op.name} changes the dtype")
        self.dtype = dtype
        self.name = gpu.name("view")
        if rank:
            gpu.kernels.add(self.name, strided_kernel(self.name, ElementwiseBody.identity(dtype), rank),
                            KernelSpec("strided", ElementwiseBody.identity(dtype)))
        self.params = ParameterBlock(3 + 2 * rank)

    def __call__(self, inputs: list[Any]) -> list[Any]:  # noqa: ANN401
        x, others = inputs[0], inputs[1:]
        found = probe_view(self.op, x.shape, others, x.dtype)
        if found is None:
            raise ValueError(f"{self.op.name}'s reference copied its operand: no GPU view of it")
        shape, strides, offset = found
        if strides == c_strides(shape, 1) or math.prod(shape) <= 1:
            return [x.view(shape, offset)]
        out = DeviceArray.empty(shape, self.dtype, self.gpu.memory)
        n = math.prod(shape)
        config = elementwise_launch(n, self.gpu.limits)
        if config is not None:
            self.params.set([x.address + offset * x.itemsize, out.address, n, *shape, *strides])
            GpuModule.launch(self.gpu.kernels.function(self.name), config, self.params, self.gpu.memory.stream)
        return [out]


def sum_to_axes(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of ``shape`` summed to give ``target`` (the extra leading ones, and those where
    ``target`` is 1 and ``shape`` is not). Pure: tested without a device."""
    lead = len(shape) - len(target)
    if lead < 0:
        raise ValueError(f"cannot sum a value of shape {shape} to the larger rank of {target}")
    axes = list(range(lead))
    for i, (d, t) in enumerate(zip(shape[lead:], target)):
        if t == 1 and d != 1:
            axes.append(lead + i)
        elif t != d:
            raise ValueError(f"cannot sum a value of shape {shape} to shape {target}")
    return tuple(axes)


class GpuSumToStep:
    """``sum_to(x, like)``: the sum over the axes that make ``x`` ``like``'s shape."""

    #: No axes to sum gives the operand itself.
    traits: ClassVar[StepTraits] = StepTraits()

    def __init__(self, gpu: GpuFunctionContext, op: Operation) -> None:
        x = op.operands[0].type
        if x.dtype != op.results[0].type.dtype:
            raise NotLowerable("sum_to changes the dtype")
        self.reduction = GpuReductionStep(gpu, ElementwiseBody.identity(x.dtype), [x.ndim], x.ndim, "tir.sum", None,
                                          False, x.dtype)

    def __call__(self, inputs: list[Any]) -> list[Any]:  # noqa: ANN401
        x, like = inputs
        target = tuple(like.shape)
        axes = sum_to_axes(x.shape, target)
        if not axes:
            return [x]
        (summed,) = self.reduction.reduce_over([x], axes)
        return [summed.view(target) if summed.base is None else summed]
