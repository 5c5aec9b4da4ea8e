"""The compile cache: native kernels by a hash of their source, in memory and on disk.

Key: sha256 of the kernel's identity, the MLIR pipeline, the opt level, and a fingerprint of
the environment: tensorir's code generators (a digest of the sources under ``codegen/`` and
``runtime/``), llvmlite's and the MLIR bindings' versions, the host CPU and the entry format.
The identity is the kernel's MLIR text (:meth:`CompileCache.get`) or, for kernels whose text
is a function of a name (the runtime's kernels, named by a hash of everything their text
depends on), that name (:meth:`CompileCache.get_lazy`): a hit then never builds the text.

A hit in memory returns the loaded module. A hit on disk loads the module's shared library
with ``dlopen`` (:mod:`tensorir.runtime.shared_library`), or where there is none its object
code through llvmlite's JIT linker: no MLIR or LLVM optimization either way, and with the
library not even an import of llvmlite or MLIR.

An entry file is a header then the object code::

    magic b"TIRKC2\\0\\0" | u32 format | 32-byte key | u32 metadata length | metadata (JSON)
    | u64 payload length | 32-byte sha256 of the payload | payload

The metadata names the exported functions, the imported ones (with their signatures) and the
sha256 of the shared library ``<key>.so`` beside the entry, if one was linked.

Writes go to a temporary file in the same directory and are renamed over the entry
(``os.replace`` is atomic), so a reader sees a whole entry or none; the library is written
before the entry that names it. Processes compiling the same kernel serialize on
``fcntl.flock`` of a per-key lock file: the second one waits, then finds the entry. A crashed
process's lock is released by the kernel, so there is no stale lock. An entry that is
truncated, corrupt or written for another key is ignored and rebuilt; a library whose digest
does not match (a damaged ``.so``) is ignored, the object code is loaded instead, and the library
is linked again and the entry rewritten, so only one load pays for it.

A directory this process cannot write (a cache warmed by root, a cluster's shared cache) is still
read; what is compiled goes to a per-user overlay (:mod:`tensorir.runtime.cache_overlay`), read
before the directory, or stays in memory when there is none. One warning names the directory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import struct
import sys
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The pipeline is part of every key; jit.py imports llvmlite and MLIR only when it compiles.
from tensorir.codegen.compile_phases import timed_phase
from tensorir.codegen.cpu.jit import DEFAULT_MLIR_PIPELINE
from tensorir.runtime.cache_log import CACHE_LOG, key_parts, log_miss
from tensorir.runtime.cache_overlay import is_writable_directory, overlay_directory

try:  # POSIX file locks; elsewhere concurrent writers still cannot corrupt an entry (atomic rename)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

__all__ = ["CacheEntry", "CompileCache", "compile_cached", "default_cache_dir", "environment_fingerprint", "get_cache"]

MAGIC = b"TIRKC2\0\0"
FORMAT_VERSION = 2
ENTRY_SUFFIX = ".kernel"
LIBRARY_SUFFIX = ".so"
LOCK_SUFFIX = ".lock"
#: Modules the memory level keeps after no function uses them (see CompileCache.__init__).
MEMORY_RECENT = 32
_HEADER = struct.Struct("<8sI32sI")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent

#: A loaded module: ``tensorir.codegen.cpu.jit.NativeModule`` or ``SharedLibraryModule``.
LoadedModule = Any


def default_cache_dir() -> str:
    """``$TENSORIR_COMPILEDIR``, else the user's cache dir (``$XDG_CACHE_HOME/tensorir`` or
    ``~/.cache/tensorir``). Functions pass ``config.compiledir`` explicitly (see ``Mode.compile``).
    """
    env = os.environ.get("TENSORIR_COMPILEDIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorir")


def _distribution_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Versions of installed distributions from their ``.dist-info`` directory names: one listing
    per ``sys.path`` entry, no import, cheaper than ``importlib.metadata`` (~1.5 ms a lookup)."""
    prefixes = {d.replace("-", "_").lower() + "-": d for d in distributions}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith(".dist-info"):
                continue
            for prefix, distribution in prefixes.items():
                if distribution not in found and name.lower().startswith(prefix):
                    found[distribution] = name[len(prefix):-len(".dist-info")]
        if len(found) == len(distributions):
            return found
    for distribution in distributions:
        if distribution not in found:
            try:
                from importlib.metadata import version

                found[distribution] = version(distribution)
            except Exception:  # noqa: BLE001 - metadata missing in odd installs; the key gets coarser
                found[distribution] = "unknown"
    return found


