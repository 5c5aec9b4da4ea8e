"""Code generation: lowering of kernels to native code (``cpu``); the GPU backend is not written yet."""

from tensorir.codegen.cpu.module_lowering import lower_to_llvm, lower_to_mlir

__all__ = ["lower_to_llvm", "lower_to_mlir"]
