"""The caching device allocator's bins, free lists and statistics, over an injected raw allocator."""

from __future__ import annotations

import pytest

from tensorir.runtime.cuda.allocator import (
    LARGE_GRANULE,
    LARGE_THRESHOLD,
    SMALL_GRANULE,
    CachingAllocator,
    OutOfDeviceMemory,
    bin_size,
)


class RawDevice:
    """Addresses from a counter; a capacity for out-of-memory tests."""

    def __init__(self, capacity: int = 1 << 40) -> None:
        self.capacity, self.used, self.next = capacity, 0, 1 << 20
        self.live: dict[int, int] = {}
        self.calls = 0

    def alloc(self, nbytes: int) -> int:
        self.calls += 1
        if self.used + nbytes > self.capacity:
            raise MemoryError("out of device memory")
        address, self.next = self.next, self.next + nbytes
        self.live[address] = nbytes
        self.used += nbytes
        return address

    def free(self, address: int) -> None:
        self.used -= self.live.pop(address)


@pytest.mark.parametrize(("request_bytes", "size"), [
    (0, SMALL_GRANULE), (1, SMALL_GRANULE), (SMALL_GRANULE, SMALL_GRANULE), (SMALL_GRANULE + 1, 2 * SMALL_GRANULE),
    (LARGE_THRESHOLD - 1, LARGE_THRESHOLD), (LARGE_THRESHOLD, LARGE_GRANULE), (LARGE_GRANULE + 1, 2 * LARGE_GRANULE),
])
def test_bins(request_bytes: int, size: int) -> None:
    assert bin_size(request_bytes) == size


def test_bins_cover_requests_and_are_aligned() -> None:
    for n in range(0, 5 * LARGE_GRANULE, 9973):
        size = bin_size(n)
        assert size >= n and size % 256 == 0
    with pytest.raises(ValueError, match="negative"):
        bin_size(-1)


def test_a_freed_block_is_reused_for_its_bin_and_stream_only() -> None:
    raw = RawDevice()
    allocator = CachingAllocator(raw.alloc, raw.free)
    a = allocator.allocate(1000, stream=1)
    address = a.address
    a.free()
    a.free()  # a second free does nothing
    assert allocator.stats.cached == a.size and allocator.stats.in_use == 0
    b = allocator.allocate(600, stream=2)  # same bin, another stream: a new block
    assert b.address != address and raw.calls == 2
    c = allocator.allocate(1024, stream=1)  # same bin, same stream: the cached block
    assert c.address == address and raw.calls == 2
    assert allocator.stats.hits == 1 and allocator.stats.misses == 2
    d = allocator.allocate(5000, stream=1)  # another bin
    assert d.address not in (address, b.address) and raw.calls == 3
    assert allocator.stats.in_use == b.size + c.size + d.size == allocator.stats.peak


def test_empty_cache_gives_blocks_back() -> None:
    raw = RawDevice()
    allocator = CachingAllocator(raw.alloc, raw.free)
    blocks = [allocator.allocate(n) for n in (10, 10, 3 << 20)]
    for block in blocks:
        block.free()
    assert raw.used == sum(b.size for b in blocks)
    assert allocator.empty_cache() == sum(b.size for b in blocks)
    assert raw.used == 0 and allocator.stats.cached == 0


def test_out_of_memory_flushes_the_cache_then_says_so() -> None:
    raw = RawDevice(capacity=4 * LARGE_GRANULE)
    allocator = CachingAllocator(raw.alloc, raw.free)
    big = allocator.allocate(3 * LARGE_GRANULE)
    big.free()  # cached: the device is still full
    other = allocator.allocate(2 * LARGE_GRANULE)  # fits only once the cache is emptied
    assert allocator.stats.flushes == 1 and raw.used == other.size
    with pytest.raises(OutOfDeviceMemory, match="no room for"):
        allocator.allocate(3 * LARGE_GRANULE)


def test_errors_other_than_out_of_memory_pass_through() -> None:
    def broken(nbytes: int) -> int:
        raise RuntimeError("driver gone")

    allocator = CachingAllocator(broken, lambda address: None)
    with pytest.raises(RuntimeError, match="driver gone"):
        allocator.allocate(10)
    assert allocator.stats.flushes == 0