def _host_cpu() -> str:
    """The host CPU's model and feature flags: from ``/proc/cpuinfo`` where there is one (no
    llvmlite import), else LLVM's host CPU name and features."""
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n", 1)[0]
        wanted = ("vendor_id", "model name", "flags", "Features", "CPU implementer", "CPU part")
        lines = [ln for ln in first.splitlines() if ln.split(":", 1)[0].strip() in wanted]
        if lines:
            return platform.machine() + "\n" + "\n".join(" ".join(ln.split()) for ln in lines)
    except OSError:
        pass
    from tensorir.codegen.cpu.jit import host_target_machine

    host_target_machine()  # initializes LLVM's native target
    import llvmlite.binding as llvm

    return f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


def _code_generator_digest() -> str:
    """sha256 of the sources that generate and run kernel text, so an edited generator never
    meets an entry built by its old version (kernel names alone do not cover that)."""
    h = hashlib.sha256()
    for relative in _generator_sources():
        with contextlib.suppress(OSError), open(os.path.join(_PACKAGE_ROOT, relative), "rb") as f:
            h.update(relative.encode() + b"\0" + f.read())
    return h.hexdigest()


def _generator_sources() -> list[str]:
    """``codegen/**/*.py`` and ``runtime/*.py`` relative to the package, ``/``-separated, in the
    order of their paths' components (the order ``sorted`` gives ``Path`` objects, so digests
    match those of earlier versions). ``os.scandir`` rather than ``Path.rglob``: this runs in
    every process that loads a kernel, and pathlib's globbing took half of its ~1.5 ms."""
    found: list[str] = []
    pending = [("codegen", True), ("runtime", False)]
    while pending:
        relative, recurse = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(_PACKAGE_ROOT, relative)))
        except OSError:
            continue
        for entry in entries:
            name = f"{relative}/{entry.name}"
            if entry.name.endswith(".py") and entry.is_file():
                found.append(name)
            elif recurse and entry.is_dir():
                pending.append((name, True))
    return sorted(found, key=lambda name: name.split("/"))


@functools.cache
def _environment_fingerprint() -> str:
    """Versions, code generators and target: any change gives new keys."""
    versions = _distribution_versions(("tensorir", "llvmlite", "xtc-mlir-python-bindings"))
    return "\n".join([f"format={FORMAT_VERSION}", f"codegen={_code_generator_digest()}",
                      *(f"{name}={version}" for name, version in sorted(versions.items())), f"cpu={_host_cpu()}"])


def environment_fingerprint() -> str:
    """The text every key of this process hashes first (versions, code generators, host CPU)."""
    return _environment_fingerprint()


def cache_key(text: str, opt_level: int, pipeline: str = DEFAULT_MLIR_PIPELINE, fingerprint: str | None = None) -> str:
    """Hex sha256 naming the compiled form of ``text`` on this machine (``fingerprint``: another
    environment's, for a cache that holds that environment's entries; see CompileCache.fingerprint)."""
    h = hashlib.sha256()
    for part in (fingerprint or _environment_fingerprint(), pipeline, f"O{opt_level}", text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def lazy_cache_key(identity: str, opt_level: int, pipeline: str = DEFAULT_MLIR_PIPELINE,
                   fingerprint: str | None = None) -> str:
    """Hex sha256 naming the compiled form of the kernel(s) named ``identity`` (see the module
    docstring); never equal to a text key."""
    return cache_key("identity:" + identity, opt_level, pipeline, fingerprint)


@dataclass(frozen=True)
class CacheEntry:
    """One entry file as listed by :meth:`CompileCache.entries`; ``library``: 'ok', 'damaged'
    (missing, or its digest differs from the entry's) or 'none' (the entry names no library)."""

    path: Path
    size: int
    valid: bool
    functions: tuple[str, ...]
    library: str = "none"

    @property
    def status(self) -> str:
        """'ok', 'corrupt' (the entry is rebuilt on use) or 'damaged library' (relinked on use)."""
        if not self.valid:
            return "corrupt"
        return "damaged library" if self.library == "damaged" else "ok"


def encode_entry(key: str, names: list[str], payload: bytes, imports: dict[str, list] | None = None,
                 library_digest: str | None = None) -> bytes:
    """Header + payload bytes of an entry (see the module docstring)."""
    metadata = {"functions": list(names), "imports": imports or {}, "library": library_digest}
    meta_bytes = json.dumps(metadata, sort_keys=True).encode()
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, bytes.fromhex(key), len(meta_bytes))
    return header + meta_bytes + struct.pack("<Q", len(payload)) + hashlib.sha256(payload).digest() + payload


