"""DLPack export of device memory: the ``DLManagedTensor`` a ``__dlpack__`` capsule carries.

The structs are DLPack's (``dlpack.h``, the unversioned ``DLManagedTensor`` every consumer
reads: PyTorch, JAX, CuPy, NumPy). The capsule is named ``"dltensor"``; a consumer renames it
``"used_dltensor"`` and calls the tensor's deleter when done. A capsule never consumed calls the
deleter itself when it is destroyed. The deleter releases the reference that kept the exporting
array (and so its device block) alive. Pure ctypes: a capsule is made and read without a device.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

__all__ = ["CAPSULE_NAME", "DLDataType", "DLDevice", "DLManagedTensor", "DLTensor", "KDL_CPU", "KDL_CUDA",
           "dl_dtype", "live_exports", "make_capsule", "read_capsule"]

KDL_CPU = 1
KDL_CUDA = 2
CAPSULE_NAME = b"dltensor"
_USED_NAME = b"used_dltensor"

#: DLDataTypeCode per NumPy kind.
_TYPE_CODES = {"i": 0, "u": 1, "f": 2, "c": 5, "b": 6}


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]

# What each exported tensor keeps alive (the struct, its shape and strides, the exporter), by the
# struct's address, until its deleter runs.
_EXPORTS: dict[int, tuple[Any, ...]] = {}
_EXPORTS_LOCK = threading.Lock()


@_DELETER
def _delete(managed: Any) -> None:  # noqa: ANN401 - a ctypes pointer
    with _EXPORTS_LOCK:
        _EXPORTS.pop(ctypes.addressof(managed.contents), None)


# The destructor gets the capsule while it is being destroyed: as a raw pointer, never as a
# Python object (a reference taken then would destroy it a second time).
_CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_api = ctypes.PyDLL(None)  # the interpreter's C API, called with the GIL held
_capsule_new = _api.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _CAPSULE_DESTRUCTOR]
_capsule_pointer = _api.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_raw_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(("PyCapsule_IsValid", _api))
_raw_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(("PyCapsule_GetPointer", _api))


@_CAPSULE_DESTRUCTOR
def _destroy_capsule(capsule: int) -> None:
    # Only a capsule no consumer took still has its first name: its tensor is ours to delete.
    if _raw_is_valid(capsule, CAPSULE_NAME):
        managed = ctypes.cast(_raw_pointer(capsule, CAPSULE_NAME), ctypes.POINTER(DLManagedTensor))
        managed.contents.deleter(managed)


def dl_dtype(dtype: np.dtype) -> DLDataType:
    """DLPack's type of a NumPy dtype (bool is DLPack's 8-bit bool)."""
    dtype = np.dtype(dtype)
    code = _TYPE_CODES.get(dtype.kind)
    if code is None:
        raise TypeError(f"DLPack has no type for dtype {dtype}")
    return DLDataType(code, dtype.itemsize * 8, 1)


def make_capsule(data: int, device: tuple[int, int], shape: tuple[int, ...], strides: tuple[int, ...] | None,
                 dtype: np.dtype, owner: object) -> object:
    """A ``"dltensor"`` capsule for ``shape`` elements at ``data`` on ``device`` (``(type, id)``);
    ``strides`` in elements (None: C-contiguous); ``owner`` stays alive until the deleter runs."""
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_array = (ctypes.c_int64 * max(ndim, 1))(*strides) if strides is not None else None
    managed = DLManagedTensor()
    tensor = managed.dl_tensor
    tensor.data = data or None
    tensor.device = DLDevice(*device)
    tensor.ndim = ndim
    tensor.dtype = dl_dtype(dtype)
    tensor.shape = ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64))
    tensor.strides = (ctypes.cast(strides_array, ctypes.POINTER(ctypes.c_int64)) if strides_array is not None
                      else ctypes.POINTER(ctypes.c_int64)())
    tensor.byte_offset = 0
    managed.deleter = _delete
    address = ctypes.addressof(managed)
    with _EXPORTS_LOCK:
        _EXPORTS[address] = (managed, shape_array, strides_array, owner)
    return _capsule_new(address, CAPSULE_NAME, _destroy_capsule)


def read_capsule(capsule: object) -> dict[str, Any]:
    """The fields of an unconsumed ``"dltensor"`` capsule, as plain data (for tests and checks)."""
    address = _capsule_pointer(capsule, CAPSULE_NAME)
    tensor = ctypes.cast(address, ctypes.POINTER(DLManagedTensor)).contents.dl_tensor
    ndim = tensor.ndim
    return {"data": tensor.data or 0, "device": (tensor.device.device_type, tensor.device.device_id),
            "ndim": ndim, "dtype": (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes),
            "shape": tuple(tensor.shape[i] for i in range(ndim)),
            "strides": tuple(tensor.strides[i] for i in range(ndim)) if tensor.strides else None,
            "byte_offset": tensor.byte_offset}


def live_exports() -> int:
    """How many exported tensors no consumer has released yet (tests check that deleters run)."""
    with _EXPORTS_LOCK:
        return len(_EXPORTS)
