"""What an op's kernel computes, the same on every device, and the walk over a module's ops that
each device's module lowering (``tensorir-opt --emit=mlir|ptx``) makes.

The scalar bodies are ``ElementwiseBody`` (``codegen/cpu/lower_elementwise.py``): one
definition per op, emitted into CPU ``func.func`` kernels and GPU ``gpu.func`` kernels alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import LABELLED
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module, Operation

__all__ = ["elementwise_body", "kernel_emitters", "label_dtype", "lower_module_ops", "reduction_of"]

#: ``emit(op, kernel name) -> kernel text``.
EmitKernel = Callable[[Operation, str], str]


def elementwise_body(op: Operation) -> ElementwiseBody:
    """The body of a ``tir.fused`` op or of a lone elementwise op."""
    return ElementwiseBody.from_block(op.regions[0].block) if op.name == "tir.fused" else ElementwiseBody.from_op(op)


def reduction_of(op: Operation) -> tuple[ElementwiseBody, str, list[bool]]:
    """A reduction's body (the identity for a lone one), its reduction op and which operands are
    scalars (read once)."""
    if op.name == "tir.fused":
        body, reduction = ElementwiseBody.from_block(op.regions[0].block), op.attributes["reduce"]
    else:
        body, reduction = ElementwiseBody.identity(op.operands[0].type.dtype), op.name
    return body, reduction, [v.type.ndim == 0 for v in op.operands]


def label_dtype(op: Operation) -> str | None:
    """The dtype of a row op's class labels (None for the row ops without labels)."""
    return op.operands[-1].type.dtype if op.name in LABELLED else None


def kernel_emitters(elementwise: EmitKernel, rows_kernel: Callable[..., str], row_kernel: Callable[..., str]
                    ) -> dict[StepKind, EmitKernel]:
    """The emitters of the kernel kinds, from a device's elementwise emitter and its rows reduction
    and row kernel functions (``rows_kernel(name, body, reduction, out_dtype, scalars)`` and
    ``row_kernel(name, op, dtype, label_dtype)``, the same signatures on every device)."""

    def reduction(op: Operation, name: str) -> str:
        body, reduce, scalars = reduction_of(op)
        return rows_kernel(name, body, reduce, op.results[0].type.dtype, scalars)

    def row(op: Operation, name: str) -> str:
        return row_kernel(name, op.name, op.results[0].type.dtype, label_dtype(op))

    return {StepKind.ELEMENTWISE: elementwise, StepKind.REDUCTION: reduction, StepKind.ROW: row}


def lower_module_ops(module: Module, kind_of: Callable[[Operation], StepKind], emitters: Mapping[StepKind, EmitKernel],
                     note: Callable[[str, Operation, StepKind], str]) -> tuple[list[str], list[str]]:
    """The kernels of every function's ops whose kind has an emitter (named
    ``<function>_<index>_<op>``), and a note line for each other op."""
    kernels: list[str] = []
    notes: list[str] = []
    for func in module.functions:
        fname = func.attributes["sym_name"]
        for k, op in enumerate(func.regions[0].block.operations):
            if op.name in ("func.return", "tir.constant"):
                continue
            kind = kind_of(op)
            emit = emitters.get(kind)
            if emit is not None:
                kernels.append(emit(op, f"{fname}_{k}_{op.name.split('.', 1)[1]}"))
            else:
                notes.append(note(fname, op, kind))
    return kernels, notes
