"""GPU steps of reductions and of the softmax family (``codegen/gpu/lower_reduction.py``,
``codegen/gpu/lower_nn.py``), and the strided copy both use to lay their input out.

Both kernel families read a ``rows x cols`` layout: a reduction's reduced axes together at the
end (the rows kernel: one block per row) or at the front (the columns kernel: one thread per
column); a row op's axes at the end. Where an operand is laid out otherwise (the reduced axes
in the middle, a broadcast operand of a fused reduction, a softmax over a leading axis), a
strided copy (the elementwise identity kernel with the operand's strides permuted) makes the
layout first (and broadcasts an operand of lower rank). A mean is a sum divided by the count
afterwards (a flat kernel; the count is an operand, so one kernel serves every shape).

The cross-entropies check their labels in the kernel: a bad label's row goes into a status
word, which the call reads once its stream is synchronized (``GpuFunctionContext.pending``),
raising before any update is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import LABELLED, ROW_OPS
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_elementwise import flat_kernel, strided_kernel
from tensorir.codegen.gpu.lower_nn import row_kernel
from tensorir.codegen.gpu.lower_reduction import columns_kernel, rows_kernel
from tensorir.dialects.interpret import EvaluationError
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.reduction import reduced_shape
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.driver import GpuModule
from tensorir.runtime.cuda.launch import elementwise_launch, row_launch
from tensorir.runtime.cuda.modules import KernelSpec
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.cuda.steps import GpuFunctionContext, broadcast_strides
from tensorir.runtime.step_traits import StepTraits

__all__ = ["StridedCopy", "layout", "reduction_step", "row_step", "run_pending"]


def layout(rank: int, axes: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """How a reduction over ``axes`` of a rank-``rank`` value runs: ``("rows", perm)`` (axes last
    after the permutation ``perm``, the identity when they already are) or ``("columns",
    identity)`` (axes first). Pure: tested without a device."""
    axes = tuple(sorted(axes))
    k = len(axes)
    identity = tuple(range(rank))
    if axes == tuple(range(rank - k, rank)):
        return "rows", identity
    if axes == tuple(range(k)):
        return "columns", identity
    return "rows", tuple(a for a in identity if a not in axes) + axes


class StridedCopy:
    """``out = x`` read along a permutation of ``x``'s (broadcast) axes, written C-contiguous."""

    def __init__(self, gpu: GpuFunctionContext, dtype: str, rank: int) -> None:
        self.gpu, self.dtype, self.rank = gpu, dtype, rank
        self.name = gpu.name("copy")
        gpu.kernels.add(self.name, strided_kernel(self.name, ElementwiseBody.identity(dtype), rank),
                        KernelSpec("strided", ElementwiseBody.identity(dtype)))
        self.params = ParameterBlock(2 + 1 + 2 * rank)

    def __call__(self, x: DeviceArray, shape: Sequence[int], perm: Sequence[int]) -> DeviceArray:
        """``x`` broadcast to ``shape`` (rank ``self.rank``), then its axes in the order ``perm``."""
        strides = broadcast_strides(x.shape, shape)
        out_shape = tuple(shape[p] for p in perm)
        out = DeviceArray.empty(out_shape, self.dtype, self.gpu.memory)
        n = math.prod(out_shape)
        config = elementwise_launch(n, self.gpu.limits)
        if config is not None:
            self.params.set([x.address, out.address, n, *out_shape, *(strides[p] for p in perm)])
            GpuModule.launch(self.gpu.kernels.function(self.name), config, self.params, self.gpu.memory.stream)
        return out


