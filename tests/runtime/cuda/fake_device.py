"""A device made of host memory, for testing what sits above the driver without a GPU: the
allocator's raw calls hand out addresses of NumPy buffers, and copies are NumPy copies."""

from __future__ import annotations

import ctypes

import numpy as np

from tensorir.runtime.cuda.allocator import Block, CachingAllocator


class HostBackedMemory:
    """A :class:`~tensorir.runtime.cuda.device_array.DeviceMemory` over host buffers."""

    ordinal = 0
    stream_handle = 7

    def __init__(self) -> None:
        self.buffers: dict[int, np.ndarray] = {}
        self.allocator = CachingAllocator(self._raw_alloc, self._raw_free)
        self.copies = 0

    def _raw_alloc(self, nbytes: int) -> int:
        buffer = np.zeros(nbytes, np.uint8)
        self.buffers[buffer.ctypes.data] = buffer
        return buffer.ctypes.data

    def _raw_free(self, address: int) -> None:
        del self.buffers[address]

    def allocate(self, nbytes: int) -> Block:
        return self.allocator.allocate(nbytes, self.stream_handle)

    def upload(self, address: int, host: np.ndarray) -> None:
        self.copies += 1
        ctypes.memmove(address, host.ctypes.data, host.nbytes)

    def download(self, host: np.ndarray, address: int) -> None:
        self.copies += 1
        ctypes.memmove(host.ctypes.data, address, host.nbytes)

    def copy(self, destination: int, source: int, nbytes: int) -> None:
        ctypes.memmove(destination, source, nbytes)

    def synchronize(self) -> None:
        pass
