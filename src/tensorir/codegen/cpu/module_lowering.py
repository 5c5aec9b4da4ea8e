"""The lowered forms of a whole tir module, for inspection (``tensorir-opt --emit=mlir|llvm``).

Each op runs as the kind of step the CPU's step table gives it (``step_table.py``, the table the
executor builds its plan from). The kernel kinds contribute their general (strided, any-shape)
kernel; the others are listed in comments saying how they run.
"""

from __future__ import annotations

from tensorir.codegen.cpu.jit import compile_mlir
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel, strided_kernel
from tensorir.codegen.cpu.lower_nn import LABELLED, row_kernel
from tensorir.codegen.cpu.lower_reduction import rows_kernel
from tensorir.codegen.cpu.step_table import step_kind, why_reference
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module, Operation


def _elementwise_kernel(op: Operation, name: str) -> str:
    body = ElementwiseBody.from_block(op.regions[0].block) if op.name == "tir.fused" else ElementwiseBody.from_op(op)
    out_rank = op.results[0].type.ndim
    if out_rank == 0:  # scalars: the flat kernel over one element, as the executor runs them
        return flat_kernel(name, body, [False] * len(op.operands))
    return strided_kernel(name, body, [v.type.ndim for v in op.operands], out_rank)


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


def lower_to_mlir(module: Module) -> str:
    """One MLIR module with the kernels of every function (upstream dialects only)."""
    parts: list[str] = []
    notes: list[str] = []
    for func in module.functions:
        fname = func.attributes["sym_name"]
        for k, op in enumerate(func.regions[0].block.operations):
            if op.name in ("func.return", "tir.constant"):
                continue
            kind = step_kind(op)
            emit = _KERNELS.get(kind)
            if emit is not None:
                parts.append(emit(op, f"{fname}_{k}_{op.name.split('.', 1)[1]}"))
            else:
                reason = f" ({why_reference(op)})" if kind is StepKind.REFERENCE else ""
                notes.append(f"// @{fname}: {op.name}: {kind}{reason}")
    lines = [line for text in parts for line in text.splitlines()]
    # Attribute aliases (the kernels' alias scopes) are declared outside the module.
    aliases = "".join(line + "\n" for line in lines if line.startswith("#"))
    body = "\n".join("  " + line for line in lines if not line.startswith("#"))
    return "\n".join(notes) + ("\n" if notes else "") + aliases + "module {\n" + body + "\n}\n"


def lower_to_llvm(module: Module, opt_level: int = 3) -> str:
    """The optimized LLVM IR of :func:`lower_to_mlir`'s kernels, for the host CPU."""
    text = lower_to_mlir(module)
    mlir = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    return compile_mlir(mlir, opt_level=opt_level).llvm_ir
