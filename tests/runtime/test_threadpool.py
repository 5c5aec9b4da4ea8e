"""The thread pool splits a native range kernel over threads with the same result."""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

from tensorir.codegen.cpu import APPROXIMATIONS, compile_mlir, memref_args, range_kernel
from tensorir.runtime.threadpool import ThreadPool, default_thread_count

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_MEMREF = [_PTR, _PTR, _I64, _I64, _I64]


@pytest.fixture(scope="module")
def tanh_kernel():
    text = range_kernel("k", ["f32"], ["f32"], lambda e, v: [APPROXIMATIONS["tanh"](e, v[0], "f32")])
    module = compile_mlir(text)
    function = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * 2))(module.address("k"))
    return module, function


def test_threaded_matches_single_thread(tanh_kernel) -> None:
    _module, kernel = tanh_kernel
    n = 10_000_000
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    single = np.empty_like(x)
    threaded = np.empty_like(x)
    kernel(0, n, *memref_args(x), *memref_args(single))
    with ThreadPool(4, min_chunk=1000) as pool:  # more threads than cores is fine
        assert len(pool.chunks(n)) == 4
        pool.run(kernel, n, (*memref_args(x), *memref_args(threaded)))
    np.testing.assert_array_equal(single, threaded)


def test_chunks_cover_range_exactly() -> None:
    pool = ThreadPool(3, min_chunk=10, align=8)
    for n in (0, 1, 9, 10, 29, 30, 31, 1000, 1001):
        chunks = pool.chunks(n)
        covered = [i for start, end in chunks for i in range(start, end)]
        assert covered == list(range(n))
        assert all(start % 8 == 0 for start, _ in chunks)
        assert len(chunks) <= 3


def test_small_sizes_run_on_the_calling_thread() -> None:
    seen: list[tuple[int, int, str]] = []
    pool = ThreadPool(2, min_chunk=1000)
    pool.run(lambda s, e: seen.append((s, e, threading.current_thread().name)), 1500)
    assert seen == [(0, 1500, threading.current_thread().name)]
    assert pool._workers == []  # no thread was started


def test_python_kernel_errors_propagate_and_pool_survives() -> None:
    def kernel(start: int, end: int, out: list) -> None:
        if start > 0:
            raise ValueError("boom")
        out.append(end)

    with ThreadPool(2, min_chunk=1) as pool:
        with pytest.raises(ValueError, match="boom"):
            pool.run(kernel, 100, ([],))
        result: list[int] = []
        pool.run(lambda s, e, out: out.append((s, e)), 100, (result,))
        assert sorted(result) == [(0, 64), (64, 100)]


def test_default_thread_count() -> None:
    assert default_thread_count() >= 1
    with pytest.raises(ValueError):
        ThreadPool(0)


def test_the_pool_takes_a_kernel_only_where_its_measured_time_pays(tmp_path) -> None:  # noqa: ANN001
    """Above PARALLEL_MIN_WORK a kernel runs whole for its first WHOLE_RUNS_TIMED runs; then the
    pool splits it only if its time whole beats the pool's (measured) wake-up twice over."""
    import time

    from tensorir.runtime.compile_cache import CompileCache
    from tensorir.runtime.native_kernels import PARALLEL_MIN_WORK, WHOLE_RUNS_TIMED, KernelContext
    from tensorir.runtime.product_table import ProductTable, use_product_table

    pool = ThreadPool(2, min_chunk=1, align=1)
    context = KernelContext(3, CompileCache(tmp_path), pool)

    def runs(wake: float) -> list[tuple[int, int]]:
        calls: list[tuple[int, int]] = []

        def kernel(start: int, end: int) -> None:  # about 2 ms whole
            calls.append((start, end))
            time.sleep(0.002 * (end - start) / 1000)

        with use_product_table(ProductTable(wake_seconds=wake)):
            for _ in range(WHOLE_RUNS_TIMED + 2):
                context.run(kernel, 1000, PARALLEL_MIN_WORK, ())
        return calls

    try:
        assert runs(wake=1.0) == [(0, 1000)] * (WHOLE_RUNS_TIMED + 2)  # a wake-up dearer than the kernel
        split = runs(wake=1e-6)
        assert split[:WHOLE_RUNS_TIMED] == [(0, 1000)] * WHOLE_RUNS_TIMED
        assert sorted(split[WHOLE_RUNS_TIMED:]) == [(0, 500), (0, 500), (500, 1000), (500, 1000)]
    finally:
        pool.close()
