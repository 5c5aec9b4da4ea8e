"""Compile MLIR text to native code for the host CPU.

Path: MLIR text -> upstream MLIR passes down to the LLVM dialect -> LLVM IR text
(``translate_module_to_llvmir``) -> llvmlite: host triple, data layout, CPU name and
features, the new pass manager at O0..O3 -> an object file -> ORC LLJIT.

The object file is the unit of the JIT: a fresh compile emits it and loads it, and
:meth:`NativeModule.from_object_code` loads the same bytes from a disk cache with no MLIR
or LLVM optimization at all. External symbols (BLAS function pointers) are bound by name
when the object is linked. Objects are position independent, so the compile cache can also
link them into a shared library (:mod:`tensorir.runtime.shared_library`) that a later process
loads with ``dlopen``, without importing llvmlite or MLIR at all.

Importing this module is cheap: llvmlite and the MLIR bindings are imported by the functions
that compile or link, never at module level.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tensorir.codegen.compile_phases import timed_phase
from tensorir.codegen.cpu.bindings import import_binding, signals_deferred

if TYPE_CHECKING:
    import llvmlite.binding as llvm

__all__ = [
    "CodegenError",
    "NativeModule",
    "compile_mlir",
    "host_target_machine",
    "lower_mlir_to_llvm_ir",
    "lowered_module",
    "memref_args",
    "compile_llvm_ir",
    "compile_mlir_parts",
    "DEFAULT_MLIR_PIPELINE",
    "import_stubs_ir",
]

#: MLIR passes from linalg/scf/arith/math/memref on memrefs down to the LLVM dialect.
#: ``expand-strided-metadata`` must run before ``finalize-memref-to-llvm`` for subviews.
DEFAULT_MLIR_PIPELINE = (
    "builtin.module(convert-linalg-to-loops, expand-strided-metadata, lower-affine, "
    "convert-scf-to-cf, convert-math-to-llvm, finalize-memref-to-llvm, convert-to-llvm, "
    "reconcile-unrealized-casts)"
)


class CodegenError(RuntimeError):
    """MLIR parsing, an MLIR pass, LLVM parsing or JIT linking failed.

    The message holds the diagnostics of the failing stage; :attr:`source` the input text.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


# One MLIR context for the process: creating one costs ~10 ms (dialect loading).
# The bindings are not thread safe, so compiles are serialized by a lock.
_MLIR_LOCK = threading.RLock()
_MLIR_CONTEXT = None
_LLVM_INITIALIZED = False
_TARGET_MACHINES: dict[int, llvm.TargetMachine] = {}
_LLJIT = None
_LIBRARY_IDS = itertools.count()


def _mlir_context():
    global _MLIR_CONTEXT
    if _MLIR_CONTEXT is None:
        ir = import_binding("mlir.ir")
        with signals_deferred():  # it loads every dialect
            _MLIR_CONTEXT = ir.Context()
    return _MLIR_CONTEXT


def _llvm():  # noqa: ANN202 - the llvmlite.binding module
    """llvmlite's binding, imported on first use (it costs ~30 ms; a cache hit never needs it)."""
    return import_binding("llvmlite.binding")


def _init_llvm() -> None:
    global _LLVM_INITIALIZED
    if not _LLVM_INITIALIZED:
        llvm = _llvm()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        _LLVM_INITIALIZED = True


