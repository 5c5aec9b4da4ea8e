"""Text of one GPU kernel: a ``gpu.func ... kernel`` whose body is written like the CPU's.

A GPU kernel here is the CPU kernel builder (:class:`~tensorir.codegen.cpu.lower_elementwise.KernelBuilder`:
its emitter, its loads and stores of ``!llvm.ptr`` addresses, the scalar bodies it hosts) with
three differences:

- its parameters are typed: device addresses (``!llvm.ptr``) and sizes (``i64``); addresses the
  kernel only reads carry ``{llvm.noalias, llvm.readonly}``, which NVPTX turns into
  ``ld.global.nc`` (the read-only data cache). So an operand must never overlap an output: the
  GPU runtime must not write a result over an operand these kernels read;
- iterations are spread over threads: :meth:`GpuKernelBuilder.thread_range` gives a thread's
  first index and the grid's stride (grid-stride loops), :meth:`GpuKernelBuilder.block_values`
  the block's own indices (row and reduction kernels);
- it renders as a ``gpu.func`` with optional workgroup (shared) memory, inside one
  ``gpu.module`` (:func:`gpu_module`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tensorir.codegen.cpu.lower_elementwise import KernelBuilder

__all__ = ["GPU_MODULE", "GpuKernelBuilder", "Param", "gpu_module", "loop", "when"]

#: The name of the ``gpu.module`` that holds every kernel of a lowered module.
GPU_MODULE = "kernels"


@dataclass(frozen=True)
class Param:
    """One kernel parameter: ``kind`` is ``"in"`` (an address read only), ``"out"`` (an address
    written, maybe read) or ``"size"`` (an ``i64``)."""

    kind: str

    def mlir(self) -> str:
        if self.kind == "in":
            return "!llvm.ptr {llvm.noalias, llvm.readonly}"
        if self.kind == "out":
            return "!llvm.ptr {llvm.noalias}"
        if self.kind == "size":
            return "i64"
        raise ValueError(f"unknown parameter kind {self.kind!r}")


class GpuKernelBuilder(KernelBuilder):
    """A :class:`KernelBuilder` whose arguments are ``params`` and which renders a ``gpu.func``."""

    def __init__(self, name: str, params: Sequence[Param]) -> None:
        super().__init__(name, len(params))
        self.params = list(params)
        self.workgroup: list[tuple[str, str]] = []  # (SSA name, memref type) of shared buffers
        self._indices: dict[str, str] = {}

    # -- thread and block indices ---------------------------------------------------------------
    def _index(self, op: str) -> str:
        """``gpu.<op> x`` as i64, emitted once in the preamble (``op``: thread_id, block_id, ...)."""
        name = self._indices.get(op)
        if name is None:
            raw, name = self.e.fresh(op), self.e.fresh(op)
            self.preamble.append(f"{raw} = gpu.{op} x")
            self.preamble.append(f"{name} = arith.index_cast {raw} : index to i64")
            self._indices[op] = name
        return name

    def block_values(self) -> tuple[str, str, str, str]:
        """The block's index, the grid's size in blocks, the thread's index in the block and the
        block's size in threads, as i64."""
        return (self._index("block_id"), self._index("grid_dim"), self._index("thread_id"),
                self._index("block_dim"))

    def thread_range(self) -> tuple[str, str]:
        """The thread's global index and the number of threads in the grid (a grid-stride loop
        starts at the first and steps by the second, so any grid covers any size)."""
        block, grid, thread, size = self.block_values()
        e, pre = self.e, self.preamble
        first = self.emit_into(pre, e.int_op, "addi", self.emit_into(pre, e.int_op, "muli", block, size, "i64"),
                               thread, "i64")
        stride = self.emit_into(pre, e.int_op, "muli", grid, size, "i64")
        return first, stride

    def shared_buffer(self, element: str, count: int) -> str:
        """A workgroup (shared memory) buffer of ``count`` elements of type ``element``."""
        name = f"%shared{len(self.workgroup)}"
        self.workgroup.append((name, f"memref<{count}x{element}, #gpu.address_space<workgroup>>"))
        return name

    # -- text -----------------------------------------------------------------------------------
    def render(self, body: list[str], attributes: str = "") -> str:
        """The ``gpu.func``: constants, preamble, then ``body`` and ``gpu.return``."""
        params = ", ".join(f"{a}: {p.mlir()}" for a, p in zip(self.args, self.params))
        shared = ""
        if self.workgroup:
            shared = " workgroup(" + ", ".join(f"{n} : {t}" for n, t in self.workgroup) + ")"
        extra = f" attributes {{{attributes}}}" if attributes else ""
        return self.function_text(f"gpu.func @{self.name}({params}){shared} kernel{extra}", body, "gpu.return")


def gpu_module(kernels: Sequence[str], name: str = GPU_MODULE) -> str:
    """An MLIR module holding ``kernels`` (``gpu.func`` texts) in one ``gpu.module``."""
    body = "\n".join("    " + line for text in kernels for line in text.splitlines())
    return (f"module attributes {{gpu.container_module}} {{\n  gpu.module @{name} {{\n{body}\n  }}\n}}\n")


def loop(var: str, lo: str, hi: str, step: str, lines: Sequence[str]) -> list[str]:
    """``scf.for var = lo to hi step step : i64 { lines }``."""
    return [f"scf.for {var} = {lo} to {hi} step {step} : i64 {{"] + ["  " + line for line in lines] + ["}"]


def when(condition: str, lines: Sequence[str]) -> list[str]:
    """``scf.if condition { lines }``."""
    return [f"scf.if {condition} {{"] + ["  " + line for line in lines] + ["}"]
