"""MLIR ``gpu.module`` text to PTX with MLIR's own passes (NVVM target, gpu-to-nvvm, module-to-binary).

The pipeline is the one checked in ``gpu_facts.md``: ``scf`` is lowered to ``cf`` inside the
``gpu.module`` before serialization (a leftover ``scf.if`` fails there), and the binary format is
``isa`` (PTX text; ``offload`` aborts the process in the bindings' build, so it is never used).
libdevice is embedded in the bindings: ``math`` ops that have no approximation of ours become
``__nv_*`` calls inlined at O3. One pass is added to the checked pipeline: the math ops that
have no libdevice function in ``convert-gpu-to-nvvm`` (``math.trunc``) are left to
``convert-math-to-llvm`` (LLVM intrinsics, which NVPTX has instructions for); without it
serialization fails on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.codegen.cpu.bindings import import_binding
from tensorir.codegen.cpu.jit import CodegenError, lowered_module

__all__ = ["CHIPS", "DEFAULT_CHIP", "GpuTarget", "compile_to_ptx", "gpu_pipeline", "target"]


@dataclass(frozen=True)
class GpuTarget:
    """A chip and the PTX ISA version its code is written in."""

    chip: str  # "sm_80"
    ptx: int  # PTX ISA version times ten: 80 is ".version 8.0"

    @property
    def features(self) -> str:
        return f"+ptx{self.ptx}"


#: The PTX ISA per chip: the oldest that has every instruction the chip's code needs, so the
#: oldest drivers of that generation can JIT it (7.0 came with sm_80, 8.0 with sm_90). sm_90a is
#: left out: ``ptxas -arch=sm_90`` refuses its code.
CHIPS: dict[str, GpuTarget] = {
    "sm_80": GpuTarget("sm_80", 70),
    "sm_86": GpuTarget("sm_86", 71),
    "sm_89": GpuTarget("sm_89", 78),
    "sm_90": GpuTarget("sm_90", 80),
}
DEFAULT_CHIP = "sm_90"
_DIAGNOSTIC_CHARS = 2000


def target(chip: str) -> GpuTarget:
    """The :class:`GpuTarget` of ``chip``; a clear error for chips this backend does not emit for."""
    try:
        return CHIPS[chip]
    except KeyError:
        raise ValueError(f"unknown GPU chip {chip!r}: choose one of {', '.join(CHIPS)}") from None


def gpu_pipeline(gpu: GpuTarget, opt_level: int = 3) -> str:
    """The MLIR pass pipeline from ``gpu.func`` kernels to a ``gpu.binary`` holding PTX."""
    return (f"builtin.module(nvvm-attach-target{{chip={gpu.chip} features={gpu.features} O={opt_level}}}, "
            "gpu.module(lower-affine, convert-scf-to-cf, convert-gpu-to-nvvm, convert-math-to-llvm, canonicalize, "
            "cse, reconcile-unrealized-casts), gpu-module-to-binary{format=isa})")


def compile_to_ptx(text: str, chip: str = DEFAULT_CHIP, opt_level: int = 3) -> str:
    """The PTX of the one ``gpu.module`` in the MLIR module ``text``.

    Raises :class:`~tensorir.codegen.cpu.jit.CodegenError` with MLIR's diagnostics when parsing
    or a pass fails.
    """
    gpu_dialect = import_binding("mlir.dialects.gpu")
    with lowered_module(text, gpu_pipeline(target(chip), opt_level), limit=_DIAGNOSTIC_CHARS) as (module, _):
        binaries = [op for op in module.body.operations if op.name == "gpu.binary"]
        if len(binaries) != 1:
            raise CodegenError(f"expected one gpu.module, found {len(binaries)}", text)
        ptx = gpu_dialect.ObjectAttr(binaries[0].attributes["objects"][0]).object
        return ptx.decode() if isinstance(ptx, bytes) else str(ptx)