def host_target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A cached llvmlite TargetMachine for this CPU (name and features: AVX2, FMA, ...).

    Without the host features LLVM targets baseline x86-64 and nothing vectorizes wider than SSE2.
    """
    with _MLIR_LOCK:
        _init_llvm()
        tm = _TARGET_MACHINES.get(opt_level)
        if tm is None:
            llvm = _llvm()
            target = llvm.Target.from_default_triple()
            # Position-independent code with the small code model: the same object links in the
            # JIT and into a shared library (see the module docstring).
            tm = target.create_target_machine(
                cpu=llvm.get_host_cpu_name(),
                features=llvm.get_host_cpu_features().flatten(),
                opt=opt_level,
                reloc="pic",
                codemodel="default",
                jit=True,
            )
            _TARGET_MACHINES[opt_level] = tm
        return tm


def _lljit():
    global _LLJIT
    if _LLJIT is None:
        # JITLink, not RuntimeDyld: RuntimeDyld maps an object's code and constants separately,
        # and in a large process (JAX and PyTorch loaded beside us) they can land more than 2 GiB
        # apart, beyond a 32-bit PC-relative reference, which aborts the process on an LLVM
        # assertion. JITLink places each object in one contiguous allocation and reaches far
        # symbols through stubs.
        _LLJIT = _llvm().create_lljit_compiler(host_target_machine(3), use_jit_link=True)
    return _LLJIT


@contextlib.contextmanager
def lowered_module(text: str, pipeline: str, *, limit: int | None = None) -> Iterator[tuple[Any, list[str]]]:
    """Parse MLIR text and run ``pipeline`` on it, holding the process's MLIR lock and context:
    the block gets the module and the diagnostics so far (both valid inside it only).

    Raises :class:`CodegenError` with MLIR's diagnostics when parsing or a pass fails; ``limit``
    cuts each diagnostic to that many characters (a note can print a whole module).
    """
    ir, passmanager = import_binding("mlir.ir"), import_binding("mlir.passmanager")

    def cut(line: str) -> str:
        return line if limit is None else line[:limit]

    with _MLIR_LOCK:
        ctx = _mlir_context()
        diagnostics: list[str] = []

        def collect(diagnostic) -> bool:
            diagnostics.append(cut(f"{diagnostic.location}: {diagnostic.message}"))
            for note in diagnostic.notes:
                diagnostics.append(cut(f"  note: {note.location}: {note.message}"))
            return True

        handler = ctx.attach_diagnostic_handler(collect)
        try:
            with ctx, ir.Location.unknown():
                try:
                    module = ir.Module.parse(text)
                except Exception as exc:  # MLIRError carries the diagnostics
                    raise CodegenError(f"MLIR parse error:\n{cut(str(exc))}\n" + "\n".join(diagnostics), text) from None
                try:
                    passmanager.PassManager.parse(pipeline).run(module.operation)
                except Exception as exc:
                    raise CodegenError(
                        f"MLIR lowering failed ({pipeline}):\n{cut(str(exc))}\n" + "\n".join(diagnostics), text
                    ) from None
                yield module, diagnostics
        finally:
            handler.detach()


@timed_phase("mlir_lowering")
def lower_mlir_to_llvm_ir(text: str, pipeline: str = DEFAULT_MLIR_PIPELINE) -> str:
    """Parse MLIR text, run ``pipeline`` and translate to LLVM IR text.

    Raises :class:`CodegenError` with MLIR's diagnostics when parsing or a pass fails.
    """
    mlir_llvm = import_binding("mlir.dialects.llvm")
    with lowered_module(text, pipeline) as (module, diagnostics):
        leftover = _non_llvm_ops(module)
        if leftover:
            # Translating a module with non-LLVM ops crashes the process; refuse instead.
            raise CodegenError(
                f"MLIR lowering failed ({pipeline}): ops left outside the LLVM dialect: "
                + ", ".join(sorted(leftover)),
                text,
            )
        try:
            return str(mlir_llvm.translate_module_to_llvmir(module.operation))
        except Exception as exc:
            raise CodegenError(
                f"translation to LLVM IR failed:\n{exc}\n" + "\n".join(diagnostics), text
            ) from None


def _non_llvm_ops(module) -> set[str]:
    from mlir import ir

    names: set[str] = set()

    def visit(op) -> object:
        name = op.name
        if not (name.startswith("llvm.") or name == "builtin.module"):
            names.add(name)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return names


def _optimize_llvm_ir(llvm_ir: str, opt_level: int) -> tuple[llvm.ModuleRef, llvm.TargetMachine]:
    llvm = _llvm()
    tm = host_target_machine(opt_level)
    try:
        module = llvm.parse_assembly(llvm_ir)
        module.verify()
    except RuntimeError as exc:
        raise CodegenError(f"LLVM IR does not parse or verify:\n{exc}", llvm_ir) from None
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    if opt_level > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        # Loop and SLP vectorization are what make elementwise kernels fast.
        pto.loop_vectorization = opt_level >= 2
        pto.slp_vectorization = opt_level >= 2
        pass_builder = llvm.create_pass_builder(tm, pto)
        pass_builder.getModulePassManager().run(module, pass_builder)
    return module, tm


@dataclass(frozen=True)
class _Linked:
    library: object  # llvmlite ResourceTracker: the code lives as long as it does
    addresses: dict[str, int]


def _link_object(object_code: bytes, exports: list[str], symbols: dict[str, int]) -> _Linked:
    with _MLIR_LOCK:
        builder = _llvm().JITLibraryBuilder()
        builder.add_object_img(object_code)
        for name, address in symbols.items():
            builder.import_symbol(name, address)
        # libm/libc symbols the LLVM backend may call (memcpy, memset, fmaf, ...).
        builder.add_current_process()
        for name in exports:
            builder.export_symbol(name)
        try:
            tracker = builder.link(_lljit(), f"tensorir_kernel_{next(_LIBRARY_IDS)}")
        except RuntimeError as exc:
            raise CodegenError(f"JIT linking failed: {exc}") from None
        addresses = {name: tracker[name] for name in exports}
        return _Linked(tracker, addresses)


def _defined_functions(module: llvm.ModuleRef) -> list[str]:
    return [f.name for f in module.functions if not f.is_declaration]


def _exported_functions(module: llvm.ModuleRef) -> list[str]:
    """Functions defined with external linkage: those an unoptimized module's object exports."""
    external = _llvm().Linkage.external
    return [f.name for f in module.functions if not f.is_declaration and f.linkage == external]


