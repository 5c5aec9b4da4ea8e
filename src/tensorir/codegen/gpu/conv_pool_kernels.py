"""The GPU kernels of one convolution or pooling op, for ``tensorir-opt --emit=ptx``
(``module_lowering.py``): what the op's GPU step (``runtime/cuda/conv_steps.py``,
``runtime/cuda/pool_steps.py``) registers, named after the op.

A convolution's products are cuBLAS calls (or cuDNN's), not kernels of ours: its kernels are
the implicit GEMM's data movement (im2col; col2im for the input gradient; im2col and the
channels-first copy for the filter gradient).
"""

from __future__ import annotations

from tensorir.codegen.gpu.lower_conv import channels_first_kernel, col2im_kernel, im2col_kernel
from tensorir.codegen.gpu.lower_pool import pool_kernel
from tensorir.dialects.ir import Operation

__all__ = ["CONV_KERNELS", "POOL_KINDS_OF", "conv_pool_kernels"]

#: Per conv op, the implicit GEMM's kernels (role, emitter).
CONV_KERNELS = {
    "tir.conv2d": (("im2col", im2col_kernel),),
    "tir.conv2d_grad_input": (("col2im", col2im_kernel),),
    "tir.conv2d_grad_filters": (("im2col", im2col_kernel), ("channels_first", channels_first_kernel)),
}
#: Per pooling op, its kernel kind (``lower_pool.POOL_KINDS``).
POOL_KINDS_OF = {"tir.pool2d": "forward", "tir.pool2d_grad": "grad", "tir.max_pool2d_select": "select"}


def conv_pool_kernels(op: Operation, name: str) -> str:
    """The ``gpu.func`` texts of ``op``'s kernels (``name``, or ``name_<role>`` for a convolution's);
    :class:`~tensorir.codegen.cpu.scalar_ops.NotLowerable` for dtypes they do not take."""
    if op.name in CONV_KERNELS:
        dtype = op.results[0].type.dtype
        return "".join(emit(f"{name}_{role}", dtype) for role, emit in CONV_KERNELS[op.name])
    kind = POOL_KINDS_OF[op.name]
    dtype = op.operands[0].type.dtype
    value_dtype = op.operands[1].type.dtype if kind != "forward" else dtype
    return pool_kernel(name, kind, op.attributes["mode"], dtype, value_dtype)
