"""A small persistent thread pool for native range kernels.

A compiled kernel has the signature ``(i64 start, i64 end, <args>)`` and processes the
iterations ``[start, end)``. :class:`ThreadPool` splits ``[0, n)`` into one contiguous chunk
per thread and calls the kernel on each chunk from its worker threads. Calls through a
``ctypes.CFUNCTYPE`` release the GIL, so the chunks run in parallel. Below
``min_chunk`` iterations per thread the call stays on the calling thread with no
synchronization at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from tensorir.runtime.core_share import CAP, default_thread_count, own_thread

__all__ = ["THREADS_VARIABLE", "ThreadPool", "default_thread_count", "environment_thread_count", "get_default_pool",
           "parse_thread_count"]


THREADS_VARIABLE = "TENSORIR_NUM_THREADS"


def parse_thread_count(text: str, source: str = THREADS_VARIABLE) -> int:
    """A thread count from text: a positive integer, or a ValueError naming ``source``."""
    try:
        count = int(str(text).strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{source}={text!r}: the number of kernel threads must be a positive integer "
                         f"(unset it to use every core this process may run on)")
    return count


def environment_thread_count() -> int | None:
    """``TENSORIR_NUM_THREADS`` checked (:func:`parse_thread_count`), or None when unset or empty."""
    text = os.environ.get(THREADS_VARIABLE)
    return parse_thread_count(text) if text else None


class ThreadPool:
    """Runs ``kernel(start, end, *args)`` over ``[0, n)`` in per-thread chunks.

    ``num_threads`` counts the calling thread, which takes the first chunk itself, so
    ``num_threads - 1`` workers are started (lazily, on the first parallel call). Chunks are
    at least ``min_chunk`` iterations; chunk boundaries are multiples of ``align`` so that
    vector loops keep whole vectors. A kernel exception (from a Python callable) is re-raised
    in the caller after every chunk has finished.
    """

    def __init__(self, num_threads: int | None = None, *, min_chunk: int = 32768, align: int = 64) -> None:
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = num_threads or default_thread_count()
        self.min_chunk = max(1, min_chunk)
        self.align = max(1, align)
        self._workers: list[threading.Thread] = []
        self._tasks: list[tuple | None] = []
        self._start_events: list[threading.Event] = []
        self._done = threading.Semaphore(0)
        self._errors: list[BaseException] = []
        self._call_lock = threading.Lock()  # one parallel call at a time
        self._closed = False

    # -- workers ---------------------------------------------------------------------------
    def _ensure_workers(self) -> None:
        while len(self._workers) < self.num_threads - 1:
            index = len(self._workers)
            event = threading.Event()
            self._start_events.append(event)
            self._tasks.append(None)
            worker = threading.Thread(target=self._work, args=(index,), name=f"tensorir-worker-{index}",
                                      daemon=True)
            self._workers.append(worker)
            worker.start()
            own_thread(worker.native_id)

    def _work(self, index: int) -> None:
        event = self._start_events[index]
        while True:
            event.wait()
            event.clear()
            task = self._tasks[index]
            if task is None:  # shutdown
                self._done.release()
                return
            kernel, start, end, args = task
            try:
                kernel(start, end, *args)
            except BaseException as exc:  # noqa: B036 - handed back to the caller
                self._errors.append(exc)
            finally:
                self._tasks[index] = None
                self._done.release()

    # -- splitting ---------------------------------------------------------------------------
    def chunks(self, n: int, most: int | None = None) -> list[tuple[int, int]]:
        """The ``(start, end)`` chunks that :meth:`run` would use for ``n`` iterations (at most
        ``most`` of them, for a split over fewer threads than the pool has)."""
        if n <= 0:
            return []
        # At most the threads other processes leave cores for (runtime/core_share.py).
        threads = min(self.num_threads if most is None else min(most, self.num_threads), int(CAP[0]))
        parts = min(threads, max(1, n // self.min_chunk))
        if parts == 1:
            return [(0, n)]
        size = -(-n // parts)
        size = -(-size // self.align) * self.align
        bounds = list(range(0, n, size)) + [n]
        return list(zip(bounds[:-1], bounds[1:]))

    def run(self, kernel: Callable[..., object], n: int, args: Sequence[object] = ()) -> None:
        """Call ``kernel(start, end, *args)`` on chunks covering ``[0, n)``; returns when all are done."""
        if self._closed:
            raise RuntimeError("ThreadPool is closed")
        chunks = self.chunks(n)
        if len(chunks) <= 1:
            if chunks:
                kernel(0, n, *args)
            return
        with self._call_lock:
            self._ensure_workers()
            self._errors.clear()
            for index, (start, end) in enumerate(chunks[1:]):
                self._tasks[index] = (kernel, start, end, args)
                self._start_events[index].set()
            caller_error: BaseException | None = None
            try:
                kernel(chunks[0][0], chunks[0][1], *args)
            except BaseException as exc:  # noqa: B036 - wait for the workers first
                caller_error = exc
            for _ in chunks[1:]:
                self._done.acquire()
            if caller_error is not None:
                raise caller_error
            if self._errors:
                raise self._errors[0]

    def close(self) -> None:
        """Stop the worker threads (they are daemons, so this is optional at exit)."""
        with self._call_lock:
            if self._closed:
                return
            self._closed = True
            for index, event in enumerate(self._start_events):
                self._tasks[index] = None
                event.set()
            for _ in self._workers:
                self._done.acquire()
            for worker in self._workers:
                worker.join()

    def __enter__(self) -> ThreadPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_DEFAULT_POOL: ThreadPool | None = None
_DEFAULT_LOCK = threading.Lock()


def get_default_pool() -> ThreadPool:
    """The process-wide pool (thread count from the CPU affinity, or ``TENSORIR_NUM_THREADS``)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = ThreadPool(environment_thread_count())
        return _DEFAULT_POOL
