"""A function's GPU kernels, compiled and loaded: MLIR text -> PTX (``runtime/ptx_cache.py``) ->
cubin (``ptxas``, cached here, keyed on chip and driver) -> a loaded module.

The cubin is what the driver would make from the PTX at load (its JIT), made ahead by ``ptxas``
and kept on disk, so a later process loads machine code directly. Its key holds the PTX, the
chip, the driver's version and ``ptxas``'s version: a cubin from a ``ptxas`` newer than the
driver can be refused at load, and then the PTX is loaded instead (the driver JIT-compiles it).
Where ``ptxas`` is missing the PTX is loaded the same way.

Entries: ``<dir>/cubin/<key[:2]>/<key>.cubin``, written atomically like the CPU cache's.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.cuda.driver import CudaError, Device, GpuModule, check, require_driver
from tensorir.runtime.cuda.prepare import module_ptx

__all__ = ["CUBIN_SUFFIX", "CubinCache", "KernelSet", "KernelSpec", "cubin_cache_key", "remove_entries"]

CUBIN_SUFFIX = ".cubin"


@functools.cache
def _ptxas_version() -> str:
    ptxas = find_ptxas()
    if ptxas is None:
        return "none"
    proc = subprocess.run([ptxas, "--version"], capture_output=True, text=True)
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "unknown"


def cubin_cache_key(ptx: str, chip: str, driver_version: int, ptxas_version: str) -> str:
    """Hex sha256 naming the cubin of ``ptx`` for ``chip`` under a driver and a ``ptxas``."""
    h = hashlib.sha256()
    for part in (f"chip={chip}", f"driver={driver_version}", f"ptxas={ptxas_version}", ptx):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class CubinCache:
    """Cubins by key in ``<dir>/cubin`` (None: none kept on disk)."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) / "cubin" if directory is not None else None

    def get(self, ptx: str, chip: str, driver_version: int) -> bytes | None:
        """The cubin of ``ptx`` (from disk, or assembled and stored); None without ``ptxas`` or
        when it refuses the PTX (the caller loads the PTX then)."""
        version = _ptxas_version()
        if version == "none":
            return None
        key = cubin_cache_key(ptx, chip, driver_version, version)
        path = None if self.directory is None else self.directory / key[:2] / (key + CUBIN_SUFFIX)
        if path is not None:
            try:
                return path.read_bytes()
            except OSError:
                pass
        cubin, _ = assemble(ptx, chip)
        if cubin is not None and path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                CompileCache._write(path, cubin)
            except OSError:
                pass  # an unusable cache dir: the cubin is still loaded
        return cubin


def remove_entries(directory: str | Path, sub: str, suffix: str) -> int:
    """Remove ``<directory>/<sub>/*/*<suffix>`` (and lock and temporary files, and the emptied
    folders); returns the number of entries removed. For ``tensorir-cache clear``."""
    root = Path(directory) / sub
    if not root.is_dir():
        return 0
    removed = 0
    for path in list(root.glob("*/*")):
        if path.name.endswith((suffix, ".lock")) or path.name.startswith(".tmp-"):
            try:
                path.unlink()
                removed += path.name.endswith(suffix)
            except OSError:
                pass
    for folder in [*root.iterdir(), root]:
        try:
            folder.rmdir()
        except OSError:
            pass
    return removed


@dataclass(frozen=True)
class KernelSpec:
    """What a registered kernel computes, as data: its ``family`` (``flat``: every operand full or
    one element, per ``scalars``; ``strided``; ``rows`` / ``columns`` reductions; ``row``: the
    softmax family) and what the family needs (the elementwise ``body``, the ``reduction`` or
    row op, the result's dtype, the labels' dtype). For inspection, and for tests that emulate
    launches without a device (``tests/runtime/cuda/mock_gpu.py``)."""

    family: str
    body: ElementwiseBody | None = None
    scalars: tuple[bool, ...] = ()
    operation: str | None = None
    dtype: str | None = None
    label_dtype: str | None = None


class KernelSet:
    """The kernels one function's steps registered (``add``), compiled as one module and loaded
    the first time a step asks for one (``function``)."""

    def __init__(self, device: Device | Any, cache_dir: str | None) -> None:  # noqa: ANN401 - or a PreparedDevice
        self.device = device
        self.cache_dir = cache_dir
        self._texts: dict[str, str] = {}
        #: What each kernel computes (``KernelSpec``), by name.
        self.specs: dict[str, KernelSpec] = {}
        self._module: GpuModule | None = None
        self._functions: dict[str, Any] = {}

    def add(self, name: str, text: str, spec: KernelSpec | None = None) -> str:
        """Register ``gpu.func`` ``text`` under ``name`` (the same name twice must be the same
        text), with what it computes (``spec``)."""
        if self._module is not None and name not in self._texts:
            self._module = None  # a kernel added after loading: load again with it
        self._texts[name] = text
        if spec is not None:
            self.specs[name] = spec
        return name

    def function(self, name: str) -> Any:  # noqa: ANN401 - a CUfunction
        handle = self._functions.get(name)
        if handle is None:
            if self._module is None:
                self._module = self._load(sorted(self._texts))
                self._functions.clear()
            handle = self._functions[name] = self._module.function(name)
        return handle

    def module_text(self) -> str:
        """The MLIR module of every registered kernel (sorted by name: the same text each time)."""
        return gpu_module([self._texts[n] for n in sorted(self._texts)])

    def prepare(self) -> str | None:
        """Compile the registered kernels' PTX now (None when there are none)."""
        return module_ptx(self.module_text(), self.device.chip, self.cache_dir) if self._texts else None

    def load(self) -> None:
        """Compile and load the registered kernels now (a plan loads its module when built)."""
        if self._texts and self._module is None:
            self._module = self._load(sorted(self._texts))
            self._functions.clear()

    def _load(self, names: Sequence[str]) -> GpuModule:
        text = gpu_module([self._texts[n] for n in names])
        ptx = module_ptx(text, self.device.chip, self.cache_dir)
        driver = require_driver()
        version = int(check(driver.cuDriverGetVersion(), "cuDriverGetVersion"))
        cubin = CubinCache(self.cache_dir).get(ptx, self.device.chip, version)
        if cubin is not None:
            try:
                return self.device.load_image(cubin)
            except CudaError:
                pass  # e.g. a ptxas newer than the driver: the driver JIT-compiles the PTX instead
        return self.device.load(ptx)
