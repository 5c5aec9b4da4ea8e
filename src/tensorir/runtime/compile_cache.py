"""The compile cache: native kernels by the hash of their MLIR text, in memory and on disk.

Key: sha256 of the kernel's MLIR text, the MLIR pipeline, the opt level, tensorir's version,
llvmlite's and the MLIR bindings' versions, the host CPU name and features, and the entry
format version. A hit in memory returns the loaded module; a hit on disk loads the object code
with no MLIR or LLVM work at all.

An entry file is a header then the object code::

    magic b"TIRKC1\\0\\0" | u32 format | 32-byte key | u32 names length | names (JSON)
    | u64 payload length | 32-byte sha256 of the payload | payload

Writes go to a temporary file in the same directory and are renamed over the entry
(``os.replace`` is atomic), so a reader sees a whole entry or none. Processes compiling the
same kernel serialize on ``fcntl.flock`` of a per-key lock file: the second one waits, then
finds the entry. A crashed process's lock is released by the kernel, so there is no stale
lock. An entry that is truncated, corrupt or written for another key is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import struct
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tensorir.codegen.cpu.jit import DEFAULT_MLIR_PIPELINE, NativeModule, compile_mlir

try:  # POSIX file locks; elsewhere concurrent writers still cannot corrupt an entry (atomic rename)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

__all__ = ["CacheEntry", "CompileCache", "compile_cached", "default_cache_dir", "get_cache"]

MAGIC = b"TIRKC1\0\0"
FORMAT_VERSION = 1
ENTRY_SUFFIX = ".kernel"
LOCK_SUFFIX = ".lock"
_HEADER = struct.Struct("<8sI32sI")


def default_cache_dir() -> str:
    """``$TENSORIR_COMPILEDIR``, else the user's cache dir (``$XDG_CACHE_HOME/tensorir`` or
    ``~/.cache/tensorir``). Functions pass ``config.compiledir`` explicitly (see ``Mode.compile``).
    """
    env = os.environ.get("TENSORIR_COMPILEDIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorir")


@functools.cache
def _environment_fingerprint() -> str:
    """Versions and target: any change gives new keys."""
    import llvmlite
    import llvmlite.binding as llvm

    try:
        from importlib.metadata import version

        mlir_version = version("xtc-mlir-python-bindings")
        tensorir_version = version("tensorir")
    except Exception:  # noqa: BLE001 - metadata missing in odd installs; the key just gets coarser
        mlir_version = tensorir_version = "unknown"
    from tensorir.codegen.cpu.jit import host_target_machine

    host_target_machine()  # initializes LLVM's native target
    return "\n".join([f"format={FORMAT_VERSION}", f"tensorir={tensorir_version}", f"llvmlite={llvmlite.__version__}",
                      f"mlir={mlir_version}", f"cpu={llvm.get_host_cpu_name()}",
                      f"features={llvm.get_host_cpu_features().flatten()}"])


def cache_key(text: str, opt_level: int, pipeline: str = DEFAULT_MLIR_PIPELINE) -> str:
    """Hex sha256 naming the compiled form of ``text`` on this machine."""
    h = hashlib.sha256()
    for part in (_environment_fingerprint(), pipeline, f"O{opt_level}", text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One entry file as listed by :meth:`CompileCache.entries`."""

    path: Path
    size: int
    valid: bool
    functions: tuple[str, ...]


def encode_entry(key: str, names: list[str], payload: bytes) -> bytes:
    """Header + payload bytes of an entry (see the module docstring)."""
    names_bytes = json.dumps(names).encode()
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, bytes.fromhex(key), len(names_bytes))
    return header + names_bytes + struct.pack("<Q", len(payload)) + hashlib.sha256(payload).digest() + payload


