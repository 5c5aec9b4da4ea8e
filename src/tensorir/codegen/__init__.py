"""Code generation: lowering of kernels to native code (``cpu``) and to PTX for NVIDIA GPUs (``gpu``).

The names below are imported on first use (PEP 562): the runtime imports small pieces of
``tensorir.codegen.cpu`` on every compile, and a compile served from the cache must not pay for
the module lowering, llvmlite or MLIR.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lower_to_gpu_mlir", "lower_to_llvm", "lower_to_mlir", "lower_to_ptx"]

_LAZY = {
    "lower_to_llvm": "tensorir.codegen.cpu.module_lowering",
    "lower_to_mlir": "tensorir.codegen.cpu.module_lowering",
    "lower_to_gpu_mlir": "tensorir.codegen.gpu.module_lowering",
    "lower_to_ptx": "tensorir.codegen.gpu.module_lowering",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tensorir.codegen' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
