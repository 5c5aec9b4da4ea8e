"""The GPU forms of a whole tir module, for inspection (``tensorir-opt --emit=ptx``).

Each op runs as the kind of step the GPU's step table gives it (``step_table.py``). The kernel
kinds contribute their general kernel (the strided elementwise kernel, the rows reduction, the
row kernel) to one ``gpu.module``; the others are listed in comments saying how they run.
"""

from __future__ import annotations

from tensorir.codegen.gpu.conv_pool_kernels import conv_pool_kernels
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_elementwise import flat_kernel, strided_kernel
from tensorir.codegen.gpu.lower_nn import row_kernel
from tensorir.codegen.gpu.lower_reduction import rows_kernel
from tensorir.codegen.gpu.ptx import DEFAULT_CHIP, compile_to_ptx
from tensorir.codegen.gpu.step_table import GPU_CALL_KINDS, step_kind, why_reference
from tensorir.codegen.kernel_ops import elementwise_body, kernel_emitters, lower_module_ops
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module, Operation

__all__ = ["lower_to_gpu_mlir", "lower_to_ptx"]


def _elementwise_kernel(op: Operation, name: str) -> str:
    body = elementwise_body(op)
    out_rank = op.results[0].type.ndim
    if out_rank == 0:
        return flat_kernel(name, body, [True] * len(op.operands))
    return strided_kernel(name, body, out_rank)


_KERNELS = {**kernel_emitters(_elementwise_kernel, rows_kernel, row_kernel), StepKind.CONV_POOL: conv_pool_kernels}


def _note(fname: str, op: Operation, kind: StepKind) -> str:
    if kind in GPU_CALL_KINDS or why_reference(op) is None:
        return f"// @{fname}: {op.name}: {kind} on the GPU"
    return f"// @{fname}: {op.name}: {kind} on the host ({why_reference(op)})"


def _lower(module: Module) -> tuple[list[str], list[str]]:
    """The module's kernels (``gpu.func`` texts) and the notes on the ops that have none."""
    return lower_module_ops(module, step_kind, _KERNELS, _note)


def lower_to_gpu_mlir(module: Module) -> str:
    """One MLIR module whose ``gpu.module`` holds the kernels of every function."""
    kernels, notes = _lower(module)
    return "".join(note + "\n" for note in notes) + gpu_module(kernels)


def lower_to_ptx(module: Module, chip: str = DEFAULT_CHIP) -> str:
    """The PTX of :func:`lower_to_gpu_mlir`'s kernels for ``chip`` (``sm_80``, ``sm_90``, ...),
    after the notes on the ops that run on the host."""
    kernels, notes = _lower(module)
    ptx = compile_to_ptx(gpu_module(kernels), chip) if kernels else f"// no GPU kernels for {chip}\n"
    return "".join(note + "\n" for note in notes) + ptx
