"""One CUDA device in the process: its caching allocator, streams, pinned staging and the copies
between host and device (the :class:`~tensorir.runtime.cuda.device_array.DeviceMemory` of its
arrays).

A :class:`CudaRuntime` is made once per device number (:func:`runtime_for`). Each compiled
function takes its own :class:`StreamMemory` (one stream per function, as the issue asks): its
kernels, copies and allocations are ordered on that stream, and a call synchronizes it before
returning, so arrays a call hands out are ready and blocks freed during a call are safely reused
by the next work on the same stream.

Uploads go through pinned staging: the host array is copied into page-locked memory and the
device copy is queued asynchronously from there (a pageable source makes the driver stage it
through a bounce buffer of its own, synchronously). The staging buffer is a bump region reset
at the start of each call; when it is full the stream is synchronized and it starts again.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from tensorir.runtime.cuda.allocator import Block, CachingAllocator
from tensorir.runtime.cuda.driver import CudaError, Device, check, require_driver

__all__ = ["CudaRuntime", "StreamMemory", "runtime_for"]

#: Smallest pinned staging buffer, in bytes; it grows to the largest call's uploads.
_STAGING_BYTES = 1 << 20
_STAGING_ALIGN = 256


class CudaRuntime:
    """A device with its primary context, allocator and default stream memory."""

    def __init__(self, ordinal: int) -> None:
        self.driver = require_driver()
        self.device = Device.open(ordinal)
        self.ordinal = ordinal
        self.allocator = CachingAllocator(self._raw_alloc, self._raw_free,
                                          lambda exc: isinstance(exc, CudaError) and "OUT_OF_MEMORY" in str(exc))
        #: Memory for arrays made outside any function (shared variables, ``DeviceArray.from_host``).
        self.default = self.stream_memory()

    def make_current(self) -> None:
        check(self.driver.cuCtxSetCurrent(self.device.context), "cuCtxSetCurrent")

    def _raw_alloc(self, nbytes: int) -> int:
        self.make_current()
        return int(check(self.driver.cuMemAlloc(nbytes), f"cuMemAlloc({nbytes})"))

    def _raw_free(self, address: int) -> None:
        self.make_current()
        check(self.driver.cuMemFree(self.driver.CUdeviceptr(address)), "cuMemFree")

    def stream_memory(self) -> StreamMemory:
        """A new stream with its own staging buffer."""
        self.make_current()
        flags = int(self.driver.CUstream_flags.CU_STREAM_NON_BLOCKING)
        stream = check(self.driver.cuStreamCreate(flags), "cuStreamCreate")
        return StreamMemory(self, stream)


class StreamMemory:
    """Allocations and copies ordered on one stream (the ``DeviceMemory`` of device arrays)."""

    def __init__(self, runtime: CudaRuntime, stream: Any) -> None:  # noqa: ANN401 - a CUstream
        self.runtime = runtime
        self.driver = runtime.driver
        self.ordinal = runtime.ordinal
        self.stream = stream
        self.stream_handle = int(stream)
        self._staging: np.ndarray | None = None
        self._staging_address = 0
        self._staged = 0
        self.lock = threading.Lock()

    def _pointer(self, address: int) -> Any:  # noqa: ANN401 - a CUdeviceptr
        """A device address as the bindings' pointer type (their calls take it, not a bare int)."""
        return self.driver.CUdeviceptr(address)

    # -- DeviceMemory ---------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> Block:
        return self.runtime.allocator.allocate(nbytes, self.stream_handle)

    def upload(self, address: int, host: np.ndarray) -> None:
        staged = self._stage(host)
        check(self.driver.cuMemcpyHtoDAsync(self._pointer(address), staged, host.nbytes, self.stream),
              "cuMemcpyHtoDAsync")

    def download(self, host: np.ndarray, address: int) -> None:
        check(self.driver.cuMemcpyDtoHAsync(host.ctypes.data, self._pointer(address), host.nbytes, self.stream),
              "cuMemcpyDtoHAsync")
        self.synchronize()

    def copy(self, destination: int, source: int, nbytes: int) -> None:
        check(self.driver.cuMemcpyDtoDAsync(self._pointer(destination), self._pointer(source), nbytes, self.stream),
              "cuMemcpyDtoDAsync")

    def fill_bytes(self, address: int, value: int, nbytes: int) -> None:
        """Set ``nbytes`` bytes at ``address`` to ``value`` (on the stream)."""
        check(self.driver.cuMemsetD8Async(self._pointer(address), value, nbytes, self.stream), "cuMemsetD8Async")

    # -- calls ------------------------------------------------------------------------------------
    def synchronize(self) -> None:
        """Wait for the stream's work; its errors (a failed kernel) raise here."""
        check(self.driver.cuStreamSynchronize(self.stream), "cuStreamSynchronize")
        self._staged = 0

    def _stage(self, host: np.ndarray) -> int:
        """The address of a pinned copy of ``host`` that stays untouched until the stream syncs."""
        size = -(-host.nbytes // _STAGING_ALIGN) * _STAGING_ALIGN
        capacity = 0 if self._staging is None else self._staging.nbytes
        if self._staged + size > capacity:
            self.synchronize()  # every queued copy from the staging buffer is done
            if size > capacity:
                self._grow(max(size, 2 * capacity, _STAGING_BYTES))
        assert self._staging is not None
        offset = self._staged
        view = self._staging[offset:offset + host.nbytes]
        view[...] = host.reshape(-1).view(np.uint8)
        self._staged += size
        return self._staging_address + offset

    def _grow(self, nbytes: int) -> None:
        if self._staging is not None:
            check(self.driver.cuMemFreeHost(self._staging_address), "cuMemFreeHost")
            self._staging = None
        address = int(check(self.driver.cuMemHostAlloc(nbytes, 0), f"cuMemHostAlloc({nbytes})"))
        self._staging_address = address
        self._staging = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(address))


_RUNTIMES: dict[int, CudaRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(ordinal: int) -> CudaRuntime:
    """The process's :class:`CudaRuntime` of device ``ordinal`` (opened on first use)."""
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(ordinal)
        if runtime is None:
            runtime = _RUNTIMES[ordinal] = CudaRuntime(ordinal)
        return runtime
