"""PTX on disk, like the CPU's compiled kernels (``compile_cache.py``, whose environment digest,
atomic writes and per-key file locks this reuses).

Key: sha256 of the kernels' MLIR text, the GPU target (chip and PTX ISA version), the MLIR
pipeline, the code generators' digest and the MLIR bindings' version. The driver's version is
not in the key: PTX is what the driver JIT-compiles, and a newer driver reads older PTX; a
cubin cache (keyed on the driver too) is for the runtime that loads modules on a device.

An entry is ``<dir>/ptx/<key[:2]>/<key>.ptx``: a first line ``// tensorir-ptx <key> <sha256 of
the rest>`` and the PTX. An entry whose line does not match (truncated, corrupt, another key)
is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from tensorir.codegen.gpu.ptx import DEFAULT_CHIP, compile_to_ptx, gpu_pipeline, target
from tensorir.runtime.compile_cache import CompileCache, _code_generator_digest, _distribution_versions

__all__ = ["PtxCache", "ptx_cache_key"]

_MAGIC = "// tensorir-ptx"
PTX_SUFFIX = ".ptx"


def ptx_cache_key(text: str, chip: str) -> str:
    """Hex sha256 naming the PTX of the MLIR ``text`` for ``chip``."""
    gpu = target(chip)
    versions = _distribution_versions(("xtc-mlir-python-bindings",))
    h = hashlib.sha256()
    for part in (f"codegen={_code_generator_digest()}", *(f"{n}={v}" for n, v in sorted(versions.items())),
                 f"chip={gpu.chip}", f"ptx={gpu.ptx}", gpu_pipeline(gpu), text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class PtxCache:
    """PTX by key: a dict in front of a directory (None: memory only)."""

    def __init__(self, directory: str | os.PathLike[str] | None,
                 compile_fn: Callable[[str, str], str] = compile_to_ptx) -> None:
        self.directory = Path(directory) / "ptx" if directory is not None else None
        self._compile = compile_fn
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        #: counters for tests: memory hits, disk hits, compiles.
        self.stats = {"memory": 0, "disk": 0, "compiled": 0}

    def entry_path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / (key + PTX_SUFFIX)

    def get(self, text: str, chip: str = DEFAULT_CHIP) -> str:
        """The PTX of the MLIR module ``text`` for ``chip``: from memory, from disk, or compiled."""
        key = ptx_cache_key(text, chip)
        ptx = self._memory.get(key)
        if ptx is not None:
            self.stats["memory"] += 1
            return ptx
        with self._lock:
            ptx = self._memory.get(key)
            if ptx is None:
                ptx = self._load_or_compile(key, text, chip)
                self._memory[key] = ptx
            return ptx

    def _load_or_compile(self, key: str, text: str, chip: str) -> str:
        if self.directory is None:
            return self._compiled(text, chip)
        path = self.entry_path(key)
        ptx = self._read(path, key)
        if ptx is not None:
            return ptx
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # an unusable cache dir: compile without storing
            return self._compiled(text, chip)
        with CompileCache._file_lock(path):
            ptx = self._read(path, key)  # another process may have written it meanwhile
            if ptx is not None:
                return ptx
            ptx = self._compiled(text, chip)
            digest = hashlib.sha256(ptx.encode()).hexdigest()
            CompileCache._write(path, f"{_MAGIC} {key} {digest}\n{ptx}".encode())
            return ptx

    def _compiled(self, text: str, chip: str) -> str:
        self.stats["compiled"] += 1
        return self._compile(text, chip)

    def _read(self, path: Path, key: str) -> str | None:
        try:
            data = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        header, _, ptx = data.partition("\n")
        if header != f"{_MAGIC} {key} {hashlib.sha256(ptx.encode()).hexdigest()}":
            return None
        self.stats["disk"] += 1
        return ptx
