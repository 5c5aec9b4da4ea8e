"""Compiled kernels as shared libraries: linked once by the system linker, loaded by ``dlopen``.

The compile cache stores each module's object code. Loading an object needs llvmlite's JIT
linker, and importing llvmlite alone costs ~30 ms, more than everything else a cached
``tensorir.function`` does. So when a module is first compiled, the cache also links its
(position-independent) object into a shared library with ``ld -shared``; a later process then
loads the library with ``ctypes.CDLL`` and imports neither llvmlite nor MLIR.

Functions the module imports by name (BLAS routines bound through ``symbols``, whose
addresses differ in every process) cannot be resolved by the dynamic loader. The library
defines each one as a stub that jumps through the pointer variable ``__tensorir_import.NAME``
(:func:`tensorir.codegen.cpu.jit.import_stubs_ir`); :class:`SharedLibraryModule` fills those
variables right after ``dlopen``, before any kernel can run.

Where no linker is installed, nothing changes: entries are loaded through llvmlite.
"""

from __future__ import annotations

import _ctypes
import ctypes
import os
import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path

__all__ = ["SharedLibraryModule", "link_shared_library", "linker_available"]

#: Prefix of the pointer variables that imported functions jump through.
IMPORT_SLOT_PREFIX = "__tensorir_import."


def _linker() -> str | None:
    return shutil.which("ld")


def linker_available() -> bool:
    """Whether a system linker is there to make shared libraries."""
    return _linker() is not None


def link_shared_library(objects: list[bytes]) -> bytes | None:
    """The bytes of a shared library linking ``objects``, or None when linking is not possible.

    ``-Bsymbolic`` binds the library's references to its own definitions (each library has its
    own import slots, even when two define the same kernel); ``-z now`` makes ``dlopen`` fail
    at once on an unresolved symbol instead of at the first call.
    """
    ld = _linker()
    if ld is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tensorir-link-") as tmp:
        paths = []
        for k, code in enumerate(objects):
            path = os.path.join(tmp, f"part{k}.o")
            with open(path, "wb") as f:
                f.write(code)
            paths.append(path)
        out = os.path.join(tmp, "module.so")
        try:
            subprocess.run([ld, "-shared", "-Bsymbolic", "-z", "now", "-o", out, *paths], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            return Path(out).read_bytes()
        except (OSError, subprocess.SubprocessError):
            return None


def _dlclose(handle: int) -> None:
    _ctypes.dlclose(handle)


class SharedLibraryModule:
    """A compiled module loaded from a shared library; the interface of ``NativeModule``.

    :meth:`address` gives a function's entry address; the code stays mapped as long as this
    object lives, and the library is closed (``dlclose``) when it is collected: whoever runs the
    code keeps the module (the executors' kernel contexts do), so a process that builds and
    drops functions does not keep every library it ever loaded mapped.
    """

    def __init__(self, path: str | os.PathLike[str], object_code: bytes, function_names: list[str],
                 imports: dict[str, list] | None = None, symbols: dict[str, int] | None = None) -> None:
        imports = imports or {}
        symbols = symbols or {}
        missing = sorted(set(imports) - set(symbols))
        if missing:
            raise KeyError(f"the module imports {missing}; pass their addresses in symbols")
        self.object_code = object_code
        self.function_names = list(function_names)
        self.imports = dict(imports)
        self.symbols = dict(symbols)
        self.llvm_ir = None
        self.path = str(path)
        self._library = ctypes.CDLL(self.path)  # ctypes opens with RTLD_NOW: unresolved symbols fail here
        for name in imports:
            ctypes.c_void_p.in_dll(self._library, IMPORT_SLOT_PREFIX + name).value = symbols[name]
        self._addresses = {name: ctypes.cast(self._library[name], ctypes.c_void_p).value
                           for name in self.function_names}
        # dlopen counts references: this closes only this object's own opening of the file.
        weakref.finalize(self, _dlclose, self._library._handle)

    def address(self, name: str) -> int:
        """Entry address of the function ``name``."""
        try:
            return self._addresses[name]
        except KeyError:
            raise KeyError(f"no function {name!r} in module; have {sorted(self._addresses)}") from None

    def __repr__(self) -> str:
        return f"SharedLibraryModule(functions={self.function_names}, {self.path})"
