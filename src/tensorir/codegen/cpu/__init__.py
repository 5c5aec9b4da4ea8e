"""Native CPU code generation: MLIR text emission, vectorizable math, and the LLVM JIT."""

from tensorir.codegen.cpu.approx import APPROXIMATIONS as APPROXIMATIONS
from tensorir.codegen.cpu.approx import BINARY_OPS as BINARY_OPS
from tensorir.codegen.cpu.approx import emit_exp as emit_exp
from tensorir.codegen.cpu.jit import DEFAULT_MLIR_PIPELINE as DEFAULT_MLIR_PIPELINE
from tensorir.codegen.cpu.jit import CodegenError as CodegenError
from tensorir.codegen.cpu.jit import NativeModule as NativeModule
from tensorir.codegen.cpu.jit import compile_llvm_ir as compile_llvm_ir
from tensorir.codegen.cpu.jit import compile_mlir as compile_mlir
from tensorir.codegen.cpu.jit import host_target_machine as host_target_machine
from tensorir.codegen.cpu.jit import lower_mlir_to_llvm_ir as lower_mlir_to_llvm_ir
from tensorir.codegen.cpu.jit import memref_args as memref_args
from tensorir.codegen.cpu.mlir_text import KernelEmitter as KernelEmitter
from tensorir.codegen.cpu.mlir_text import range_kernel as range_kernel

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
