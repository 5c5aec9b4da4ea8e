"""The lowered forms of a whole tir module, for inspection (``tensorir-opt --emit=mlir|llvm``).

Each op runs as the kind of step the CPU's step table gives it (``step_table.py``, the table the
executor builds its plan from). The kernel kinds contribute their general (strided, any-shape)
kernel; the others are listed in comments saying how they run.
"""

from __future__ import annotations

from tensorir.codegen.cpu.jit import compile_mlir
from tensorir.codegen.cpu.lower_elementwise import flat_kernel, strided_kernel
from tensorir.codegen.cpu.lower_nn import row_kernel
from tensorir.codegen.cpu.lower_reduction import rows_kernel
from tensorir.codegen.cpu.step_table import step_kind, why_reference
from tensorir.codegen.kernel_ops import elementwise_body, kernel_emitters, lower_module_ops
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module, Operation


def _elementwise_kernel(op: Operation, name: str) -> str:
    body = elementwise_body(op)
    out_rank = op.results[0].type.ndim
    if out_rank == 0:  # scalars: the flat kernel over one element, as the executor runs them
        return flat_kernel(name, body, [False] * len(op.operands))
    return strided_kernel(name, body, [v.type.ndim for v in op.operands], out_rank)


_KERNELS = kernel_emitters(_elementwise_kernel, rows_kernel, row_kernel)


def _note(fname: str, op: Operation, kind: StepKind) -> str:
    reason = f" ({why_reference(op)})" if kind is StepKind.REFERENCE else ""
    return f"// @{fname}: {op.name}: {kind}{reason}"


def lower_to_mlir(module: Module) -> str:
    """One MLIR module with the kernels of every function (upstream dialects only)."""
    parts, notes = lower_module_ops(module, step_kind, _KERNELS, _note)
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
