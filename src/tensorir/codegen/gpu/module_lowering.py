"""The GPU forms of a whole tir module, for inspection (``tensorir-opt --emit=ptx``).

Each op runs as the kind of step the GPU's step table gives it (``step_table.py``). The kernel
kinds contribute their general kernel (the strided elementwise kernel, the rows reduction, the
row kernel) to one ``gpu.module``; the others are listed in comments saying how they run.
"""

from __future__ import annotations

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import LABELLED
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_elementwise import flat_kernel, strided_kernel
from tensorir.codegen.gpu.lower_nn import row_kernel
from tensorir.codegen.gpu.lower_reduction import rows_kernel
from tensorir.codegen.gpu.ptx import DEFAULT_CHIP, compile_to_ptx
from tensorir.codegen.gpu.step_table import step_kind, why_reference
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module, Operation

__all__ = ["lower_to_gpu_mlir", "lower_to_ptx"]


def _elementwise_kernel(op: Operation, name: str) -> str:
    body = ElementwiseBody.from_block(op.regions[0].block) if op.name == "tir.fused" else ElementwiseBody.from_op(op)
    out_rank = op.results[0].type.ndim
    if out_rank == 0:
        return flat_kernel(name, body, [True] * len(op.operands))
    return strided_kernel(name, body, out_rank)


def _reduction_kernel(op: Operation, name: str) -> str:
    if op.name == "tir.fused":
        body, reduce = ElementwiseBody.from_block(op.regions[0].block), op.attributes["reduce"]
    else:
        body, reduce = ElementwiseBody.identity(op.operands[0].type.dtype), op.name
    scalars = [v.type.ndim == 0 for v in op.operands]
    return rows_kernel(name, body, reduce, op.results[0].type.dtype, scalars)


def _row_kernel(op: Operation, name: str) -> str:
    label = op.operands[-1].type.dtype if op.name in LABELLED else None
    return row_kernel(name, op.name, op.results[0].type.dtype, label)


_KERNELS = {
    StepKind.ELEMENTWISE: _elementwise_kernel,
    StepKind.REDUCTION: _reduction_kernel,
    StepKind.ROW: _row_kernel,
}


def _lower(module: Module) -> tuple[list[str], list[str]]:
    """The module's kernels (``gpu.func`` texts) and the notes on the ops that have none."""
    kernels: list[str] = []
    notes: list[str] = []
    for func in module.functions:
        fname = func.attributes["sym_name"]
        for k, op in enumerate(func.regions[0].block.operations):
            if op.name in ("func.return", "tir.constant"):
                continue
            kind = step_kind(op)
            emit = _KERNELS.get(kind)
            if emit is not None:
                kernels.append(emit(op, f"{fname}_{k}_{op.name.split('.', 1)[1]}"))
            else:
                notes.append(f"// @{fname}: {op.name}: {kind} on the host ({why_reference(op)})")
    return kernels, notes


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