def _import_signatures(module: llvm.ModuleRef, symbols: dict[str, int]) -> dict[str, list]:
    """``{name: [return type, [parameter types]]}`` of the functions bound through ``symbols``."""
    out: dict[str, list] = {}
    for f in module.functions:
        if f.is_declaration and f.name in symbols:
            fn_type = f.global_value_type
            out[f.name] = [str(fn_type.get_function_return()), [str(t) for t in fn_type.get_function_parameters()]]
    return out


def import_stubs_ir(imports: dict[str, list]) -> str:
    """LLVM IR defining each imported function as a jump through a pointer variable.

    A shared library cannot take an address at link time the way the JIT does
    (``import_symbol``); instead ``name`` becomes a stub that tail-calls the pointer stored in
    the global ``__tensorir_import.name``, which the loader fills after ``dlopen``.
    """
    lines = []
    for name, (ret, params) in sorted(imports.items()):
        slot = f'@"__tensorir_import.{name}"'
        args = ", ".join(f"{t} %a{i}" for i, t in enumerate(params))
        lines.append(f"{slot} = global ptr null")
        lines.append(f'define {ret} @"{name}"({args}) {{')
        lines.append(f"  %f = load ptr, ptr {slot}")
        call = f"musttail call {ret} %f({args})"
        lines += [f"  {call}", "  ret void"] if ret == "void" else [f"  %r = {call}", f"  ret {ret} %r"]
        lines.append("}")
    return "\n".join(lines) + "\n"


def emit_object(llvm_ir: str, opt_level: int = 0) -> bytes:
    """Object code of (small, already optimized) LLVM IR for the host, e.g. :func:`import_stubs_ir`."""
    with _MLIR_LOCK:
        module, tm = _optimize_llvm_ir(llvm_ir, opt_level)
        return tm.emit_object(module)


class NativeModule:
    """Native code for one compiled module, loaded in this process.

    :meth:`address` gives the entry address of a function (wrap it with ``ctypes.CFUNCTYPE``).
    The machine code stays valid as long as this object lives. :attr:`object_code` is the
    relocatable object file; :meth:`from_object_code` loads it again, e.g. from a disk cache.
    """

    def __init__(
        self,
        object_code: bytes,
        function_names: list[str],
        symbols: dict[str, int] | None = None,
        llvm_ir: str | None = None,
        opt_level: int = 3,
    ) -> None:
        self.object_code = object_code
        self.function_names = list(function_names)
        self.symbols = dict(symbols or {})
        #: Optimized LLVM IR text (None when loaded from object code).
        self.llvm_ir = llvm_ir
        self.opt_level = opt_level
        #: Imported functions bound through ``symbols``: ``{name: [return type, [parameter types]]}``
        #: (filled by :func:`compile_llvm_ir`; what a shared library of this object needs stubs for).
        self.imports: dict[str, list] = {}
        self._linked = _link_object(object_code, self.function_names, self.symbols)

    @classmethod
    def from_object_code(
        cls, object_code: bytes, function_names: list[str], symbols: dict[str, int] | None = None
    ) -> NativeModule:
        """Load an object file produced by :func:`compile_mlir` (its :attr:`object_code`).

        ``function_names`` are the symbols to export (:attr:`function_names` of the original).
        """
        return cls(bytes(object_code), function_names, symbols)

    def address(self, name: str) -> int:
        """Entry address of the function ``name``."""
        try:
            return self._linked.addresses[name]
        except KeyError:
            raise KeyError(f"no function {name!r} in module; have {sorted(self._linked.addresses)}") from None

    def assembly(self) -> str:
        """Native assembly of the optimized module (for tests that check vectorization)."""
        if self.llvm_ir is None:
            raise CodegenError("assembly is only available for modules compiled from IR, "
                               "not for ones loaded from object code")
        with _MLIR_LOCK:
            tm = host_target_machine(self.opt_level)
            module = _llvm().parse_assembly(self.llvm_ir)
            return tm.emit_assembly(module)

    def __repr__(self) -> str:
        return f"NativeModule(functions={self.function_names}, {len(self.object_code)} bytes)"


