"""Checking and converting call arguments against a function's input types (Theano's rules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorir.dialects.types import FLOAT_DTYPES, TensorType
from tensorir.runtime.array_exchange import as_host_array


class InputError(TypeError):
    """A call argument that cannot be stored in the input's type."""


def reject_masked(value: Any, where: str) -> Any:
    """``value`` as plain data when it is not a masked array with masked elements; else an error.

    Compiled code reads an array's data only, so a mask would silently be dropped: masked
    elements would enter the computation with whatever values hide under them.
    """
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.is_masked(value):
            raise InputError(
                f"{where}: a masked array (numpy.ma) with {int(np.ma.count_masked(value))} masked element(s); "
                "tensorir does not honour masks. Fill them (value.filled(fill_value)) or pass value.data."
            )
        return np.ma.getdata(value)
    return value


def convert_argument(value: Any, type_: TensorType, name: str, index: int, allow_downcast: bool | None,
                     function_name: str | None = None) -> np.ndarray:
    """The argument as an array of the input's dtype, or a clear error naming the input.

    Safe casts always happen. Lossy casts need ``allow_downcast=True``; with the default None,
    Python floats (and lists of them) may still be stored in a float input, as in Theano.
    """
    where = f'input "{name}" (index {index})' + (f" of function {function_name!r}" if function_name else "")
    value = reject_masked(value, where)
    if isinstance(value, np.ndarray) and value.dtype.name == type_.dtype and value.ndim == type_.ndim:
        arr = value
    else:
        try:
            # DLPack producers (torch, jax): same memory, no copy (np.asarray could copy them).
            arr = as_host_array(value, "the value") if hasattr(type(value), "__dlpack__") else np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's bad input
            raise InputError(f"{where}: cannot convert {type(value).__name__} to an array: {exc}") from None
        if arr.dtype == object:
            raise InputError(f"{where}: cannot convert {type(value).__name__} {value!r} to a {type_.dtype} tensor")
        if arr.ndim != type_.ndim:
            raise InputError(
                f"{where}: wrong number of dimensions: expected {type_.ndim}, got {arr.ndim} with shape {arr.shape}"
            )
        if arr.dtype.name != type_.dtype:
            arr = _cast(arr, value, type_, where, allow_downcast)
    if not type_.accepts_shape(arr.shape):
        raise ValueError(f"{where}: shape {arr.shape} does not match the static shape {type_.shape} of its type")
    return arr


def _cast(arr: np.ndarray, original: Any, type_: TensorType, where: str, allow_downcast: bool | None) -> np.ndarray:
    target = np.dtype(type_.dtype)
    if np.can_cast(arr.dtype, target, "safe"):
        return arr.astype(target)
    python_floats = isinstance(original, float) or (
        isinstance(original, list | tuple) and arr.dtype.kind == "f" and not isinstance(original, np.ndarray)
    )
    if allow_downcast or (allow_downcast is None and python_floats and type_.dtype in FLOAT_DTYPES):
        return arr.astype(target)
    if not isinstance(original, np.ndarray) and converts_exactly(arr, target):
        return arr.astype(target)
    if arr.dtype.kind in "iu" and target.kind in "iu" and arr.size and not isinstance(original, np.ndarray):
        info = np.iinfo(target)
        if info.min <= arr.min() and arr.max() <= info.max:
            return arr.astype(target)
    raise InputError(
        f"{where}: a {type_.dtype} tensor cannot store a value of dtype {arr.dtype.name} without risking "
        f"loss of precision. Cast the data to {type_.dtype}, or pass allow_input_downcast=True to function()."
    )


def converts_exactly(arr: np.ndarray, target: np.dtype) -> bool:
    """Whether every value of ``arr`` survives conversion to ``target`` (Theano accepted Python
    numbers and lists into any type under this rule: ``[1, 2]`` into a float32 vector, ``1.5``
    into a float32 scalar, but not ``2**25 + 1``, nor an ndarray of another dtype)."""
    if arr.dtype.kind not in "biuf" or target.kind not in "biuf":
        return False
    with np.errstate(all="ignore"):
        converted = arr.astype(target)
        return bool(np.array_equal(arr, converted, equal_nan=arr.dtype.kind == "f" and target.kind == "f"))
