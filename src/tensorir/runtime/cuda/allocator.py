"""A caching device allocator: freed blocks go to free lists by size bin and stream, and the next
request of that bin on that stream takes one back instead of calling the driver.

``cuMemAlloc``/``cuMemFree`` synchronize and cost tens of microseconds; a training step frees and
allocates the same sizes every call, so after the first call every allocation is a list pop.

- **Bins**: a request is rounded up to a multiple of :data:`SMALL_GRANULE` below
  :data:`LARGE_THRESHOLD`, else to a multiple of :data:`LARGE_GRANULE` (few bins, little waste
  where it matters). Every block starts at the driver's alignment (256 bytes), so vector loads
  of 16 bytes are always aligned.
- **Streams**: a block freed by work on one stream is reused only on that stream: the stream's
  order makes the reuse safe without an event (one stream per function, see ``runtime/cuda``).
- **Out of memory**: when the raw allocator fails, every cached block is released and the
  request tried once more.

The raw allocator is injected (``raw_alloc(nbytes) -> address``, ``raw_free(address)``), so the
bin and list logic is tested without a device.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LARGE_GRANULE", "LARGE_THRESHOLD", "SMALL_GRANULE", "AllocatorStats", "Block", "CachingAllocator",
           "bin_size"]

SMALL_GRANULE = 512
LARGE_THRESHOLD = 1 << 20
LARGE_GRANULE = 2 << 20


def bin_size(nbytes: int) -> int:
    """The size of the block a request of ``nbytes`` gets (0 bytes get a smallest block: a
    device address must exist for an empty array's kernels too)."""
    if nbytes < 0:
        raise ValueError(f"cannot allocate a negative number of bytes ({nbytes})")
    granule = SMALL_GRANULE if nbytes < LARGE_THRESHOLD else LARGE_GRANULE
    return max(granule, -(-nbytes // granule) * granule)


@dataclass
class AllocatorStats:
    """Counters: requests served from the cache (``hits``) or the driver (``misses``), bytes in
    use and cached, the peak in use, and how often the cache was emptied to retry (``flushes``)."""

    hits: int = 0
    misses: int = 0
    in_use: int = 0
    cached: int = 0
    peak: int = 0
    flushes: int = 0


@dataclass(eq=False)
class Block:
    """A device allocation of ``size`` bytes at ``address``, last used on ``stream``."""

    address: int
    size: int
    stream: int
    allocator: CachingAllocator | None = field(default=None, repr=False)

    def free(self) -> None:
        """Give the block back to its allocator's cache (once; later calls do nothing)."""
        allocator, self.allocator = self.allocator, None
        if allocator is not None:
            allocator.release(self)


class OutOfDeviceMemory(MemoryError):
    """The device has no room for a request even after the cache was emptied."""


class CachingAllocator:
    """Device blocks by bin and stream (module docstring)."""

    def __init__(self, raw_alloc: Callable[[int], int], raw_free: Callable[[int], None],
                 is_out_of_memory: Callable[[BaseException], bool] = lambda exc: isinstance(exc, MemoryError)) -> None:
        self._raw_alloc, self._raw_free, self._is_oom = raw_alloc, raw_free, is_out_of_memory
        self._free: dict[tuple[int, int], list[Block]] = {}
        self._lock = threading.Lock()
        self.stats = AllocatorStats()

    def allocate(self, nbytes: int, stream: int = 0) -> Block:
        """A block of at least ``nbytes`` bytes for work on ``stream``."""
        size = bin_size(nbytes)
        with self._lock:
            blocks = self._free.get((size, stream))
            if blocks:
                block = blocks.pop()
                self.stats.hits += 1
                self.stats.cached -= size
                self._use(size)
                block.allocator = self
                return block
        address = self._raw(size)
        with self._lock:
            self.stats.misses += 1
            self._use(size)
        return Block(address, size, stream, self)

    def _use(self, size: int) -> None:
        self.stats.in_use += size
        self.stats.peak = max(self.stats.peak, self.stats.in_use)

    def _raw(self, size: int) -> int:
        try:
            return self._raw_alloc(size)
        except Exception as exc:
            if not self._is_oom(exc):
                raise
        self.empty_cache()
        self.stats.flushes += 1
        try:
            return self._raw_alloc(size)
        except Exception as exc:
            if not self._is_oom(exc):
                raise
            raise OutOfDeviceMemory(f"the GPU has no room for {size} bytes ({self.stats.in_use} bytes in use by "
                                    "tensorir): free device arrays or use smaller batches") from exc

    def release(self, block: Block) -> None:
        """Return ``block`` to the free list of its bin and stream (:meth:`Block.free` calls this)."""
        with self._lock:
            self._free.setdefault((block.size, block.stream), []).append(block)
            self.stats.in_use -= block.size
            self.stats.cached += block.size

    def empty_cache(self) -> int:
        """Give every cached block back to the driver; returns the bytes released."""
        with self._lock:
            blocks = [b for bucket in self._free.values() for b in bucket]
            self._free.clear()
            self.stats.cached = 0
        for block in blocks:
            self._raw_free(block.address)
        return sum(b.size for b in blocks)