class GpuReductionStep:
    """A reduction (with an optional fused elementwise body) over device arrays."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: GpuFunctionContext, body: ElementwiseBody, ranks: Sequence[int], rank: int, reduce: str,
                 axis: tuple[int, ...] | None, keepdims: bool, out_dtype: str) -> None:
        self.gpu, self.rank, self.reduce, self.keepdims = gpu, rank, reduce, keepdims
        self.axes = tuple(range(rank)) if axis is None else tuple(axis)
        self.out_dtype = out_dtype
        self.scalars = [r == 0 for r in ranks]
        combined_by = "tir.sum" if reduce == "tir.mean" else reduce
        kernels = gpu.kernels
        self.rows_name, self.columns_name = gpu.name("reduce_rows"), gpu.name("reduce_columns")
        kernels.add(self.rows_name, rows_kernel(self.rows_name, body, combined_by, out_dtype, self.scalars),
                    KernelSpec("rows", body, tuple(self.scalars), combined_by, out_dtype))
        kernels.add(self.columns_name, columns_kernel(self.columns_name, body, combined_by, out_dtype, self.scalars),
                    KernelSpec("columns", body, tuple(self.scalars), combined_by, out_dtype))
        self.params = ParameterBlock(len(ranks) + 3)
        self.copies = {d: StridedCopy(gpu, d, rank) for d, s in zip(body.input_dtypes, self.scalars) if not s}
        if reduce == "tir.mean":
            if out_dtype not in ("float32", "float64"):
                raise NotLowerable(f"a mean of dtype {out_dtype} on the GPU")
            divide = ElementwiseBody([out_dtype, out_dtype], [out_dtype], [("tir.true_div", {}, (0, 1), out_dtype)],
                                     [2])
            self.divide_name = gpu.name("mean_divide")
            kernels.add(self.divide_name, flat_kernel(self.divide_name, divide, (False, True)),
                        KernelSpec("flat", divide, (False, True)))
            self.divide_params = ParameterBlock(4)

    def __call__(self, inputs: list[DeviceArray]) -> list[DeviceArray]:
        return self.reduce_over(inputs, self.axes)

    def reduce_over(self, inputs: list[DeviceArray], axes: tuple[int, ...]) -> list[DeviceArray]:
        """The reduction over ``axes`` (the op's own, or ``sum_to``'s, found per call)."""
        gpu, rank = self.gpu, self.rank
        full = [a.shape for a, s in zip(inputs, self.scalars) if not s]
        shape = np.broadcast_shapes(*full) if full else ()
        kind, perm = layout(rank, axes)
        moved = perm != tuple(range(rank))
        operands = [a if s or (a.shape == shape and not moved) else self.copies[a.dtype.name](a, shape, perm)
                    for a, s in zip(inputs, self.scalars)]
        reduced = math.prod(shape[a] for a in axes)
        kept = math.prod(d for i, d in enumerate(shape) if i not in axes)
        out = DeviceArray.empty(reduced_shape(shape, axes, self.keepdims), self.out_dtype, gpu.memory)
        if kind == "rows":
            rows, cols, name = kept, reduced, self.rows_name
            config = row_launch(rows, cols, gpu.limits)
        else:
            rows, cols, name = reduced, kept, self.columns_name
            config = elementwise_launch(cols, gpu.limits)
        if config is not None:
            self.params.set([*(a.address for a in operands), out.address, rows, cols])
            GpuModule.launch(gpu.kernels.function(name), config, self.params, gpu.memory.stream)
        if self.reduce != "tir.mean" or not out.size:
            return [out]
        count = DeviceArray.from_host(np.array(reduced, dtype=self.out_dtype), gpu.memory)
        mean = DeviceArray.empty(out.shape, self.out_dtype, gpu.memory)
        self.divide_params.set([out.address, count.address, mean.address, out.size])
        GpuModule.launch(gpu.kernels.function(self.divide_name), elementwise_launch(out.size, gpu.limits),
                         self.divide_params, gpu.memory.stream)
        return [mean]


def reduction_step(gpu: GpuFunctionContext, op: Operation) -> GpuReductionStep:
    """The GPU step of a reduction op or a fused reduction."""
    body, ranks, reduce = ElementwiseBody.of_reduction(op)
    rank = max(ranks, default=0)
    return GpuReductionStep(gpu, body, ranks, rank, reduce, op.attributes["axis"], op.attributes["keepdims"],
                            op.results[0].type.dtype)


class GpuRowStep:
    """softmax / log_softmax / logsumexp / softmax_crossentropy (and its gradient) over rows."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: GpuFunctionContext, op: Operation) -> None:
        if op.name not in ROW_OPS:
            raise NotLowerable(f"{op.name} has no row kernel")
        self.gpu, self.op, self.op_name = gpu, op, op.name
        scores = op.operands[1] if op.name == "tir.softmax_crossentropy_grad" else op.operands[0]
        self.dtype = op.results[0].type.dtype
        if scores.type.dtype != self.dtype:
            raise NotLowerable(f"{op.name} of {scores.type.dtype} scores with a {self.dtype} result")
        rank = self.rank = scores.type.ndim
        attrs = op.attributes
        if op.name in ("tir.softmax", "tir.log_softmax"):
            self.axes: tuple[int, ...] = (attrs["axis"] % rank,)
        elif op.name == "tir.logsumexp":
            self.axes = tuple(range(rank)) if attrs["axis"] is None else tuple(attrs["axis"])
        else:
            self.axes = (rank - 1,)
        self.keepdims = bool(attrs.get("keepdims", False))
        self.label_dtype = op.operands[-1].type.dtype if op.name in LABELLED else None
        if op.name == "tir.softmax_crossentropy_grad" and op.operands[0].type.dtype != self.dtype:
            raise NotLowerable("cotangents of another dtype than the scores")
        self.name = gpu.name("row")
        gpu.kernels.add(self.name, row_kernel(self.name, op.name, self.dtype, self.label_dtype),
                        KernelSpec("row", None, (), op.name, self.dtype, self.label_dtype))
        n_addresses = {"tir.softmax_crossentropy": 4, "tir.softmax_crossentropy_grad": 5}.get(op.name, 2)
        self.params = ParameterBlock(n_addresses + 2)
        self.copy = StridedCopy(gpu, self.dtype, rank) if rank else None
        if op.name == "tir.softmax_crossentropy_grad" and rank > 1:
            self.broadcast = StridedCopy(gpu, self.dtype, rank - 1)

    def _launch(self, addresses: list[int], rows: int, cols: int) -> None:
        config = row_launch(rows, cols, self.gpu.limits)
        if config is not None:
            self.params.set([*addresses, cols, rows])
            GpuModule.launch(self.gpu.kernels.function(self.name), config, self.params, self.gpu.memory.stream)

    def _status(self, labels: DeviceArray, cols: int) -> DeviceArray:
        """A status word (-1: every label in range), checked once the call's stream is synchronized."""
        status = DeviceArray.empty((1,), np.int64, self.gpu.memory)
        self.gpu.memory.fill_bytes(status.address, 0xFF, 8)

        def check() -> None:
            if status.get()[0] >= 0:
                flat = labels.get().ravel()
                bad = flat[(flat < 0) | (flat >= cols)][0]
                raise ValueError(f"class label {int(bad)} out of range [0, {cols})")

        self.gpu.pending.append((self.op, check))
        return status

    def __call__(self, inputs: list[DeviceArray]) -> list[DeviceArray]:
        memory = self.gpu.memory
        if self.op_name == "tir.softmax_crossentropy_grad":
            dy, x, y = inputs
            cols = x.shape[-1] if x.ndim else 1
            self._check_labels(y, x.shape, cols)
            if dy.shape != y.shape:
                dy = self.broadcast(dy, y.shape, tuple(range(y.ndim))) if y.ndim else dy
            out = DeviceArray.empty(x.shape, self.dtype, memory)
            if y.size:
                status = self._status(y, cols)
                self._launch([x.address, out.address, y.address, dy.address, status.address], y.size, cols)
            return [out]
        x = inputs[0]
        n, k = x.ndim, len(self.axes)
        perm = tuple(a for a in range(n) if a not in self.axes) + self.axes
        moved = perm != tuple(range(n))
        if moved:
            x = self.copy(x, x.shape, perm)
        cols = math.prod(x.shape[n - k:])
        rows = math.prod(x.shape[:n - k])
        if self.op_name in ("tir.softmax", "tir.log_softmax"):
            out = DeviceArray.empty(x.shape, self.dtype, memory)
            if x.size:
                self._launch([x.address, out.address], rows, cols)
            if moved:
                inverse = tuple(int(i) for i in np.argsort(perm))
                out = self.copy(out, out.shape, inverse)
            return [out]
        if self.op_name == "tir.logsumexp":
            shape = reduced_shape(inputs[0].shape, self.axes, self.keepdims)
            out = DeviceArray.empty(shape, self.dtype, memory)
            if rows:
                self._launch([x.address, out.address], rows, cols)
            return [out]
        y = inputs[1]
        self._check_labels(y, x.shape, cols)
        out = DeviceArray.empty(x.shape[:-1], self.dtype, memory)
        if rows:
            status = self._status(y, cols)
            self._launch([x.address, out.address, y.address, status.address], rows, cols)
        return [out]

    @staticmethod
    def _check_labels(y: DeviceArray, shape: tuple[int, ...], cols: int) -> None:
        if y.shape != shape[:-1]:
            raise ValueError(f"labels of shape {y.shape} do not match scores of shape {shape}")
        if y.size and not cols:
            raise ValueError(f"class label {int(y.get().ravel()[0])} out of range [0, 0)")


def row_step(gpu: GpuFunctionContext, op: Operation) -> GpuRowStep:
    """The GPU step of a softmax-family op."""
    return GpuRowStep(gpu, op)


def run_pending(gpu: GpuFunctionContext) -> None:
    """The checks the call's kernels left (after its stream is synchronized); raise the first."""
    pending, gpu.pending = gpu.pending, []
    for op, check in pending:
        try:
            check()
        except ValueError as exc:
            raise EvaluationError(op, exc) from exc


