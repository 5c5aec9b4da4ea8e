"""Device arrays over a host-backed memory: the CUDA array interface, DLPack capsules (read back
field by field, their deleters run), copies, and blocks returning to the allocator."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from tests.runtime.cuda.fake_device import HostBackedMemory

from tensorir.runtime.cuda.device_array import DeviceArray, c_strides
from tensorir.runtime.cuda.dlpack import KDL_CUDA, live_exports, read_capsule


@pytest.fixture
def memory() -> HostBackedMemory:
    return HostBackedMemory()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_round_trip(memory: HostBackedMemory, dtype: str) -> None:
    host = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    array = DeviceArray.from_host(host[:, ::-1], memory)  # any layout goes up C-contiguous
    assert array.shape == (2, 3, 4) and array.dtype == host.dtype and array.nbytes == host.nbytes
    np.testing.assert_array_equal(array.get(), host[:, ::-1])
    copy = array.copy()
    assert copy.address != array.address
    np.testing.assert_array_equal(copy.get(), host[:, ::-1])
    array.set(np.ones((2, 3, 4), dtype))
    np.testing.assert_array_equal(array.get(), np.ones((2, 3, 4), dtype))
    with pytest.raises(ValueError, match="shape"):
        array.set(np.ones(3, dtype))
    scalar = DeviceArray.from_host(np.asarray(3, dtype), memory)  # a 0-d array stays 0-d
    assert scalar.shape == () and scalar.get().shape == () and scalar.get() == np.asarray(3, dtype)


def test_cuda_array_interface(memory: HostBackedMemory) -> None:
    array = DeviceArray.from_host(np.zeros((3, 5), np.float32), memory)
    interface = array.__cuda_array_interface__
    assert interface == {"shape": (3, 5), "typestr": "<f4", "data": (array.address, False), "version": 3,
                         "strides": None, "stream": None}
    empty = DeviceArray.empty((0, 4), np.float64, memory)
    assert empty.__cuda_array_interface__["data"] == (0, False)
    assert empty.__cuda_array_interface__["typestr"] == "<f8"
    assert array.strides == c_strides((3, 5), 4) == (20, 4)


def test_dlpack_capsule_fields(memory: HostBackedMemory) -> None:
    array = DeviceArray.from_host(np.zeros((2, 7), np.float32), memory)
    assert array.__dlpack_device__() == (KDL_CUDA, 0)
    before = live_exports()
    capsule = array.__dlpack__()
    assert live_exports() == before + 1
    fields = read_capsule(capsule)
    assert fields == {"data": array.address, "device": (KDL_CUDA, 0), "ndim": 2, "dtype": (2, 32, 1),
                      "shape": (2, 7), "strides": None, "byte_offset": 0}
    ints = read_capsule(DeviceArray.from_host(np.zeros(3, np.int64), memory).__dlpack__())
    assert ints["dtype"] == (0, 64, 1)
    del capsule  # never consumed: the capsule's destructor calls the tensor's deleter
    gc.collect()
    assert live_exports() == before


def test_dlpack_keeps_the_array_alive_until_the_deleter(memory: HostBackedMemory) -> None:
    array = DeviceArray.from_host(np.arange(4, dtype=np.float64), memory)
    address = array.address
    capsule = array.__dlpack__()
    del array
    gc.collect()
    assert memory.allocator.stats.in_use > 0  # the capsule holds the block
    del capsule
    gc.collect()
    assert memory.allocator.stats.in_use == 0 and memory.allocator.stats.cached > 0
    again = DeviceArray.empty((4,), np.float64, memory)
    assert again.address == address  # the block came back from the cache


def test_dlpack_refuses_copies_and_other_devices(memory: HostBackedMemory) -> None:
    array = DeviceArray.from_host(np.zeros(2, np.float32), memory)
    with pytest.raises(BufferError, match="copy=True"):
        array.__dlpack__(copy=True)
    with pytest.raises(BufferError, match="cannot be exported"):
        array.__dlpack__(dl_device=(1, 0))
    assert read_capsule(array.__dlpack__(dl_device=(KDL_CUDA, 0), stream=None))["ndim"] == 1


def test_freed_arrays_return_their_blocks(memory: HostBackedMemory) -> None:
    arrays = [DeviceArray.empty((100,), np.float32, memory) for _ in range(3)]
    in_use = memory.allocator.stats.in_use
    del arrays
    gc.collect()
    assert memory.allocator.stats.in_use == 0 and memory.allocator.stats.cached == in_use
