"""Native CPU code generation: MLIR text emission, vectorizable math, and the LLVM JIT.

The names below are imported on first use (PEP 562), so importing one submodule (say the
kernel ABI of ``lower_elementwise``) does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "APPROXIMATIONS",
    "BINARY_OPS",
    "CodegenError",
    "DEFAULT_MLIR_PIPELINE",
    "KernelEmitter",
    "NativeModule",
    "compile_llvm_ir",
    "compile_mlir",
    "emit_exp",
    "host_target_machine",
    "lower_mlir_to_llvm_ir",
    "memref_args",
    "range_kernel",
]

# name -> the submodule defining it
_LAZY = {
    "APPROXIMATIONS": "approx",
    "BINARY_OPS": "approx",
    "emit_exp": "approx",
    "DEFAULT_MLIR_PIPELINE": "jit",
    "CodegenError": "jit",
    "NativeModule": "jit",
    "compile_llvm_ir": "jit",
    "compile_mlir": "jit",
    "host_target_machine": "jit",
    "lower_mlir_to_llvm_ir": "jit",
    "memref_args": "jit",
    "KernelEmitter": "mlir_text",
    "range_kernel": "mlir_text",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tensorir.codegen.cpu' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