@timed_phase("llvm")
def compile_llvm_ir(
    llvm_ir: str, *, opt_level: int = 3, symbols: dict[str, int] | None = None
) -> NativeModule:
    """Optimize LLVM IR text for the host CPU and JIT it (the second half of :func:`compile_mlir`)."""
    if opt_level not in (0, 1, 2, 3):
        raise ValueError(f"opt_level must be 0..3, got {opt_level}")
    with _MLIR_LOCK:
        module, tm = _optimize_llvm_ir(llvm_ir, opt_level)
        optimized = str(module)
        object_code = tm.emit_object(module)
        names = _defined_functions(module)
        imports = _import_signatures(module, symbols or {})
    native = NativeModule(object_code, names, symbols, llvm_ir=optimized, opt_level=opt_level)
    native.imports = imports
    return native


def compile_mlir(
    text: str,
    *,
    opt_level: int = 3,
    symbols: dict[str, int] | None = None,
    pipeline: str = DEFAULT_MLIR_PIPELINE,
) -> NativeModule:
    """Compile MLIR text (func/linalg/scf/arith/math/memref) to a loaded :class:`NativeModule`.

    ``opt_level`` is LLVM's (0-1 for quick compiles, 3 to vectorize); ``symbols`` maps names of
    external functions declared in the module (``func.func private @blas_sgemm(...)``) to
    addresses. Errors raise :class:`CodegenError` with the diagnostics.
    """
    llvm_ir = lower_mlir_to_llvm_ir(text, pipeline)
    return compile_llvm_ir(llvm_ir, opt_level=opt_level, symbols=symbols)


def memref_args(array) -> tuple[int, int, int, int, int]:
    """The five lowered arguments of a ``memref<?xT>`` for a 1-D contiguous NumPy array:
    (allocated pointer, aligned pointer, offset, size, stride)."""
    if array.ndim != 1 or not array.flags.c_contiguous:
        raise ValueError("memref_args expects a 1-D contiguous array")
    pointer = array.__array_interface__["data"][0]
    return (pointer, pointer, 0, array.shape[0], 1)


@timed_phase("llvm")
def compile_mlir_parts(
    texts: list[str],
    *,
    opt_level: int = 3,
    symbols: dict[str, int] | None = None,
    pipeline: str = DEFAULT_MLIR_PIPELINE,
) -> NativeModule:
    """Compile several MLIR modules (with distinct function names) into one :class:`NativeModule`.

    MLIR lowers the parts one after the other; LLVM optimizes and emits them at the same time,
    all but the first in child processes (:mod:`.parallel_llvm`, which must be available for
    more than one part), and their objects are joined into one. A part whose child fails is
    compiled in this process, which raises LLVM's diagnostics if it fails again.
    """
    if len(texts) == 1:
        return compile_mlir(texts[0], opt_level=opt_level, symbols=symbols, pipeline=pipeline)
    from tensorir.codegen.cpu import parallel_llvm

    target = _host_target()
    children = []
    for k, text in enumerate(texts[1:], 1):
        llvm_ir = lower_mlir_to_llvm_ir(text, pipeline)
        children.append((llvm_ir, parallel_llvm.start_child(llvm_ir, opt_level, target, parallel_llvm.part_suffix(k))))
    llvm_irs = [(lower_mlir_to_llvm_ir(texts[0], pipeline), None), *children]
    objects: list[bytes] = []
    renamed: list[bool] = []
    names: list[str] = []
    imports: dict[str, list] = {}
    for llvm_ir, child in llvm_irs:
        code = child.result() if child is not None else None
        renamed.append(code is not None)
        with _MLIR_LOCK:
            if code is None:
                module, tm = _optimize_llvm_ir(llvm_ir, opt_level)
                code = tm.emit_object(module)
            else:
                module = _llvm().parse_assembly(llvm_ir)
            objects.append(code)
            names += _exported_functions(module)
            imports.update(_import_signatures(module, symbols or {}))
    native = NativeModule(parallel_llvm.join_objects(objects, renamed), names, symbols, opt_level=opt_level)
    native.imports = imports
    return native


def _host_target():  # noqa: ANN202 - parallel_llvm.Target
    from tensorir.codegen.cpu.parallel_llvm import Target

    with _MLIR_LOCK:
        _init_llvm()
        llvm = _llvm()
        return Target(host_target_machine(3).triple, llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten())
