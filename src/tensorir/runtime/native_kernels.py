"""Loading native kernels for the steps of a native plan: compile (through the cache), wrap, run.

A :class:`KernelContext` is shared by the steps of one executor: the opt level, the compile
cache, the thread pool and the size above which a loop is split over threads. A
:class:`KernelSet` holds one step's compiled variants (flat, strided per rank, ...) by key,
compiling a variant the first time it is needed. Kernels are called through ``ctypes`` with
integer arguments only (array object addresses and sizes; see
:mod:`tensorir.codegen.cpu.lower_elementwise`), so a call costs well under a microsecond and
releases the GIL, which lets the pool's threads run chunks in parallel.

Kernel text may be given lazily, as a function of no arguments: the kernel's name (a hash of
every parameter of its text, see :func:`kernel_name`) then keys the compile cache, and a cache
hit never builds the text (nor imports the code generators' heavier parts).
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from tensorir.codegen.cpu import parallel_llvm
from tensorir.codegen.cpu.lower_elementwise import ARRAY_LAYOUT
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.threadpool import ThreadPool, default_thread_count

__all__ = ["RECORDING", "KernelContext", "KernelSet", "KernelText", "array_layout_ok", "function_address",
           "kernel_function", "kernel_name", "merge_kernel_texts", "python_work", "record_copy"]

#: Below this many elements of work a kernel runs on the calling thread.
PARALLEL_MIN_WORK = 1 << 17
#: Runs of a kernel on the calling thread timed before the pool may take it: above
#: PARALLEL_MIN_WORK the pool splits a kernel only where its own measured time (the least per
#: unit of work of these runs; the first may pay for cold caches) beats the pool's measured
#: wake-up (runtime/product_table.py). A kernel of a few hundred thousand cheap elements (an
#: ``exp`` of 200K floats: 26 us whole) lost to the wake-up split in two (68 us).
WHOLE_RUNS_TIMED = 2
#: Least work of a kernel that a loop's step splits with the loop helper (the helper spins
#: between a step's splits, so a hand-over costs well under a microsecond). Measured on the
#: development VM: a step of one 32 x 1024 elementwise kernel 21 -> 12 us; W6 (LSTM training
#: step) 28.8 -> 25.5 ms a call, the same from 1024 to 4096 elements, 27.4 ms from 16384.
LOOP_SPLIT_MIN_WORK = 1 << 12

#: Characters of MLIR per part below which kernels are not split for parallel compilation:
#: a child process costs ~15 ms to start, and 40,000 characters of kernels take ~0.15 s.
PART_MIN_CHARS = 40_000

#: The in-process part (the first) takes this many characters more than a child's: a child
#: starts after this process lowered its MLIR, and its tools (opt, llc, the symbol renaming)
#: start as processes of their own (about 0.1 s); LSTM's two parts finished 0.1 s apart.
IN_PROCESS_EXTRA_CHARS = 12_000

#: MLIR text of a kernel, or a function that builds it (see the module docstring).
KernelText = str | Callable[[], str]

# Arguments are declared ``void*``: ctypes converts an int to a pointer in half the time it takes
# for ``c_int64`` (0.4 vs 0.9 us for five arguments), and on the x86-64 and AArch64 C ABIs both
# travel in the same 64-bit registers, so the kernels' ``i64`` parameters read the same bits.
_ARG = ctypes.c_void_p


class _Recording(threading.local):
    """The recorder capturing this thread's native calls, or None (see runtime/native_loop.py).

    While a loop body's first step runs, every native call the steps make is appended to the
    recorder so the other steps can be replayed natively; a step that computes values in
    Python instead says so with :func:`python_work`, which makes the body unreplayable.
    """

    recorder = None


RECORDING = _Recording()


def python_work(reason: str) -> None:
    """Note that the running step computed values in Python (a recorded body cannot replay it)."""
    recorder = RECORDING.recorder
    if recorder is not None:
        recorder.invalidate(reason)


def record_copy(dst: np.ndarray, src: object) -> None:
    """Note that the running step copied ``src`` into ``dst`` with NumPy: a byte copy the
    recorder can replay when both are C-contiguous of one shape and dtype (else: Python work)."""
    recorder = RECORDING.recorder
    if recorder is None:
        return
    if (type(src) is np.ndarray and src.dtype == dst.dtype and src.shape == dst.shape
            and src.flags.c_contiguous and dst.flags.c_contiguous):
        recorder.copy(dst, src)
    else:
        recorder.invalidate("a broadcast copy")


def function_address(fn: Callable[..., object]) -> int:
    """The machine address of a ctypes function."""
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


def merge_kernel_texts(texts: Iterable[str]) -> str:
    """Several kernels' MLIR as one module's text. Kernels that call an external function (BLAS)
    each declare it; a module may declare a symbol once, so repeated declarations are dropped."""
    seen: set[str] = set()
    parts: list[str] = []
    for text in texts:
        for line in text.splitlines(keepends=True):
            if _is_declaration(line):
                if line in seen:
                    continue
                seen.add(line)
            parts.append(line)
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")
    return "".join(parts)


def kernel_parts(texts: list[str], cores: int) -> str | list[str]:
    """The kernels ``texts`` as one module's text, or, when they are big and there are cores to
    compile them at once, as the texts of up to ``cores`` modules of about equal size (see
    :func:`tensorir.codegen.cpu.jit.compile_mlir_parts`)."""
    parts = min(cores, sum(map(len, texts)) // PART_MIN_CHARS)
    if parts <= 1 or not parallel_llvm.available():
        return merge_kernel_texts(texts)
    groups: list[list[str]] = [[] for _ in range(parts)]
    sizes = [-IN_PROCESS_EXTRA_CHARS] + [0] * (parts - 1)
    for text in sorted(texts, key=len, reverse=True):  # biggest first, each to the lightest part
        k = sizes.index(min(sizes))
        groups[k].append(text)
        sizes[k] += len(text)
    return [merge_kernel_texts(group) for group in groups]


def _is_declaration(line: str) -> bool:
    """A top-level external function declaration (no body), e.g. ``llvm.func @sgemm(!llvm.ptr)``."""
    return (line.startswith("llvm.func @") or line.startswith("func.func private @")) and "{" not in line


def kernel_function(address: int, n_args: int) -> Callable[..., None]:
    """A ctypes callable for a range kernel ``void k(i64 start, i64 end, i64 a0, ...)``."""
    return ctypes.CFUNCTYPE(None, *([_ARG] * (n_args + 2)))(address)


def array_layout_ok() -> bool:
    """Whether this interpreter's NumPy array objects have the layout the kernels read."""
    try:
        a = np.arange(6, dtype=np.float64).reshape(2, 3)[:, ::2]
        base = id(a)
        data = ctypes.c_void_p.from_address(base + ARRAY_LAYOUT["data"]).value
        nd = ctypes.c_int.from_address(base + ARRAY_LAYOUT["nd"]).value
        dims = ctypes.cast(ctypes.c_void_p.from_address(base + ARRAY_LAYOUT["dimensions"]).value,
                           ctypes.POINTER(ctypes.c_int64))
        strides = ctypes.cast(ctypes.c_void_p.from_address(base + ARRAY_LAYOUT["strides"]).value,
                              ctypes.POINTER(ctypes.c_int64))
        return (data == a.__array_interface__["data"][0] and nd == 2 and (dims[0], dims[1]) == a.shape
                and (strides[0], strides[1]) == a.strides)
    except Exception:  # noqa: BLE001 - any surprise means: do not run native kernels here
        return False


