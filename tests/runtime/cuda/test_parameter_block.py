"""Launch parameter blocks: one pointer per 8-byte value, values rewritten in place (no device)."""

from __future__ import annotations

import ctypes

import pytest

from tensorir.runtime.cuda.parameters import PARAMETER_BYTES, ParameterBlock


def _through_pointers(block: ParameterBlock) -> list[int]:
    """What cuLaunchKernel reads: ``*kernelParams[i]`` as a u64."""
    pointers = (ctypes.c_uint64 * len(block)).from_address(block.address)
    return [ctypes.c_uint64.from_address(p).value for p in pointers]


def test_pointers_point_at_the_values() -> None:
    block = ParameterBlock(5)
    block.set([0x7F00_0000_1000, 0x7F00_0000_2000, 17, 0, 3])
    assert _through_pointers(block) == [0x7F00_0000_1000, 0x7F00_0000_2000, 17, 0, 3]
    assert [int(p) - int(block.pointers[0]) for p in block.pointers] == [i * PARAMETER_BYTES for i in range(5)]


def test_updates_are_in_place() -> None:
    block = ParameterBlock(3)
    address, values_at = block.address, block.values.ctypes.data
    block.set([1, 2, 3])
    block[1] = 42
    block.set([block[0], block[1], -1])  # a negative size is its two's complement
    assert block.address == address and block.values.ctypes.data == values_at
    assert _through_pointers(block) == [1, 42, 2**64 - 1]


def test_wrong_count_and_empty_blocks() -> None:
    with pytest.raises(ValueError, match="takes 2 parameters, got 3"):
        ParameterBlock(2).set([1, 2, 3])
    with pytest.raises(ValueError):
        ParameterBlock(-1)
    empty = ParameterBlock(0)
    assert len(empty) == 0 and empty.address != 0
