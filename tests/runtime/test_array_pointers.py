"""Array data pointers (runtime/array_pointers.py): read, set, proxies, buffer swaps, patches."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.runtime.array_pointers import Patches, data_address, proxy_of, set_data, swap_out


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_data_address_is_numpys(dtype: str) -> None:
    a = np.arange(24).astype(dtype).reshape(4, 6)
    for view in (a, a[1:], a[:, 2:], a.T, a[::2, ::3]):
        assert data_address(view) == view.ctypes.data


def test_an_empty_array_has_an_address() -> None:
    e = np.empty(0)
    assert data_address(e) == e.ctypes.data


def test_a_proxy_reads_the_value_and_follows_set_data() -> None:
    x = np.arange(12.0).reshape(3, 4)
    y = x * 10
    p = proxy_of(x)
    assert p.shape == x.shape and p.strides == x.strides and p.dtype == x.dtype
    np.testing.assert_array_equal(p, x)
    assert not p.flags.writeable
    set_data(p, data_address(y))
    np.testing.assert_array_equal(p, y)


def test_a_writeable_proxy_writes_the_memory_it_points_at() -> None:
    x = np.zeros(5)
    p = proxy_of(x, writeable=True)
    p[:] = 3.0
    np.testing.assert_array_equal(x, 3.0)


def test_a_proxy_keeps_no_reference_to_its_value() -> None:
    import sys

    x = np.ones(8)
    before = sys.getrefcount(x)
    p = proxy_of(x)
    assert sys.getrefcount(x) == before and p.base is not x


def test_swap_out_hands_the_values_out_and_keeps_a_buffer_of_the_layout() -> None:
    recorded = np.arange(6.0).reshape(2, 3).copy()  # it must own its buffer
    assert recorded.flags.owndata
    address = data_address(recorded)
    out = swap_out(recorded)
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3))
    assert data_address(out) == address and data_address(recorded) != address
    recorded[...] = -1.0  # the next replay writes its own buffer
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3))
    del recorded, out  # each frees the other's buffer: no double free, no leak to see here


@pytest.mark.parametrize("count", [3, 40])  # written one by one, and by fancy indexing
def test_patches_write_each_anchor_address_plus_offset(count: int) -> None:
    table = np.zeros((count, 4), np.int64)
    arrays = [np.empty(4) for _ in range(5)]
    patches = Patches()
    for row in range(count):
        patches.add(row, 2, arrays[row % 5], 8 * (row % 3))
    patches.apply(table)
    for row in range(count):
        assert table[row, 2] == arrays[row % 5].ctypes.data + 8 * (row % 3)
    # An anchor whose buffer moved: the next apply writes its new address.
    moved = np.empty(4)
    own = data_address(arrays[0])
    set_data(arrays[0], data_address(moved))
    try:
        patches.apply(table)
        assert table[0, 2] == moved.ctypes.data
    finally:
        set_data(arrays[0], own)  # each array frees its own buffer again


def test_recorded_entries_are_plain_data() -> None:
    from tensorir.runtime.recording import CallKind, IslandCall, NativeCall, PoolCall, Recorder

    recorder = Recorder()
    recorder.pool_calls = True
    x = np.ones(3)
    recorder.copy(np.empty(3), x)
    recorder.island(len, (x,), (x,))
    kinds = [type(e) for e in recorder.entries]
    assert kinds == [NativeCall, IslandCall]
    call = recorder.entries[0]
    assert call.kind == 3 and call.args[2] == x.nbytes
    assert CallKind.THREADS == 110 and CallKind["GEMM"] == 100
    assert id(x) in recorder.pinned  # a copied value is never written over by a later step
    assert "IslandCall" in repr(recorder.entries[1]) and PoolCall.__dataclass_fields__.keys() == {
        "pool", "fn", "n", "args"}


def test_a_pointer_slot_moves_its_array() -> None:
    from tensorir.runtime.array_pointers import pointer_slot

    x, y = np.arange(4.0), np.arange(4.0) * 7
    p = proxy_of(x)
    slot = pointer_slot(p)
    assert slot.value == data_address(x)
    slot.value = data_address(y)
    np.testing.assert_array_equal(p, y)
