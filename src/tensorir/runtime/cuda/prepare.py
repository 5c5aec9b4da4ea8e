"""Compiling for a GPU on a machine without one: a PTX bundle, made here and read there.

The MLIR bindings that turn kernels into PTX (with the LLVM they load) are far larger than what
a lent GPU machine can be sent, so a device run reads its PTX from a **bundle**: a folder of
``<sha256 of the module text and chip>.ptx`` files. Kernel texts are made by the same code on
both machines from the same graphs, so a bundle made from the same commit holds every module a
run on the device asks for.

- ``TENSORIR_CUDA_PREPARE=DIR`` (on a machine without a GPU): ``device=cuda`` functions are
  compiled as for a device (transfers inserted, the GPU plan built, every kernel module compiled
  to PTX and checked by ``ptxas`` where it is installed) and their PTX written into ``DIR``; calls
  then run the transformed function on the NumPy reference executor (the transfers are copies),
  and shared variables stay in host memory. Run the device tests and benchmarks once this way.
- ``TENSORIR_PTX_BUNDLE=DIR`` (on the device): modules are read from ``DIR`` first; a module not
  there is compiled as usual (which needs the MLIR bindings).

The chip prepared for is ``TENSORIR_CUDA_PREPARE_CHIP`` (default ``sm_90``: the H100 and H200).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tensorir.runtime.cuda.launch import DeviceLimits

__all__ = ["BUNDLE_VARIABLE", "CHIP_VARIABLE", "PREPARE_VARIABLE", "PreparedDevice", "bundle_key", "bundle_ptx",
           "module_ptx", "prepare_directory"]

PREPARE_VARIABLE = "TENSORIR_CUDA_PREPARE"
BUNDLE_VARIABLE = "TENSORIR_PTX_BUNDLE"
CHIP_VARIABLE = "TENSORIR_CUDA_PREPARE_CHIP"
#: The device a prepared plan is built for: an H100 SXM's multiprocessors (launch shapes are
#: computed at call time on the real device, so only the chip matters for the PTX).
_PREPARED_LIMITS = DeviceLimits(multiprocessors=132)


def prepare_directory() -> Path | None:
    """The folder PTX is prepared into (``TENSORIR_CUDA_PREPARE``), or None."""
    value = os.environ.get(PREPARE_VARIABLE)
    return Path(value) if value else None


def bundle_key(text: str, chip: str) -> str:
    """The bundle's name for the PTX of MLIR module ``text`` on ``chip``."""
    return hashlib.sha256(f"{chip}\0{text}".encode()).hexdigest()


def bundle_ptx(directory: Path, text: str, chip: str) -> str | None:
    """The PTX of ``text`` for ``chip`` in the bundle at ``directory``, or None."""
    try:
        return (directory / f"{bundle_key(text, chip)}.ptx").read_text(encoding="utf-8")
    except OSError:
        return None


def module_ptx(text: str, chip: str, cache_dir: str | None) -> str:
    """The PTX of ``text``: from the bundle (``TENSORIR_PTX_BUNDLE``), else compiled (and cached);
    under ``TENSORIR_CUDA_PREPARE`` also written into the folder being prepared, after ``ptxas``
    (where installed) accepted it."""
    bundle = os.environ.get(BUNDLE_VARIABLE)
    if bundle:
        ptx = bundle_ptx(Path(bundle), text, chip)
        if ptx is not None:
            return ptx
    from tensorir.runtime.ptx_cache import PtxCache

    ptx = PtxCache(cache_dir).get(text, chip)
    target = prepare_directory()
    if target is not None:
        from tensorir.codegen.gpu.ptxas import assemble, find_ptxas

        if find_ptxas() is not None:
            cubin, messages = assemble(ptx, chip)
            if cubin is None:
                raise RuntimeError(f"ptxas refused the PTX prepared for {chip}:\n{messages}")
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{bundle_key(text, chip)}.ptx").write_text(ptx, encoding="utf-8")
    return ptx


@dataclass
class PreparedDevice:
    """What a plan built under ``TENSORIR_CUDA_PREPARE`` knows of its (absent) device."""

    chip: str
    limits: DeviceLimits = _PREPARED_LIMITS

    @classmethod
    def from_environment(cls) -> PreparedDevice:
        from tensorir.codegen.gpu.ptx import target

        chip = os.environ.get(CHIP_VARIABLE) or "sm_90"
        target(chip)  # a clear error for a chip the backend does not emit for
        return cls(chip)
