"""Choosing the executor of a compiled function."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from tensorir.dialects.ir import Operation
from tensorir.runtime.reference import ReferenceExecutor


@functools.cache
def native_available() -> bool:
    """Whether native kernels can run in this process (CPython's NumPy array layout, an LLVM JIT)."""
    from tensorir.runtime.native_kernels import array_layout_ok

    return array_layout_ok()


def make_executor(func: Operation, linker: str, opt_level: int = 3, cache_dir: str | None = "",
                  num_threads: int | None = None, native_loops: bool = True, native_calls: bool = True,
                  shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                  donations: Mapping[int, int] | None = None) -> Any:
    """An executor for ``func``: 'reference' (NumPy interpreter) or 'native' (machine code).

    ``cache_dir``: directory of the compile cache ('' for the default, see
    :func:`tensorir.runtime.compile_cache.default_cache_dir`; None for memory only).
    ``num_threads``: threads of native kernels (None: ``TENSORIR_NUM_THREADS`` or all cores).
    ``native_loops``: replay scan bodies natively (runtime/native_loop.py).
    ``native_calls``: replay a whole call as one native call (runtime/native_function.py).
    ``shape_hints``: likely shapes of arguments by index, to compile the kernels they choose
    ahead of the first call (runtime/shape_guess.py).
    ``donations``: result position -> argument position whose buffer that result may be written
    into (a shared variable's update, see runtime/donation.py).
    """
    if linker == "reference":
        return ReferenceExecutor(func)
    if linker == "native":
        if not native_available():
            return ReferenceExecutor(func)
        from tensorir.runtime.native import NativeExecutor

        return NativeExecutor(func, opt_level, cache_dir=cache_dir, num_threads=num_threads,
                              native_loops=native_loops, native_calls=native_calls, shape_hints=shape_hints,
                              donations=donations)
    raise ValueError(f"unknown linker {linker!r}; use 'native' or 'reference'")
