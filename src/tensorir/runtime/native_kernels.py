"""Loading native kernels for the steps of a native plan: compile (through the cache), wrap, run.

A :class:`KernelContext` is shared by the steps of one executor: the opt level, the compile
cache, the thread pool and the size above which a loop is split over threads. A
:class:`KernelSet` holds one step's compiled variants (flat, strided per rank, ...) by key,
compiling a variant the first time it is needed. Kernels are called through ``ctypes`` with
integer arguments only (array object addresses and sizes; see
:mod:`tensorir.codegen.cpu.lower_elementwise`), so a call costs about a microsecond and releases
the GIL, which lets the pool's threads run chunks in parallel.
"""

from __future__ import annotations

import ctypes
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ARRAY_LAYOUT
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.threadpool import ThreadPool

__all__ = ["KernelContext", "KernelSet", "array_layout_ok", "kernel_name"]

#: Below this many elements of work a kernel runs on the calling thread.
PARALLEL_MIN_WORK = 1 << 17

_I64 = ctypes.c_int64


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
    _modules: list[object] = field(default_factory=list)

    def load(self, text: str, name: str, n_args: int) -> Callable[..., None]:
        """The ``ctypes`` function ``name`` of ``text`` (compiled or taken from the cache)."""
        fn = self.preloaded.get(name)
        if fn is not None:
            return fn
        module = self.cache.get(text, self.opt_level)
        self._modules.append(module)  # the machine code lives as long as its module
        return ctypes.CFUNCTYPE(None, _I64, _I64, *([_I64] * n_args))(module.address(name))

    def load_many(self, kernels: dict[str, tuple[str, int]]) -> None:
        """Compile several kernels as one module (one MLIR and LLVM run) and keep them preloaded."""
        todo = {name: spec for name, spec in kernels.items() if name not in self.preloaded}
        if not todo:
            return
        names = sorted(todo)
        module = self.cache.get("".join(todo[name][0] for name in names), self.opt_level)
        self._modules.append(module)
        for name in names:
            self.preloaded[name] = ctypes.CFUNCTYPE(None, _I64, _I64, *([_I64] * todo[name][1]))(
                module.address(name))

    def run(self, fn: Callable[..., None], n: int, work: int, args: tuple[int, ...]) -> None:
        """``fn(start, end, *args)`` over ``[0, n)``: split over threads when ``work`` is big."""
        if n <= 0:
            return
        if n > 1 and work >= self.parallel_min_work and self.pool.num_threads > 1:
            self.pool.run(fn, n, args)
        else:
            fn(0, n, *args)


class KernelSet:
    """Compiled variants of one step's kernel, by variant key."""

    def __init__(self, context: KernelContext, make: Callable[[object], tuple[str, str, int]]) -> None:
        self.context = context
        #: make(variant) -> (name, MLIR text, number of i64 arguments after start/end)
        self.make = make
        self.variants: dict[object, Callable[..., None]] = {}

    def get(self, variant: object) -> Callable[..., None]:
        fn = self.variants.get(variant)
        if fn is None:
            name, text, n_args = self.make(variant)
            fn = self.variants[variant] = self.context.load(text, name, n_args)
        return fn

    def spec(self, variant: object) -> tuple[str, tuple[str, int]]:
        """(name, (text, n_args)) of a variant, for :meth:`KernelContext.load_many`."""
        name, text, n_args = self.make(variant)
        return name, (text, n_args)
