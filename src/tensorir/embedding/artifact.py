"""A compiled module as one file, loadable where MLIR and LLVM are not installed.

The file is a zip archive:

- ``manifest.json``: format name and version, the IR version, the signature, the executor,
  the opt level, the output format, the environment fingerprint the kernels were keyed by and
  the list of kernel keys;
- ``module.tir``: the rewritten function as versioned textual IR (no rewrite runs on load);
- ``kernels/<key>.kernel`` and ``kernels/<key>.so``: the compile cache's entries (object code)
  and the shared libraries linked from them.

Loading unpacks the kernels into a private cache directory, opens a compile cache keyed by the
exporter's fingerprint over it, parses the IR and builds the executor: every kernel is then a
cache hit loaded with ``dlopen``, so neither llvmlite nor the MLIR bindings are imported. The
exporter and the loader must run the same tensorir (the plan is built by its Python code) on the
same kind of CPU (the code is compiled for the exporter's CPU features); both are checked.

A call with shapes or layouts whose kernels are not in the file (a broadcast or a strided input
never seen when saving) needs a compiler: where none is installed it fails with
:class:`ArtifactError` saying so; pass such inputs as ``example_inputs`` when saving.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tensorir.dialects.ir import Module, walk
from tensorir.embedding.compiled import CompiledModule, Signature
from tensorir.embedding.textual_ir import IR_VERSION, parse_ir, print_ir
from tensorir.runtime.compile_cache import (
    ENTRY_SUFFIX,
    LIBRARY_SUFFIX,
    CompileCache,
    decode_entry_metadata,
    environment_fingerprint,
)

__all__ = ["ARTIFACT_FORMAT", "ARTIFACT_VERSION", "UNSERIALIZABLE_OPS", "ArtifactError", "load_artifact",
           "save_artifact"]

ARTIFACT_FORMAT = "tensorir-compiled-module"
ARTIFACT_VERSION = 1
#: Ops whose steps cannot run in another process from the file alone: op name -> why.
_COLLECTIVE = ("a collective: it calls the communicator of the exporting program's process group "
               "(tensorir.distributed), which another process does not have")
UNSERIALIZABLE_OPS: dict[str, str] = {
    "tir.allreduce": _COLLECTIVE,
    # what the pipeline splits an allreduce into, to overlap it with other work
    "tir.allreduce_start": _COLLECTIVE,
    "tir.allreduce_wait": _COLLECTIVE,
}
# Lines of the environment fingerprint that must agree between exporter and loader; the compilers'
# versions need not (the loader does not compile).
_MUST_MATCH = ("format", "codegen", "cpu")


class ArtifactError(RuntimeError):
    """An artifact that cannot be written, read, or run here; the message says why."""


def save_artifact(compiled: CompiledModule, path: str | os.PathLike[str],
                  example_inputs: Sequence[Sequence[Any]] = ()) -> None:
    """Write ``compiled`` to ``path`` (see the module docstring)."""
    for op in walk(compiled.func):
        if op.name in UNSERIALIZABLE_OPS:
            raise ArtifactError(f"cannot save {compiled.signature_text()}: it uses {op.name}, "
                                f"{UNSERIALIZABLE_OPS[op.name]}")
    for args in example_inputs:
        compiled(*args)
        compiled(*args)  # the second call with these shapes records the whole-call replay
    kernels: dict[str, tuple[bytes, bytes]] = {}
    if compiled.executor_name == "native":
        cache = compiled.cache
        if cache is None or cache.directory is None:
            raise ArtifactError("a module compiled without a cache directory (cache_dir=None) keeps its kernels in "
                                "memory only and cannot be saved; compile it with a cache directory")
        for key in compiled.kernel_keys:
            kernels[key] = _entry_files(cache, key)
    manifest = {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "ir_version": IR_VERSION,
        "signature": compiled.signature.to_json(),
        "executor": compiled.executor_name,
        "opt_level": compiled.opt_level,
        "output_format": compiled.output_format,
        "fingerprint": environment_fingerprint() if kernels else None,
        "kernels": sorted(kernels),
    }
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        archive.writestr("module.tir", print_ir(Module([compiled.func])))
        for key, (entry, library) in sorted(kernels.items()):
            archive.writestr(f"kernels/{key}{ENTRY_SUFFIX}", entry)
            archive.writestr(f"kernels/{key}{LIBRARY_SUFFIX}", library)
    os.replace(tmp, target)


def _entry_files(cache: CompileCache, key: str) -> tuple[bytes, bytes]:
    """(entry bytes, shared library bytes) of ``key`` in ``cache``'s directories."""
    for directory in cache._read_directories():
        entry_path = cache.entry_path(key, directory)
        try:
            entry = entry_path.read_bytes()
        except OSError:
            continue
        decoded = decode_entry_metadata(entry, key)
        if decoded is None:
            continue
        library_path = entry_path.with_suffix(LIBRARY_SUFFIX)
        if not decoded[0].get("library") or not library_path.is_file():
            raise ArtifactError(f"kernel {key[:12]}... has no shared library (no system linker 'ld' when it was "
                                "compiled); an artifact needs one to load without LLVM")
        return entry, library_path.read_bytes()
    raise ArtifactError(f"kernel {key[:12]}... is not in the compile cache {cache.directory} (written only in "
                        "memory: is the directory writable?)")