def decode_entry(data: bytes, key: str | None) -> tuple[list[str], bytes] | None:
    """(function names, object code), or None when ``data`` is not a whole entry for ``key``."""
    try:
        magic, fmt, raw_key, names_length = _HEADER.unpack_from(data, 0)
        if magic != MAGIC or fmt != FORMAT_VERSION or (key is not None and raw_key != bytes.fromhex(key)):
            return None
        offset = _HEADER.size
        names = json.loads(data[offset:offset + names_length].decode())
        offset += names_length
        (length,) = struct.unpack_from("<Q", data, offset)
        digest = data[offset + 8:offset + 40]
        payload = data[offset + 40:]
        if len(payload) != length or hashlib.sha256(payload).digest() != digest:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return names, payload
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


class CompileCache:
    """Compiled kernels by key: a process-wide dict in front of a directory of entry files."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        #: None disables the disk level (memory only).
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, NativeModule] = {}
        self._lock = threading.Lock()
        #: counters for tests and benchmarks: memory hits, disk hits, compiles.
        self.stats = {"memory": 0, "disk": 0, "compiled": 0}

    def entry_path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / (key + ENTRY_SUFFIX)

    def get(self, text: str, opt_level: int = 3, symbols: dict[str, int] | None = None) -> NativeModule:
        """The loaded module of ``text``: from memory, from disk, or compiled (and stored)."""
        key = cache_key(text, opt_level)
        module = self._memory.get(key)
        if module is not None:
            self.stats["memory"] += 1
            return module
        with self._lock:
            module = self._memory.get(key)
            if module is None:
                module = self._load_or_compile(key, text, opt_level, symbols)
                self._memory[key] = module
            return module

    def _load_or_compile(self, key: str, text: str, opt_level: int, symbols: dict[str, int] | None) -> NativeModule:
        if self.directory is None:
            self.stats["compiled"] += 1
            return compile_mlir(text, opt_level=opt_level, symbols=symbols)
        path = self.entry_path(key)
        module = self._read(path, key, symbols)
        if module is not None:
            return module
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # read-only or unusable cache dir: compile without storing
            self.stats["compiled"] += 1
            return compile_mlir(text, opt_level=opt_level, symbols=symbols)
        with self._file_lock(path):
            # Another process may have finished the entry while we waited for the lock.
            module = self._read(path, key, symbols)
            if module is not None:
                return module
            self.stats["compiled"] += 1
            module = compile_mlir(text, opt_level=opt_level, symbols=symbols)
            self._write(path, encode_entry(key, module.function_names, module.object_code))
            return module

    def _read(self, path: Path, key: str, symbols: dict[str, int] | None) -> NativeModule | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        decoded = decode_entry(data, key)
        if decoded is None:
            return None  # corrupt, truncated or foreign: rebuilt by the caller
        names, payload = decoded
        try:
            module = NativeModule.from_object_code(payload, names, symbols)
        except Exception:  # noqa: BLE001 - an object LLVM cannot link is as good as corrupt
            return None
        self.stats["disk"] += 1
        return module

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
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
            decoded = decode_entry(data, path.name[: -len(ENTRY_SUFFIX)])
            out.append(CacheEntry(path, len(data), decoded is not None, tuple(decoded[0]) if decoded else ()))
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
            if path.name.endswith(ENTRY_SUFFIX) or path.name.endswith(LOCK_SUFFIX) or path.name.startswith(".tmp-"):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += path.name.endswith(ENTRY_SUFFIX)
        for sub in list(self.directory.iterdir()):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        self._memory.clear()
        return removed


_CACHES: dict[str | None, CompileCache] = {}
_CACHES_LOCK = threading.Lock()


def get_cache(directory: str | os.PathLike[str] | None = "") -> CompileCache:
    """The process-wide cache of ``directory`` ('' means :func:`default_cache_dir`, None memory only)."""
    if directory == "":
        directory = default_cache_dir()
    key = None if directory is None else os.path.abspath(directory)
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            cache = _CACHES[key] = CompileCache(key)
        return cache


def compile_cached(text: str, opt_level: int = 3, directory: str | os.PathLike[str] | None = "") -> NativeModule:
    """Shorthand: ``get_cache(directory).get(text, opt_level)``."""
    return get_cache(directory).get(text, opt_level)
