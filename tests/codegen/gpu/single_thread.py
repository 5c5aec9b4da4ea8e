"""Run a grid-stride GPU kernel's own text on the CPU, as a launch of one block of one thread.

A kernel of the grid-stride families (pooling, im2col/col2im, dropout) covers every element
from any grid, so a grid of one thread computes the whole result. This helper turns the
``gpu.func`` text into a ``func.func`` whose thread and block indices are that launch's
(``block_id = thread_id = 0``, ``grid_dim = block_dim = 1``), compiles it with the CPU's MLIR
pipeline and calls it on NumPy buffers. The body (index arithmetic, window walks, Philox, the
scalar ops) is the kernel's, unchanged, so this checks its numbers against the references
without a GPU. What it cannot check: anything that needs more than one thread (block
reductions, barriers, shuffles, atomics) and what PTX, ptxas and the device do; that is
``pytest -m gpu``'s.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence

import numpy as np

from tensorir.codegen.cpu.jit import NativeModule, compile_mlir

__all__ = ["run_one_thread", "single_thread_module"]

_INDEX = re.compile(r"^(\s*)(%\w+) = gpu\.(block_id|thread_id|grid_dim|block_dim) x$", re.MULTILINE)
_VALUE = {"block_id": 0, "thread_id": 0, "grid_dim": 1, "block_dim": 1}


def single_thread_module(kernel: str) -> str:
    """The ``func.func`` module of one ``gpu.func`` kernel launched as one thread (see above)."""
    if "gpu.shuffle" in kernel or "gpu.barrier" in kernel or "workgroup(" in kernel:
        raise ValueError("a kernel whose threads cooperate cannot run as one thread")
    text = _INDEX.sub(lambda m: f"{m.group(1)}{m.group(2)} = arith.constant {_VALUE[m.group(3)]} : index", kernel)
    text = re.sub(r"^gpu\.func (@\w+\(.*\)) kernel", r"func.func \1 attributes {llvm.emit_c_interface}", text,
                  count=1, flags=re.MULTILINE)
    text = text.replace("gpu.return", "return")
    return "module {\n" + text + "}\n"


_COMPILED: dict[str, NativeModule] = {}


def run_one_thread(kernel: str, name: str, arguments: Sequence[np.ndarray | int]) -> None:
    """Call kernel ``name`` (its ``gpu.func`` text) on the CPU as one thread: arrays are passed by
    address (written in place), ints as ``i64``."""
    module = _COMPILED.get(kernel)
    if module is None:
        module = _COMPILED[kernel] = compile_mlir(single_thread_module(kernel), opt_level=1)
    values = []
    for a in arguments:
        if isinstance(a, np.ndarray):
            assert a.flags.c_contiguous, "kernel arrays are C-contiguous"
            values.append(a.ctypes.data)
        else:
            values.append(int(a) & 0xFFFF_FFFF_FFFF_FFFF)
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_uint64] * len(values)))(module.address(name))
    fn(*values)