def kernel_name(*parts: str) -> str:
    """A deterministic symbol for a kernel (the same text in every process, so the cache hits)."""
    return "k" + hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]


@dataclass
class KernelContext:
    """What the steps of one executor share."""

    opt_level: int
    cache: CompileCache
    pool: ThreadPool
    parallel_min_work: int = PARALLEL_MIN_WORK
    #: kernels compiled ahead of the first call, by name (see NativeExecutor.precompile).
    preloaded: dict[str, Callable[..., None]] = field(default_factory=dict)
    #: modules of the other functions compiled ahead (``n_args`` None: not range kernels, e.g.
    #: BLAS call kernels), by function name; the caller wraps ``module.address(name)`` itself.
    preloaded_modules: dict[str, object] = field(default_factory=dict)
    #: kernels several steps of this executor share (a dtype's broadcast copies, its in-place
    #: division), by (kind, dtype): kept here, not in a process-wide table keyed by the
    #: context's id, so they go with the executor
    shared_kernels: dict[tuple[str, str], object] = field(default_factory=dict)
    _modules: list[object] = field(default_factory=list)
    #: kernels run whole above PARALLEL_MIN_WORK: id -> [kernel, runs, least seconds per work]
    _whole_rates: dict[int, list] = field(default_factory=dict)

    def module(self, text: KernelText, name: str, symbols: dict[str, int] | None = None):  # noqa: ANN201
        """The loaded module holding the kernel ``name`` of ``text`` (compiled or from the cache).

        ``symbols`` binds functions the text declares, e.g. :func:`tensorir.runtime.blas.blas_symbols`.
        """
        if callable(text):
            module = self.cache.get_lazy(name, text, self.opt_level, symbols)
        else:
            module = self.cache.get(text, self.opt_level, symbols)
        if not any(m is module for m in self._modules):
            self._modules.append(module)  # the machine code lives as long as its module
        return module

    def load(self, text: KernelText, name: str, n_args: int,
             symbols: dict[str, int] | None = None) -> Callable[..., None]:
        """The ``ctypes`` function ``name`` of ``text`` (compiled or taken from the cache)."""
        fn = self.preloaded.get(name)
        if fn is not None:
            return fn
        return kernel_function(self.module(text, name, symbols).address(name), n_args)

    def load_many(self, kernels: dict[str, tuple[KernelText, int | None]],
                  symbols: dict[str, int] | None = None) -> None:
        """Compile several kernels as one module (one MLIR and LLVM run) and keep them preloaded:
        range kernels (``n_args`` an int) wrapped in :attr:`preloaded`, other functions'
        modules in :attr:`preloaded_modules`."""
        todo = {name: spec for name, spec in kernels.items()
                if name not in self.preloaded and name not in self.preloaded_modules}
        if not todo:
            return
        names = sorted(todo)
        texts = [todo[name][0] for name in names]
        if all(callable(t) for t in texts):
            # Names hash their texts: a cache hit builds no text.
            identity = "\n".join(names)
            make_texts = lambda: [t() for t in texts]  # type: ignore[misc]  # noqa: E731
        else:
            built = [t() if callable(t) else t for t in texts]
            identity = merge_kernel_texts(built)
            make_texts = lambda: built  # noqa: E731
        module = self.cache.get_lazy(identity, lambda: kernel_parts(make_texts(), default_thread_count()),
                                     self.opt_level, symbols)
        self._modules.append(module)
        for name in names:
            n_args = todo[name][1]
            if n_args is None:
                self.preloaded_modules[name] = module
            else:
                self.preloaded[name] = kernel_function(module.address(name), n_args)

    def _record_split(self, recorder, fn: Callable[..., None], n: int, args: tuple[int, ...]) -> bool:  # noqa: ANN001
        """Record ``fn`` over ``[0, n)`` as a ``split`` entry: two chunks (same values as the
        pool's two-way split), one for the calling thread and one for the loop helper, when the
        process may use two cores or more and the helper runs; whether it did."""
        module = _split_recorder()
        chunks = self.pool.chunks(n, most=module.SPLIT_WAYS)
        if (len(chunks) != module.SPLIT_WAYS or len(args) > module.SPLIT_KERNEL_ARGS
                or not isinstance(fn, ctypes._CFuncPtr)):
            return False
        helper = module.loop_helper(self.cache)
        if helper is None:
            return False
        recorder.split(fn, n, args, helper.address, mid=chunks[0][1])
        return True

    def run(self, fn: Callable[..., None], n: int, work: int, args: tuple[int, ...],
            owners: tuple[object, ...] = ()) -> None:
        """``fn(start, end, *args)`` over ``[0, n)``: split over threads when ``work`` is big.

        ``owners``: temporary objects whose addresses are in ``args`` (a view made for the call):
        a recorder keeps them alive for its replay.
        """
        if n <= 0:
            return
        recorder = RECORDING.recorder
        if recorder is not None:
            big = n > 1 and work >= self.parallel_min_work and self.pool.num_threads > 1
            if big and recorder.pool_calls:
                # A whole call's replay splits it with the loop helper inside the native call
                # where the helper covers every thread the pool would use; a bigger pool runs
                # it, in Python between native stretches.
                recorder.own(owners)
                if (self.pool.num_threads > _split_recorder().SPLIT_WAYS
                        or not self._record_split(recorder, fn, n, args)):
                    recorder.pool_call(self.pool, fn, n, args)
                self.pool.run(fn, n, args)
                return
            recorder.own(owners)
            # A kernel the pool would spread over more threads than the helper's split gives
            # is left to the pool (below: the loop stays on the plan).
            helper_enough = not big or self.pool.num_threads <= _split_recorder().SPLIT_WAYS
            if (not recorder.pool_calls and n > 1 and work >= LOOP_SPLIT_MIN_WORK and helper_enough
                    and self._record_split(recorder, fn, n, args)):
                # A loop's step: this thread and the loop helper, which spins between the
                # step's splits. The recorded step runs it whole here (same values).
                fn(0, n, *args)
                return
            if big:
                # A loop's replay without the helper runs on one thread, which would lose to
                # the pool on a big kernel: the loop stays on the plan.
                recorder.invalidate("a kernel big enough to split over threads")
            recorder.call(fn, (0, n, *args))
            fn(0, n, *args)
            return
        if n > 1 and work >= self.parallel_min_work and self.pool.num_threads > 1:
            if self._pool_pays(fn, work):
                self.pool.run(fn, n, args)
                return
            start = time.perf_counter()
            fn(0, n, *args)
            self._timed_whole(fn, work, time.perf_counter() - start)
            return
        fn(0, n, *args)

    def _pool_pays(self, fn: Callable[..., None], work: int) -> bool:
        """Whether splitting ``fn`` over ``work`` with the pool saves more than the wake-up of its
        workers costs: from ``fn``'s own time on this thread (WHOLE_RUNS_TIMED runs first)."""
        seen = self._whole_rates.get(id(fn))
        if seen is None or seen[1] < WHOLE_RUNS_TIMED:
            return False
        from tensorir.runtime.product_table import product_table

        threads = self.pool.num_threads
        return product_table(self, threads).split_pays_seconds(threads, seen[2] * work)

    def _timed_whole(self, fn: Callable[..., None], work: int, seconds: float) -> None:
        seen = self._whole_rates.get(id(fn))
        rate = seconds / work
        if seen is None:
            self._whole_rates[id(fn)] = [fn, 1, rate]  # keeps fn: its id is not reused
        else:
            seen[1] += 1
            seen[2] = min(seen[2], rate)


def _split_recorder():  # noqa: ANN202 - the loop helper's module (imported late: it imports this one)
    from tensorir.runtime import loop_helper

    return loop_helper


class KernelSet:
    """Compiled variants of one step's kernel, by variant key."""

    def __init__(self, context: KernelContext, make: Callable[[object], tuple[str, KernelText, int]]) -> None:
        self.context = context
        #: make(variant) -> (name, MLIR text or a function building it, number of i64 arguments
        #: after start/end)
        self.make = make
        self.variants: dict[object, Callable[..., None]] = {}

    def get(self, variant: object) -> Callable[..., None]:
        fn = self.variants.get(variant)
        if fn is None:
            name, text, n_args = self.make(variant)
            fn = self.variants[variant] = self.context.load(text, name, n_args)
        return fn

    def spec(self, variant: object) -> tuple[str, tuple[KernelText, int]]:
        """(name, (text, n_args)) of a variant, for :meth:`KernelContext.load_many`."""
        name, text, n_args = self.make(variant)
        return name, (text, n_args)