def decode_entry_metadata(data: bytes, key: str | None) -> tuple[dict, bytes] | None:
    """(metadata, object code), or None when ``data`` is not a whole entry for ``key``."""
    try:
        magic, fmt, raw_key, meta_length = _HEADER.unpack_from(data, 0)
        if magic != MAGIC or fmt != FORMAT_VERSION or (key is not None and raw_key != bytes.fromhex(key)):
            return None
        offset = _HEADER.size
        metadata = json.loads(data[offset:offset + meta_length].decode())
        offset += meta_length
        (length,) = struct.unpack_from("<Q", data, offset)
        digest = data[offset + 8:offset + 40]
        payload = data[offset + 40:]
        if len(payload) != length or hashlib.sha256(payload).digest() != digest:
            return None
        if not isinstance(metadata, dict):
            return None
        names, imports, library = metadata.get("functions"), metadata.get("imports"), metadata.get("library")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        if not isinstance(imports, dict) or not (library is None or isinstance(library, str)):
            return None
        return metadata, payload
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def decode_entry(data: bytes, key: str | None) -> tuple[list[str], bytes] | None:
    """(function names, object code), or None when ``data`` is not a whole entry for ``key``."""
    decoded = decode_entry_metadata(data, key)
    return None if decoded is None else (decoded[0]["functions"], decoded[1])


