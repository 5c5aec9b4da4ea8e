"""GPU steps of ``tir.conv2d`` and its two gradients: cuDNN where it takes the shape, else the
implicit GEMM (im2col / col2im kernels around cuBLAS products).

Each step checks its operands as the CPU's step does (the references' messages: ranks, groups,
the shape operands against their static parts), resolves the geometry with the reference's
classes (:class:`~tensorir.runtime.cuda.conv_gemm.ConvShape`), then asks the function's
:class:`~tensorir.runtime.cuda.conv_choice.ConvChoices` which route the shape takes: the first
call of a shape decides (cuDNN's plan, or why not), later calls reuse it; a cuDNN call that
fails when run is replaced by the implicit GEMM for that shape, with the reason kept.

The implicit GEMM takes the batch in chunks whose im2col scratch fits
``conv_gemm.SCRATCH_BUDGET_BYTES``; its kernels are registered with the function's other
kernels when the step is built (one compile). Outputs and scratch are fresh device arrays:
no kernel writes over an operand it reads (the kernels' ``noalias`` contract).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_conv import (
    CHANNELS_FIRST_SIZES,
    COL2IM_SIZES,
    CONV_DTYPES,
    IM2COL_SIZES,
    channels_first_kernel,
    col2im_kernel,
    im2col_kernel,
)
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.conv import check_static_shape, conv_attrs
from tensorir.runtime.cuda.conv_choice import CUDNN, IMPLICIT_GEMM, ConvChoice, ConvChoices
from tensorir.runtime.cuda.conv_gemm import (
    ConvShape,
    chunk_images,
    filter_gradient_products,
    forward_products,
    input_gradient_products,
    run_product,
)
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.driver import GpuModule
from tensorir.runtime.cuda.launch import elementwise_launch
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.cuda.pool_steps import GRID_STRIDE
from tensorir.runtime.step_traits import StepTraits

__all__ = ["CONV_OPS", "GpuConvStep"]

#: The conv ops and the kernel kind each is (``lower_conv``'s and cuDNN's names).
CONV_OPS = {"tir.conv2d": "forward", "tir.conv2d_grad_input": "grad_input", "tir.conv2d_grad_filters": "grad_filters"}


def _host_shape(name: str, value: Any, static: tuple[int, ...]) -> tuple[int, int, int, int]:  # noqa: ANN401
    shape = np.asarray(value.get() if isinstance(value, DeviceArray) else value)
    check_static_shape(name, shape, static)
    dims = tuple(int(d) for d in shape)
    if min(dims) < 0:
        raise ValueError(f"{name}: negative dimension in shape {dims}")
    return dims  # type: ignore[return-value]


def _rank4(name: str, what: str, a: DeviceArray) -> None:
    if a.ndim != 4:
        raise ValueError(f"{name}: {what} must be 4-d, got shape {a.shape}")


class GpuConvStep:
    """One conv op on the GPU (module docstring)."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, gpu: Any, op: Operation, choices: ConvChoices | None = None) -> None:  # noqa: ANN401
        self.gpu, self.name, self.kind = gpu, op.name, CONV_OPS[op.name]
        self.dtype = op.results[0].type.dtype
        if self.dtype not in CONV_DTYPES or any(v.type.dtype != self.dtype for v in op.operands[:2]):
            raise NotLowerable(f"GPU convolutions take float32 or float64 operands of one dtype, not "
                               f"{', '.join(v.type.dtype for v in op.operands[:2])}")
        self.attrs = conv_attrs(op)
        self.static = tuple(op.attributes.get("static_shape", (-1, -1, -1, -1)))
        self.choices = choices if choices is not None else gpu.conv_choices
        kernels = {"forward": (("im2col", im2col_kernel, IM2COL_SIZES),),
                   "grad_input": (("col2im", col2im_kernel, COL2IM_SIZES),),
                   "grad_filters": (("im2col", im2col_kernel, IM2COL_SIZES),
                                    ("channels_first", channels_first_kernel, CHANNELS_FIRST_SIZES))}[self.kind]
        self.kernels: dict[str, tuple[str, ParameterBlock]] = {}
        for role, emit, sizes in kernels:
            name = f"conv_{role}_{self.dtype}"
            gpu.kernels.add(name, emit(name, self.dtype), GRID_STRIDE)
            self.kernels[role] = (name, ParameterBlock(2 + len(sizes)))
        self._cudnn_plans: dict[ConvShape, Any] = {}

    # -- shapes ------------------------------------------------------------------------------------
    def shape_of(self, inputs: list[Any]) -> ConvShape:  # noqa: ANN401
        """The convolution's sizes from the operands (the references' checks and messages)."""
        if self.kind == "forward":
            x, w = inputs
            _rank4(self.name, "input", x)
            _rank4(self.name, "filters", w)
            return ConvShape.of(x.shape, w.shape, self.attrs)
        if self.kind == "grad_input":
            gy, w, shape = inputs
            _rank4(self.name, "output gradient", gy)
            s = ConvShape.of(_host_shape(self.name, shape, self.static), w.shape, self.attrs)
        else:
            x, gy, shape = inputs
            _rank4(self.name, "output gradient", gy)
            s = ConvShape.of(x.shape, _host_shape(self.name, shape, self.static), self.attrs)
        if gy.shape != (s.N, s.F, s.OH, s.OW):
            raise ValueError(f"{self.name}: output gradient of shape {gy.shape} does not match the expected "
                             f"{(s.N, s.F, s.OH, s.OW)}")
        return s

    # -- the route ---------------------------------------------------------------------------------
    def _decide(self, s: ConvShape) -> ConvChoice:
        from tensorir.runtime.cuda.cudnn import CudnnRefused

        try:
            plan = self._cudnn().plan(self.kind, s, self.dtype)
        except CudnnRefused as exc:
            return ConvChoice(IMPLICIT_GEMM, reason=f"cuDNN: {exc}")
        self._cudnn_plans[s] = plan
        return ConvChoice(CUDNN, plan.algorithm, plan.algorithm_name, plan.workspace_bytes)

    def _plan(self, s: ConvShape) -> Any:  # noqa: ANN401 - a CudnnPlan, or None
        """This step's cuDNN plan of ``s`` (another step of the function may have made the choice:
        each step keeps its own descriptors); None, with the choice replaced, if cuDNN refuses."""
        from tensorir.runtime.cuda.cudnn import CudnnRefused

        plan = self._cudnn_plans.get(s)
        if plan is None:
            try:
                plan = self._cudnn_plans[s] = self._cudnn().plan(self.kind, s, self.dtype)
            except CudnnRefused as exc:
                self.choices.forget(self.name, self.dtype, s, f"cuDNN: {exc}")
        return plan

    def _cudnn(self) -> Any:  # noqa: ANN401 - a Cudnn
        handle = self.gpu.cudnn_handle
        if handle is None:
            from tensorir.runtime.cuda.cudnn import Cudnn

            handle = self.gpu.cudnn_handle = Cudnn(self.gpu.memory.stream_handle)
        return handle

    def __call__(self, inputs: list[Any]) -> list[DeviceArray]:  # noqa: ANN401
        s = self.shape_of(inputs)
        out_shape = {"forward": (s.N, s.F, s.OH, s.OW), "grad_input": (s.N, s.C, s.H, s.W),
                     "grad_filters": (s.F, s.Cg, s.kh, s.kw)}[self.kind]
        out = DeviceArray.empty(out_shape, self.dtype, self.gpu.memory)
        if out.size == 0:
            return [out]
        a, b = inputs[0], inputs[1]
        if a.size == 0 or b.size == 0:  # sums over nothing
            self.gpu.memory.fill_bytes(out.address, 0, out.nbytes)
            return [out]
        choice = self.choices.choose(self.name, self.dtype, s, lambda: self._decide(s))
        plan = self._plan(s) if choice.route == CUDNN else None
        if plan is not None:
            workspace = DeviceArray.empty((max(plan.workspace_bytes, 1),), np.uint8, self.gpu.memory)
            x, w, y = {"forward": (a, b, out), "grad_input": (out, b, a), "grad_filters": (a, out, b)}[self.kind]
            try:
                self._cudnn().run(plan, x.address, w.address, y.address, workspace.address)
                return [out]
            except RuntimeError as exc:
                self.choices.forget(self.name, self.dtype, s, f"cuDNN failed when run: {exc}")
                self._cudnn_plans.pop(s, None)
        getattr(self, f"_{self.kind}")(s, a, b, out)
        return [out]

    # -- the implicit GEMM -------------------------------------------------------------------------
    def _launch(self, role: str, total: int, values: list[int]) -> None:
        name, params = self.kernels[role]
        config = elementwise_launch(total, self.gpu.limits)
        if config is not None:
            params.set(values)
            GpuModule.launch(self.gpu.kernels.function(name), config, params, self.gpu.memory.stream)

    def _chunks(self, s: ConvShape) -> list[tuple[int, int]]:
        per = chunk_images(s, np.dtype(self.dtype).itemsize)
        return [(n0, min(per, s.N - n0)) for n0 in range(0, s.N, per)]

    def _im2col(self, s: ConvShape, x: DeviceArray, n0: int, nb: int) -> DeviceArray:
        cols = DeviceArray.empty((s.C * s.kh * s.kw, nb * s.P), self.dtype, self.gpu.memory)
        strides = [st // x.itemsize for st in x.strides]
        self._launch("im2col", cols.size, [x.address, cols.address, cols.size, *s.geometry(n0, nb), *strides])
        return cols

    def _forward(self, s: ConvShape, x: DeviceArray, w: DeviceArray, y: DeviceArray) -> None:
        for n0, nb in self._chunks(s):
            cols = self._im2col(s, x, n0, nb)
            addresses = {"cols": cols.address, "w": w.address, "y": y.address}
            for product in forward_products(s, n0, nb):
                run_product(self.gpu.cublas, self.dtype, product, addresses)

    def _grad_input(self, s: ConvShape, gy: DeviceArray, w: DeviceArray, dx: DeviceArray) -> None:
        for n0, nb in self._chunks(s):
            cols = DeviceArray.empty((s.C * s.kh * s.kw, nb * s.P), self.dtype, self.gpu.memory)
            addresses = {"cols": cols.address, "w": w.address, "gy": gy.address}
            for product in input_gradient_products(s, n0, nb):
                run_product(self.gpu.cublas, self.dtype, product, addresses)
            total = nb * s.C * s.H * s.W
            self._launch("col2im", total, [cols.address, dx.address, total, *s.geometry(n0, nb)])

    def _grad_filters(self, s: ConvShape, x: DeviceArray, gy: DeviceArray, dw: DeviceArray) -> None:
        for k, (n0, nb) in enumerate(self._chunks(s)):
            cols = self._im2col(s, x, n0, nb)
            gyt = DeviceArray.empty((s.F, nb * s.P), self.dtype, self.gpu.memory)
            self._launch("channels_first", gyt.size, [gy.address, gyt.address, gyt.size, n0, nb, s.F, s.P])
            addresses = {"cols": cols.address, "gyt": gyt.address, "dw": dw.address}
            for product in filter_gradient_products(s, nb, first=k == 0):
                run_product(self.gpu.cublas, self.dtype, product, addresses)

    def describe(self) -> str:
        """The routes this step's shapes took (see :class:`ConvChoices`)."""
        return "\n".join(line for line in self.choices.describe().splitlines() if line.startswith(self.name + " "))