def load_artifact(path: str | os.PathLike[str], directory: str | os.PathLike[str] | None = None,
                  num_threads: int | None = None) -> CompiledModule:
    """The compiled module saved at ``path``. Its kernels are unpacked into ``directory`` (default:
    a private temporary directory removed when the process exits)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{path}: not a tensorir artifact ({exc})") from None
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
            text = archive.read("module.tir").decode()
        except (KeyError, ValueError) as exc:
            raise ArtifactError(f"{path}: not a tensorir artifact (manifest or module missing: {exc})") from None
        if manifest.get("format") != ARTIFACT_FORMAT or manifest.get("version") != ARTIFACT_VERSION:
            raise ArtifactError(f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}; "
                                f"this tensorir reads {ARTIFACT_FORMAT!r} version {ARTIFACT_VERSION}")
        cache = None
        if manifest["executor"] == "native":
            _check_environment(path, manifest["fingerprint"])
            target = Path(directory) if directory is not None else _private_directory()
            for key in manifest["kernels"]:
                sub = target / key[:2]
                sub.mkdir(parents=True, exist_ok=True)
                for suffix in (ENTRY_SUFFIX, LIBRARY_SUFFIX):
                    (sub / f"{key}{suffix}").write_bytes(archive.read(f"kernels/{key}{suffix}"))
            cache = CompileCache(str(target.absolute()))
            cache.fingerprint = manifest["fingerprint"]
    module = parse_ir(text)
    func = module.functions[0]
    loaded = CompiledModule(func, manifest["executor"], manifest["opt_level"], cache, manifest["output_format"],
                            num_threads)
    if loaded.signature != Signature.from_json(manifest["signature"]):
        raise ArtifactError(f"{path}: the module's signature differs from the manifest's (a damaged file)")
    if cache is not None:
        loaded.executor = _CompilerFreeExecutor(loaded.executor, path)
    return loaded


def _fingerprint_fields(fingerprint: str) -> dict[str, str]:
    """``name=value`` lines of a fingerprint; ``cpu`` runs to the end (it spans lines)."""
    head, _, cpu = fingerprint.partition("\ncpu=")
    fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    fields["cpu"] = cpu
    return fields


def _check_environment(path: str | os.PathLike[str], recorded: str) -> None:
    """Refuse an artifact made by another tensorir or for another CPU, naming what differs."""
    theirs, ours = _fingerprint_fields(recorded), _fingerprint_fields(environment_fingerprint())
    differ = [name for name in _MUST_MATCH if theirs.get(name) != ours.get(name)]
    if differ:
        what = {"format": "compile cache format", "codegen": "tensorir version (its code generators and runtime)",
                "cpu": "CPU model or features"}
        raise ArtifactError(f"{path} was made with another {' and '.join(what[d] for d in differ)}; "
                            "compile the module again here (load needs the exporter's tensorir on the same CPU kind)")


def _private_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="tensorir-artifact-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


class _CompilerFreeExecutor:
    """The executor of a loaded artifact: a call that needs a kernel the file lacks, in a process
    without the compilers, fails with an ArtifactError that says what to do."""

    def __init__(self, executor: Any, path: str | os.PathLike[str]) -> None:
        self.executor = executor
        self.path = path
        self.fresh_results = getattr(executor, "fresh_results", None)

    def run(self, args: Sequence[Any]) -> list[Any]:
        try:
            return self.executor.run(args)
        except Exception as error:
            exc = _compiler_import_error(error)
            if exc is None:
                raise
            shapes = ", ".join(f"{a.dtype}{list(a.shape)} strides {list(a.strides)}" for a in args)
            raise ArtifactError(
                f"{self.path}: this call ({shapes}) needs a kernel the artifact does not hold, and compiling it needs "
                f"{(exc.name or '').split('.')[0]}, which is not available here. Save the artifact with "
                "example_inputs of these shapes and layouts."
            ) from error


def _compiler_import_error(error: BaseException | None) -> ImportError | None:
    """The failed import of llvmlite or MLIR behind ``error`` (steps wrap errors), if any."""
    seen = 0
    while error is not None and seen < 16:
        if isinstance(error, ImportError) and (error.name or "").split(".")[0] in ("llvmlite", "mlir"):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None