class CompileCache:
    """Compiled kernels by key: a process-wide dict in front of a directory of entry files."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        #: None disables the disk level (memory only).
        self.directory = Path(directory) if directory is not None else None
        # The memory level: every module some live function still uses (weakly: a collected
        # function's code is freed), plus the MEMORY_RECENT last used ones (strongly: a function
        # built and dropped in a loop does not reload its kernels each time).
        self._memory: weakref.WeakValueDictionary[str, LoadedModule] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[str, LoadedModule] = OrderedDict()
        self._lock = threading.Lock()
        #: counters for tests and benchmarks: memory hits, disk hits, compiles.
        self.stats = {"memory": 0, "disk": 0, "compiled": 0}
        #: of the disk hits, those loaded as shared libraries (the others went through llvmlite).
        self.library_loads = 0
        #: entries whose damaged library was linked again
        self.repaired = 0
        #: where entries are written when ``directory`` is read-only (None: not needed or none)
        self.overlay: Path | None = None
        self._read_only = False
        #: the environment fingerprint keys are made with (None: this process's). A directory
        #: unpacked from a compiled artifact (tensorir.embedding) keys by the exporter's, so its
        #: entries are found where the compilers themselves are not installed.
        self.fingerprint: str | None = None
        #: callables told the key of every lookup (the embedding API collects an artifact's entries)
        self.key_observers: list[Callable[[str], None]] = []

    def entry_path(self, key: str, directory: Path | None = None) -> Path:
        base = directory if directory is not None else self.directory
        assert base is not None
        return base / key[:2] / (key + ENTRY_SUFFIX)

    def _read_directories(self) -> list[Path]:
        """Where entries are looked for: this user's overlay first (its entries replace damaged
        ones of a read-only directory), then the directory."""
        assert self.directory is not None
        return [self.overlay, self.directory] if self.overlay is not None else [self.directory]

    def _writable_entry_path(self, key: str) -> Path | None:
        """Where the entry of ``key`` can be written: in the directory, else in the overlay
        (found, and warned about, once), else None (compile in memory only)."""
        assert self.directory is not None
        if not self._read_only:
            path = self.entry_path(key)
            if is_writable_directory(path.parent):
                return path
            self._read_only = True
            self.overlay = overlay_directory(self.directory)
            where = f"new kernels go to {self.overlay}" if self.overlay else "new kernels are kept in memory only"
            warnings.warn(f"tensorir's compile cache {self.directory} is not writable by this user: its entries are "
                          f"read, {where}. Set the compiledir flag or TENSORIR_COMPILEDIR to a writable directory "
                          "to keep them.", RuntimeWarning, stacklevel=2)
        if self.overlay is None:
            return None
        path = self.entry_path(key, self.overlay)
        return path if is_writable_directory(path.parent) else None

    def get(self, text: str, opt_level: int = 3, symbols: dict[str, int] | None = None) -> LoadedModule:
        """The loaded module of ``text``: from memory, from disk, or compiled (and stored)."""
        return self._get(cache_key(text, opt_level, fingerprint=self.fingerprint), lambda: text, opt_level, symbols)

    def get_lazy(self, identity: str, make_text: Callable[[], str | list[str]], opt_level: int = 3,
                 symbols: dict[str, int] | None = None) -> LoadedModule:
        """The loaded module named ``identity``; ``make_text()`` is called only to compile it.

        ``identity`` must determine the text (given the code generators' sources, which are in
        the key too): e.g. kernel names that hash every parameter of their text.
        """
        return self._get(lazy_cache_key(identity, opt_level, fingerprint=self.fingerprint), make_text, opt_level,
                         symbols, identity)

    def _get(self, key: str, make_text: Callable[[], str | list[str]], opt_level: int,
             symbols: dict[str, int] | None, identity: str | None = None) -> LoadedModule:
        for observe in self.key_observers:
            observe(key)
        module = self._memory.get(key)
        if module is not None:
            self.stats["memory"] += 1
            with self._lock:
                self._remember(key, module)
            return module
        with self._lock:
            module = self._memory.get(key)
            if module is None:
                module = self._load_or_compile(key, make_text, opt_level, symbols, identity)
                self._memory[key] = module
            self._remember(key, module)
            return module

    def _remember(self, key: str, module: LoadedModule) -> None:
        """Keep ``module`` among the recently used ones (caller holds the lock)."""
        self._recent[key] = module
        self._recent.move_to_end(key)
        while len(self._recent) > MEMORY_RECENT:
            self._recent.popitem(last=False)

    def _load_or_compile(self, key: str, make_text: Callable[[], str | list[str]], opt_level: int,
                         symbols: dict[str, int] | None, identity: str | None = None) -> LoadedModule:
        if self.directory is None:
            self._explain_miss(key, identity, opt_level)
            return self._compile(make_text, opt_level, symbols)
        for directory in self._read_directories():
            module, damaged = self._read(self.entry_path(key, directory), key, symbols)
            if module is not None:
                if damaged:
                    self._repair(key, module)
                return module
        self._explain_miss(key, identity, opt_level)
        path = self._writable_entry_path(key)
        if path is None:  # nowhere to write: compile without storing
            return self._compile(make_text, opt_level, symbols)
        with self._file_lock(path):
            # Another process may have finished the entry while we waited for the lock.
            module, damaged = self._read(path, key, symbols)
            if module is not None and not damaged:
                return module
            if module is None:
                module = self._compile(make_text, opt_level, symbols)
            self._store(path, key, module)
            return module

    def _explain_miss(self, key: str, identity: str | None, opt_level: int) -> None:
        """Log why ``key`` is compiled (runtime/cache_log.py; nothing happens while the log is off)."""
        if CACHE_LOG.isEnabledFor(logging.INFO):
            parts = key_parts(opt_level, DEFAULT_MLIR_PIPELINE, _environment_fingerprint())
            log_miss(self.directory, identity or f"kernel text {key[:16]}", parts)

    def _store(self, path: Path, key: str, module: LoadedModule) -> None:
        """Write ``module``'s library, then the entry that names it."""
        digest = self._write_library(path, module)
        self._write(path, encode_entry(key, module.function_names, module.object_code, module.imports, digest))

    def _repair(self, key: str, module: LoadedModule) -> None:
        """Link a damaged entry's library again from its (verified) object code and rewrite the
        entry, in the directory or the overlay, so later loads skip llvmlite again."""
        path = self._writable_entry_path(key)
        if path is None:
            return
        with self._file_lock(path):
            self._store(path, key, module)
        self.repaired += 1

    def _compile(self, make_text: Callable[[], str | list[str]], opt_level: int,
                 symbols: dict[str, int] | None) -> LoadedModule:
        from tensorir.codegen.cpu.jit import compile_mlir, compile_mlir_parts

        self.stats["compiled"] += 1
        text = make_text()
        if isinstance(text, str):
            return compile_mlir(text, opt_level=opt_level, symbols=symbols)
        return compile_mlir_parts(text, opt_level=opt_level, symbols=symbols)

    @timed_phase("cache_load")
    def _read(self, path: Path, key: str, symbols: dict[str, int] | None) -> tuple[LoadedModule | None, bool]:
        """(the entry's module or None, whether the entry names a library that is damaged)."""
        try:
            data = path.read_bytes()
        except OSError:
            return None, False
        decoded = decode_entry_metadata(data, key)
        if decoded is None:
            return None, False  # corrupt, truncated or foreign: rebuilt by the caller
        metadata, payload = decoded
        names, imports = metadata["functions"], metadata["imports"]
        if set(imports) - set(symbols or {}):
            return None, False  # compiled against symbols this caller does not bind: compile again
        module = self._load_library(path, metadata, payload, symbols)
        damaged = module is None and bool(metadata.get("library"))
        if module is None:
            try:
                from tensorir.codegen.cpu.jit import NativeModule

                module = NativeModule.from_object_code(payload, names, symbols)
            except Exception:  # noqa: BLE001 - an object LLVM cannot link is as good as corrupt
                return None, False
        self.stats["disk"] += 1
        return module, damaged

    def _load_library(self, path: Path, metadata: dict, payload: bytes,
                      symbols: dict[str, int] | None) -> LoadedModule | None:
        """The entry's shared library, loaded, when there is one with the recorded digest."""
        digest = metadata.get("library")
        if not digest:
            return None
        library_path = path.with_suffix(LIBRARY_SUFFIX)
        try:
            if hashlib.sha256(library_path.read_bytes()).hexdigest() != digest:
                return None
            from tensorir.runtime.shared_library import SharedLibraryModule

            module = SharedLibraryModule(library_path, payload, metadata["functions"], metadata["imports"], symbols)
        except Exception:  # noqa: BLE001 - missing, foreign or unloadable: the object code still works
            return None
        self.library_loads += 1
        return module

    def _write_library(self, path: Path, module: LoadedModule) -> str | None:
        """Link the module into ``<key>.so`` beside the entry; its sha256, or None."""
        from tensorir.runtime.shared_library import link_shared_library, linker_available

        if not linker_available():
            return None
        try:
            objects = [module.object_code]
            if module.imports:
                from tensorir.codegen.cpu.jit import emit_object, import_stubs_ir

                objects.append(emit_object(import_stubs_ir(module.imports)))
            library = link_shared_library(objects)
        except Exception:  # noqa: BLE001 - no library: later processes load the object code instead
            return None
        if library is None:
            return None
        self._write(path.with_suffix(LIBRARY_SUFFIX), library)
        return hashlib.sha256(library).hexdigest()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError:  # the directory turned out not writable: the entry is simply not stored
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    @staticmethod
    @contextlib.contextmanager
    def _file_lock(path: Path) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        lock_path = path.with_suffix(LOCK_SUFFIX)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- maintenance (tensorir-cache) -------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Every entry file under the directory, checked for integrity."""
        if self.directory is None or not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob(f"*/*{ENTRY_SUFFIX}")):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            decoded = decode_entry_metadata(data, path.name[: -len(ENTRY_SUFFIX)])
            if decoded is None:
                out.append(CacheEntry(path, len(data), False, ()))
                continue
            metadata = decoded[0]
            out.append(CacheEntry(path, len(data), True, tuple(metadata["functions"]),
                                  _library_status(path, metadata.get("library"))))
        return out

    def size(self) -> int:
        """Total bytes of the files under the directory."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    def clear(self) -> int:
        """Remove entries, lock files and leftovers; returns the number of entries removed."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        removed = 0
        for path in list(self.directory.glob("*/*")):
            if (path.name.endswith((ENTRY_SUFFIX, LIBRARY_SUFFIX, LOCK_SUFFIX)) or path.name.startswith(".tmp-")
                    or path.parent.name == "explain"):  # the cache log's records (runtime/cache_log.py)
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += path.name.endswith(ENTRY_SUFFIX)
        for sub in list(self.directory.iterdir()):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        self._memory.clear()
        self._recent.clear()
        return removed


def _library_status(entry: Path, digest: str | None) -> str:
    """'none', 'ok' or 'damaged' for the library an entry names (see :class:`CacheEntry`)."""
    if not digest:
        return "none"
    try:
        actual = hashlib.sha256(entry.with_suffix(LIBRARY_SUFFIX).read_bytes()).hexdigest()
    except OSError:
        return "damaged"
    return "ok" if actual == digest else "damaged"


_CACHES: dict[str | None, CompileCache] = {}
_CACHES_LOCK = threading.Lock()


def get_cache(directory: str | os.PathLike[str] | CompileCache | None = "") -> CompileCache:
    """The process-wide cache of ``directory`` ('' means :func:`default_cache_dir`, None memory only);
    a CompileCache is returned as it is (a cache of its own, e.g. one keyed by another fingerprint)."""
    if isinstance(directory, CompileCache):
        return directory
    if directory == "":
        directory = default_cache_dir()
    key = None if directory is None else os.path.abspath(directory)
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            cache = _CACHES[key] = CompileCache(key)
        return cache


def compile_cached(text: str, opt_level: int = 3, directory: str | os.PathLike[str] | None = "") -> LoadedModule:
    """Shorthand: ``get_cache(directory).get(text, opt_level)``."""
    return get_cache(directory).get(text, opt_level)
