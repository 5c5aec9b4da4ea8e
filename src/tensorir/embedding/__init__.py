"""tensorir as a library inside other programs: build a tir module from code, compile it with a
chosen pipeline, call it with any arrays (DLPack, the array interface), read its signature, and
save the compiled artifact for a process without MLIR or LLVM. Documented in docs/embedding.md;
the names below are the stable API."""

from tensorir.embedding.artifact import (
    ARTIFACT_VERSION,
    UNSERIALIZABLE_OPS,
    ArtifactError,
    load_artifact,
    save_artifact,
)
from tensorir.embedding.builder import ModuleBuilder, op_names, tensor_type
from tensorir.embedding.compiled import EXECUTORS, CompiledModule, Parameter, Signature, compile_module
from tensorir.embedding.textual_ir import IR_VERSION, READABLE_VERSIONS, IRVersionError, parse_ir, print_ir

__all__ = [
    "ARTIFACT_VERSION",
    "EXECUTORS",
    "IR_VERSION",
    "READABLE_VERSIONS",
    "UNSERIALIZABLE_OPS",
    "ArtifactError",
    "CompiledModule",
    "IRVersionError",
    "ModuleBuilder",
    "Parameter",
    "Signature",
    "compile_module",
    "load_artifact",
    "op_names",
    "parse_ir",
    "print_ir",
    "save_artifact",
    "tensor_type",
]
