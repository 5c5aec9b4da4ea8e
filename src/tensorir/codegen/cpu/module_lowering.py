"""The lowered forms of a whole tir module, for inspection (``tensorir-opt --emit=mlir|llvm``).

Every op that has a native lowering contributes its general (strided, any-shape) kernel; the
others are listed in comments saying how they run (BLAS or the NumPy reference).
"""

from __future__ import annotations

from tensorir.codegen.cpu.jit import compile_mlir
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, strided_kernel
from tensorir.codegen.cpu.lower_nn import ROW_OPS, row_kernel
from tensorir.codegen.cpu.lower_reduction import rows_kernel
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.dialects.ir import Module, Operation

_BLAS = {"tir.gemm", "tir.gemv", "tir.ger", "tir.dot"}


def _kernel_for(op: Operation, name: str) -> str | None:
    operand_ranks = [v.type.ndim for v in op.operands]
    if op.name == "tir.fused":
        body = ElementwiseBody.from_block(op.regions[0].block)
        reduce = op.attributes.get("reduce")
        if reduce is None:
            return strided_kernel(name, body, operand_ranks, op.results[0].type.ndim)
        scalars = [r == 0 for r in operand_ranks]
        return rows_kernel(name, body, reduce, op.results[0].type.dtype, scalars)
    if op.opdef.fusion == "elementwise" and not op.regions and len(op.results) == 1 and op.name != "tir.constant":
        return strided_kernel(name, ElementwiseBody.from_op(op), operand_ranks, op.results[0].type.ndim)
    if op.name in ROW_OPS:
        label = op.operands[1].type.dtype if op.name == "tir.softmax_crossentropy" else None
        return row_kernel(name, op.name, op.results[0].type.dtype, label)
    return None


def lower_to_mlir(module: Module) -> str:
    """One MLIR module with the kernels of every function (upstream dialects only)."""
    parts: list[str] = []
    notes: list[str] = []
    for func in module.functions:
        fname = func.attributes["sym_name"]
        for k, op in enumerate(func.regions[0].block.operations):
            if op.name in ("func.return", "tir.constant"):
                continue
            name = f"{fname}_{k}_{op.name.split('.', 1)[1]}"
            try:
                text = _kernel_for(op, name)
            except NotLowerable as exc:
                notes.append(f"// @{fname}: {op.name} runs as its NumPy reference ({exc})")
                continue
            if text is None:
                how = "BLAS (SciPy)" if op.name in _BLAS else "its NumPy reference"
                notes.append(f"// @{fname}: {op.name} runs as {how}")
            else:
                parts.append(text)
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
