"""Launch configurations from sizes and device limits (pure functions, no device)."""

from __future__ import annotations

import pytest

from tensorir.runtime.cuda.launch import TUNING, DeviceLimits, elementwise_launch, row_launch

H100 = DeviceLimits(multiprocessors=132)


def test_elementwise_small_sizes_get_just_enough_blocks() -> None:
    assert elementwise_launch(0, H100) is None
    config = elementwise_launch(1000, H100)
    assert config is not None and config.block == (256, 1, 1) and config.grid == (4, 1, 1)
    assert elementwise_launch(1000, H100, elements_per_thread=4).grid == (1, 1, 1)


def test_elementwise_large_sizes_are_capped_at_a_few_waves() -> None:
    config = elementwise_launch(2**28, H100)
    # 2048 threads per multiprocessor hold 8 blocks of 256; 132 of them, TUNING["waves"] times.
    assert config.grid == (132 * 8 * TUNING["waves"], 1, 1)
    assert config.threads < 2**28  # the grid-stride loop covers the rest


def test_row_blocks_are_whole_warps_no_longer_than_the_row() -> None:
    assert row_launch(0, 10, H100) is None
    assert row_launch(128, 10, H100).block == (32, 1, 1)
    assert row_launch(128, 100, H100).block == (128, 1, 1)
    assert row_launch(128, 4096, H100).block == (TUNING["row_block"], 1, 1)
    assert row_launch(128, 0, H100).block == (32, 1, 1)
    assert row_launch(128, 4096, H100).grid == (128, 1, 1)
    assert row_launch(32768, 4096, H100).grid[0] == 132 * 8 * TUNING["waves"]


def test_limits_of_a_small_device_are_respected() -> None:
    small = DeviceLimits(multiprocessors=2, max_threads_per_block=64, max_threads_per_multiprocessor=128, max_grid_x=3)
    assert elementwise_launch(10**6, small).block == (64, 1, 1)
    assert elementwise_launch(10**6, small).grid == (3, 1, 1)
    assert row_launch(100, 4096, small).block == (64, 1, 1)


def test_bad_sizes_are_errors() -> None:
    with pytest.raises(ValueError):
        elementwise_launch(-1, H100)
    with pytest.raises(ValueError):
        row_launch(1, -1, H100)
