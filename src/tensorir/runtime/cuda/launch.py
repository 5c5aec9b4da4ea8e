"""Launch configurations: grid and block sizes from a kernel family, the problem's sizes and the
device's limits. Pure functions of plain data, so they are tested without a device.

Grid-stride kernels (elementwise, columns) cover any size with any grid, so their grid is capped
at a few waves of resident blocks: more blocks than the device can hold at once only add
scheduling. Row kernels (rows reductions, the softmax family) take one block per row, up to the
same cap; their block must be a whole number of warps (the block reduction needs it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TUNING", "DeviceLimits", "LaunchConfig", "elementwise_launch", "row_launch"]

#: Block sizes and the grid cap. Not measured yet (no GPU was lent when they were chosen): the
#: usual starting points, to be replaced by what ``benchmarks/gpu.py`` measures on a device.
TUNING = {
    "elementwise_block": 256,  # threads per block of the grid-stride kernels
    "row_block": 256,  # the most threads per block of a row kernel (fewer for short rows)
    "waves": 4,  # the grid cap, in full loads of resident blocks
}
WARP = 32


@dataclass(frozen=True)
class DeviceLimits:
    """What the launch configuration needs to know of a device (``cuDeviceGetAttribute``)."""

    multiprocessors: int
    max_threads_per_block: int = 1024
    max_threads_per_multiprocessor: int = 2048
    max_grid_x: int = 2**31 - 1


@dataclass(frozen=True)
class LaunchConfig:
    """``cuLaunchKernel``'s grid and block dimensions and dynamic shared memory."""

    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared_bytes: int = 0

    @property
    def threads(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2] * self.block[0] * self.block[1] * self.block[2]


def _grid_cap(limits: DeviceLimits, block: int) -> int:
    resident = max(1, limits.max_threads_per_multiprocessor // block) * limits.multiprocessors
    return max(1, min(limits.max_grid_x, resident * TUNING["waves"]))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def elementwise_launch(n: int, limits: DeviceLimits, elements_per_thread: int = 1) -> LaunchConfig | None:
    """A grid-stride kernel over ``n`` items (``elements_per_thread`` per iteration, e.g. the
    vector kernel's lanes); None when there is nothing to do (launch nothing)."""
    if n < 0 or elements_per_thread < 1:
        raise ValueError(f"bad sizes: n={n}, elements_per_thread={elements_per_thread}")
    if n == 0:
        return None
    block = min(TUNING["elementwise_block"], limits.max_threads_per_block)
    blocks = _ceil_div(_ceil_div(n, elements_per_thread), block)
    return LaunchConfig((min(blocks, _grid_cap(limits, block)), 1, 1), (block, 1, 1))


def row_launch(rows: int, cols: int, limits: DeviceLimits) -> LaunchConfig | None:
    """A block-per-row kernel over ``rows`` rows of ``cols`` elements: a whole number of warps, no
    more than the row needs (a short row leaves threads idle otherwise); None for no rows."""
    if rows < 0 or cols < 0:
        raise ValueError(f"bad sizes: rows={rows}, cols={cols}")
    if rows == 0:
        return None
    most = min(TUNING["row_block"], limits.max_threads_per_block) // WARP * WARP
    block = max(WARP, min(most, _ceil_div(max(cols, 1), WARP) * WARP))
    return LaunchConfig((min(rows, _grid_cap(limits, block)), 1, 1), (block, 1, 1))
