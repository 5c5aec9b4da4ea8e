"""Launch parameter blocks: the ``void **kernelParams`` of ``cuLaunchKernel``, built once per
kernel and updated in place per call.

``cuLaunchKernel`` reads parameter ``i`` through ``kernelParams[i]``, a pointer to its value.
Every parameter of our kernels is 8 bytes (a device address or an ``i64`` size, see
``codegen/gpu/kernel_builder.py``), so a block is one array of 8-byte values and one array of
pointers into it. Building those arrays costs about 57 us for 17 parameters; rewriting the
values in place about 0.7 us (``gpu_facts.md``), so a compiled function builds each kernel's
block once and a call only writes its values. A pure data structure: no driver is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PARAMETER_BYTES", "ParameterBlock"]

#: The size of every kernel parameter (``.param .u64``).
PARAMETER_BYTES = 8


class ParameterBlock:
    """``count`` 8-byte kernel parameters and the pointer array ``cuLaunchKernel`` takes.

    The block owns both arrays: they live as long as it does, and their addresses never change,
    so :attr:`address` can be recorded once (e.g. in a CUDA graph or a replay table).
    """

    def __init__(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"a kernel has no negative number of parameters ({count})")
        # uint64 holds device addresses and (two's complement) sizes alike.
        self.values = np.zeros(max(count, 1), dtype=np.uint64)[:count]
        base = self.values.ctypes.data
        self.pointers = np.arange(count, dtype=np.uint64) * np.uint64(PARAMETER_BYTES) + np.uint64(base)
        # An empty pointer array still needs an address: cuLaunchKernel may read none of it.
        self._pointer_storage = self.pointers if count else np.zeros(1, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def address(self) -> int:
        """The address of the pointer array (``kernelParams``)."""
        return int(self._pointer_storage.ctypes.data)

    def set(self, values: Sequence[int]) -> None:
        """Write every parameter in place: device addresses and sizes as Python ints."""
        if len(values) != len(self.values):
            raise ValueError(f"the kernel takes {len(self.values)} parameters, got {len(values)}")
        for i, value in enumerate(values):
            self.values[i] = value & 0xFFFF_FFFF_FFFF_FFFF  # negative sizes as two's complement

    def __setitem__(self, index: int, value: int) -> None:
        self.values[index] = value & 0xFFFF_FFFF_FFFF_FFFF

    def __getitem__(self, index: int) -> int:
        return int(self.values[index])
