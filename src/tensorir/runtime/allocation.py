"""Keeping large freed buffers in the process so the next call does not page-fault them in.

Every call of a compiled function returns fresh output arrays. glibc serves a request above its
mmap threshold (at most 32 MiB, adjusted dynamically) with a new ``mmap`` and gives it back to the
kernel on ``free``; the next call's output of the same size is then a new mapping whose every
4 KiB page faults on first write. On a 10M-element float32 expression that zero-filling costs
about 3 ms of a 15 ms call (measured on the 2-core development machine), so native kernels
ran at page-fault speed rather than memory speed.

:func:`reuse_large_buffers` raises glibc's mmap and trim thresholds so freed large blocks stay in
the heap and are reused, as PyTorch's and XLA's caching allocators do for their own buffers. The
price is that the process's resident size stays at its peak instead of shrinking after a big
array is freed. It is process-wide, so it is a flag (``reuse_large_buffers``, on by default) and
is applied once, when the first native executor is made; it does nothing outside glibc.
"""

from __future__ import annotations

import ctypes
import functools

__all__ = ["reuse_large_buffers"]

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks up to this size come from the heap and are kept there once freed.
LARGE_BUFFER_LIMIT = 1 << 30


@functools.cache
def reuse_large_buffers(limit: int = LARGE_BUFFER_LIMIT) -> bool:
    """Ask glibc to keep freed blocks of up to ``limit`` bytes; True when it agreed."""
    try:
        # The process's own symbols include the C library's; find_library("c") would run
        # ldconfig in a subprocess (about 2 ms) to name the same library.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False  # not glibc: its allocator decides
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. Some glibc versions cap the mmap threshold (32 MiB on older
    # ones): try smaller limits down to that cap. The trim threshold keeps a freed block at the
    # heap's top from being given back.
    while limit >= 1 << 25:
        if mallopt(_M_MMAP_THRESHOLD, limit):
            return bool(mallopt(_M_TRIM_THRESHOLD, 2 * limit))
        limit //= 2
    return False
