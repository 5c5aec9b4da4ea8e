"""Arrays in GPU memory: what ``device=cuda`` functions take and give, and where GPU shared
variables keep their values.

A :class:`DeviceArray` is a shape, a dtype and a device address of C-contiguous elements (the
GPU kernels write their outputs C-contiguous; views are not made on the device yet), with the block
it lives in (returned to the caching allocator when the last array using it goes). Other
libraries read and write it in place through ``__cuda_array_interface__`` (version 3: CuPy,
Numba, PyTorch) and ``__dlpack__`` (PyTorch, JAX, CuPy; ``kDLCUDA``). ``get()`` copies it to a
new NumPy array. The copies go through a :class:`DeviceMemory` (the device's runtime), so this
module itself needs no driver.

Every function call synchronizes its stream before it returns (``runtime/cuda/executor.py``), so
an array handed out is ready: the interface's ``stream`` is None (no synchronization needed).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from tensorir.runtime.cuda.allocator import Block
from tensorir.runtime.cuda.dlpack import KDL_CUDA, make_capsule

__all__ = ["DeviceArray", "DeviceMemory", "c_strides"]


class DeviceMemory(Protocol):
    """What a device array needs of its device: allocations and copies on the device's stream."""

    ordinal: int
    stream_handle: int

    def allocate(self, nbytes: int) -> Block: ...

    def upload(self, address: int, host: np.ndarray) -> None:
        """Copy the C-contiguous ``host`` to ``address`` (ordered on the stream)."""

    def download(self, host: np.ndarray, address: int) -> None:
        """Copy to the C-contiguous ``host`` from ``address`` and wait for it."""

    def copy(self, destination: int, source: int, nbytes: int) -> None:
        """Device-to-device copy on the stream."""


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Byte strides of a C-contiguous array of ``shape``."""
    strides, step = [], itemsize
    for dim in reversed(shape):
        strides.append(step)
        step *= max(dim, 1)
    return tuple(reversed(strides))


def _contiguous(host: Any, dtype: Any) -> np.ndarray:  # noqa: ANN401
    """``host`` as a C-contiguous array of ``dtype`` (None: its own), of the same shape
    (``np.ascontiguousarray`` makes a 0-d array 1-d)."""
    return np.require(np.asarray(host, dtype=dtype), requirements="C")


class DeviceArray:
    """``shape`` elements of ``dtype`` at ``address`` on ``memory``'s device (module docstring)."""

    __slots__ = ("shape", "dtype", "address", "memory", "_block", "base", "__weakref__")

    def __init__(self, shape: tuple[int, ...], dtype: Any, memory: DeviceMemory, block: Block | None = None,  # noqa: ANN401
                 address: int | None = None, base: DeviceArray | None = None) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.memory = memory
        self._block = block
        #: The array whose memory this one views (kept alive by it), or None.
        self.base = base
        self.address = int(address if address is not None else (block.address if block is not None else 0))

    # -- making ---------------------------------------------------------------------------------
    @classmethod
    def empty(cls, shape: tuple[int, ...], dtype: Any, memory: DeviceMemory) -> DeviceArray:  # noqa: ANN401
        """A new C-contiguous array (its contents undefined)."""
        dtype = np.dtype(dtype)
        block = memory.allocate(math.prod(shape) * dtype.itemsize)
        return cls(shape, dtype, memory, block)

    @classmethod
    def from_host(cls, host: np.ndarray, memory: DeviceMemory) -> DeviceArray:
        """A device copy of ``host`` (any layout; copied C-contiguous)."""
        host = _contiguous(host, None)
        array = cls.empty(host.shape, host.dtype, memory)
        if host.nbytes:
            memory.upload(array.address, host)
        return array

    def view(self, shape: tuple[int, ...], offset: int = 0) -> DeviceArray:
        """A C-contiguous array of ``shape`` over this one's memory from element ``offset``."""
        if offset < 0 or offset + math.prod(shape) > self.size:
            raise ValueError(f"a view of shape {shape} at element {offset} does not fit in {self.shape}")
        return DeviceArray(shape, self.dtype, self.memory, address=self.address + offset * self.itemsize, base=self)

    def root(self) -> DeviceArray:
        """The array that owns the memory this one views (itself when it owns its memory)."""
        array = self
        while array.base is not None:
            array = array.base
        return array

    # -- what it is -----------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def strides(self) -> tuple[int, ...]:
        """Byte strides (always C-contiguous's)."""
        return c_strides(self.shape, self.itemsize)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, device=cuda{self.memory.ordinal})"

    # -- copies ---------------------------------------------------------------------------------
    def get(self) -> np.ndarray:
        """A new NumPy array holding this array's values."""
        host = np.empty(self.shape, self.dtype)
        if host.nbytes:
            self.memory.download(host, self.address)
        return host

    def copy(self) -> DeviceArray:
        """A new device array with the same values."""
        out = DeviceArray.empty(self.shape, self.dtype, self.memory)
        if self.nbytes:
            self.memory.copy(out.address, self.address, self.nbytes)
        return out

    def set(self, host: np.ndarray) -> None:
        """Overwrite this array with ``host``'s values, of the same shape."""
        host = _contiguous(host, self.dtype)
        if host.shape != self.shape:
            raise ValueError(f"cannot write values of shape {host.shape} into a device array of shape {self.shape}")
        if host.nbytes:
            self.memory.upload(self.address, host)

    # -- interchange ----------------------------------------------------------------------------
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """Version 3 of Numba's CUDA array interface (read and write: ``data``'s flag is False)."""
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.address if self.size else 0, False),
            "version": 3,
            "strides": None,  # C-contiguous
            "stream": None,  # ready: the call that made it synchronized its stream
        }

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CUDA, self.memory.ordinal)

    def __dlpack__(self, stream: Any = None, max_version: Any = None, dl_device: Any = None,  # noqa: ANN401
                   copy: bool | None = None) -> object:
        """A ``"dltensor"`` capsule sharing this array's memory (``stream``: none to wait for,
        the values are ready; ``copy=True`` and other devices are refused)."""
        if copy:
            raise BufferError("a DeviceArray exports its own memory only (copy=True is not supported)")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"a DeviceArray on cuda{self.memory.ordinal} cannot be exported to device {dl_device}")
        return make_capsule(self.address, self.__dlpack_device__(), self.shape, None, self.dtype, self)

    def __reduce__(self) -> tuple[Any, tuple[np.ndarray, int]]:
        # Pickled as its values (a shared variable's, in a pickled function): loading puts them
        # on the device of the same number.
        return (_unpickle, (self.get(), self.memory.ordinal))

    def __del__(self) -> None:
        block, self._block = getattr(self, "_block", None), None
        if block is not None:
            block.free()


def _unpickle(values: np.ndarray, ordinal: int) -> DeviceArray:
    """A pickled device array, uploaded to device ``ordinal`` (its upload finished)."""
    from tensorir.runtime.cuda.context import runtime_for

    memory = runtime_for(ordinal).default
    array = DeviceArray.from_host(values, memory)
    memory.synchronize()
    return array
