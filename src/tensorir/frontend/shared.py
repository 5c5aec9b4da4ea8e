"""Shared variables: named storage that functions read and update in place."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import FreeValue
from tensorir.dialects.types import TensorType as IRTensorType
from tensorir.dialects.types import normalize_dtype
from tensorir.frontend.config import config
from tensorir.frontend.variable import TensorVariable
from tensorir.runtime.arguments import converts_exactly, reject_masked
from tensorir.runtime.cuda.device_flag import parse_device, require_device, shared_on_device


class Container:
    """Holds a shared variable's current array (functions swap in new arrays atomically).

    ``lock`` is held by every call of a function that updates the variable, from reading the
    old values to writing the new ones, and by ``set_value``: increments from several threads,
    through one function or several, are never lost (README, "Threads").
    """

    __slots__ = ("value", "lock")

    def __init__(self, value: np.ndarray) -> None:
        self.value = value
        # Re-entrant: a thread holding it may call set_value.
        self.lock = threading.RLock()

    # A lock does not pickle: a loaded container gets a new one (it guards the loaded value only).
    def __getstate__(self) -> np.ndarray:
        return self.value

    def __setstate__(self, value: np.ndarray) -> None:
        self.__init__(value)


class SharedVariable(TensorVariable):
    """A variable with a value that persists across calls (``tensorir.shared``)."""

    __slots__ = ("container", "default_update", "strict", "allow_downcast")

    def __init__(self, value: np.ndarray, type_: IRTensorType, name: str | None, strict: bool,
                 allow_downcast: bool | None) -> None:
        super().__init__(FreeValue(type_, name))
        self.container = Container(value)
        self.default_update: TensorVariable | None = None
        self.strict = strict
        self.allow_downcast = allow_downcast

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value; a copy unless ``borrow=True`` (the copy is taken under the update
        lock, so it is never a half-written update)."""
        if borrow:
            return self.container.value
        with self.container.lock:
            value = self.container.value
            return value.get() if _is_device_array(value) else value.copy()

    def set_value(self, new_value: Any, borrow: bool = False) -> None:
        """Replace the value; its dtype must be storable in the variable's type and the rank equal."""
        if _is_device_array(new_value):
            new_value = new_value.get()
        value = self._filter(new_value, borrow)
        with self.container.lock:
            current = self.container.value
            if _is_device_array(current):
                # Uploaded into the variable's own device buffer where the shape allows.
                if current.shape == value.shape:
                    current.set(value)
                    current.memory.synchronize()
                else:
                    self.container.value = _upload(value, current.memory.ordinal)
            else:
                self.container.value = value

    def _filter(self, new_value: Any, borrow: bool) -> np.ndarray:
        t = self.value.type
        label = f"shared variable {self.name!r}" if self.name else "a shared variable"
        arr = np.asarray(reject_masked(new_value, label))
        if arr.ndim != t.ndim:
            raise TypeError(
                f"{label} has type {t} (rank {t.ndim}); cannot set a value of rank {arr.ndim} "
                f"with shape {arr.shape}"
            )
        if arr.dtype.name != t.dtype:
            if self.strict or not _can_store(new_value, arr, t.dtype, self.allow_downcast):
                raise TypeError(
                    f"{label} has dtype {t.dtype}; cannot set a value of dtype {arr.dtype.name} "
                    "(cast it explicitly)"
                )
            arr = arr.astype(t.dtype)
            borrow = True
        if not t.accepts_shape(arr.shape):
            raise ValueError(f"{label} has static shape {t.shape}; got a value of shape {arr.shape}")
        return arr if borrow else arr.copy()

    def zero(self, borrow: bool = False) -> None:
        value = self.container.value
        if _is_device_array(value):
            self.set_value(np.zeros(value.shape, value.dtype))
        else:
            self.container.value = np.zeros_like(value)

    def clone(self) -> SharedVariable:
        return shared(self.get_value(), name=self.name, strict=self.strict)

    def __repr__(self) -> str:
        return self.name or f"<SharedVariable {self.value.type}>"


def _is_device_array(value: Any) -> bool:
    from tensorir.runtime.cuda.device_array import DeviceArray

    return isinstance(value, DeviceArray)


def _upload(value: np.ndarray, ordinal: int) -> Any:
    """``value`` in the GPU memory of device ``ordinal`` (the upload finished)."""
    from tensorir.runtime.cuda.context import runtime_for
    from tensorir.runtime.cuda.device_array import DeviceArray

    memory = runtime_for(ordinal).default
    array = DeviceArray.from_host(value, memory)
    memory.synchronize()
    return array


def _can_store(original: Any, arr: np.ndarray, dtype: str, allow_downcast: bool | None) -> bool:
    """Theano's rule: safe casts; anything with ``allow_downcast``; and a Python number or list
    (not an ndarray) whose values convert exactly, so ``set_value(1.)`` on a float32 variable works."""
    if np.can_cast(arr.dtype, dtype, "safe") or allow_downcast:
        return True
    if isinstance(original, np.ndarray) or allow_downcast is not None:
        return False
    if isinstance(original, float) and dtype == config.floatX:
        return True
    return converts_exactly(arr, np.dtype(dtype))


def shared(
    value: Any,
    name: str | None = None,
    strict: bool = False,
    allow_downcast: bool | None = None,
    borrow: bool = False,
    broadcastable: Sequence[bool] | None = None,
    target: str = "cpu",
) -> SharedVariable:
    """``tensorir.shared(value, name=None, borrow=False)``: a variable with persistent storage.

    The type is fixed at creation: the value's dtype (a Python float is float64, an int int64,
    as in Theano) and rank, all dims dynamic unless ``broadcastable`` marks some as size 1.
    """
    if isinstance(value, TensorVariable):
        raise TypeError("shared() takes a value (a NumPy array or number), not a symbolic variable")
    if _is_device_array(value):
        value = value.get()
    if isinstance(value, bool):
        arr = np.asarray(value, dtype=bool)
    elif isinstance(value, int):
        arr = np.asarray(value, dtype=np.int64)
    elif isinstance(value, float):
        arr = np.asarray(value, dtype=np.float64)
    else:
        arr = np.asarray(reject_masked(value, f"shared variable {name!r}" if name else "shared()"))
    normalize_dtype(arr.dtype)
    if broadcastable is None:
        broadcastable = (False,) * arr.ndim
    if len(broadcastable) != arr.ndim:
        raise ValueError(f"broadcastable {tuple(broadcastable)} does not match the value's rank {arr.ndim}")
    for b, d in zip(broadcastable, arr.shape):
        if b and d != 1:
            raise ValueError(f"a broadcastable dim must have size 1; the value has shape {arr.shape}")
    type_ = IRTensorType(arr.dtype.name, tuple(1 if b else None for b in broadcastable))
    stored = arr if borrow and isinstance(value, np.ndarray) else arr.copy()
    device = parse_device(config.device)
    if shared_on_device(device, arr.dtype.name, arr.ndim):
        # Theano's rule: float and int arrays of rank >= 1 live in GPU memory under device=cuda.
        require_device(device)
        stored = _upload(stored, device.ordinal)
    return SharedVariable(stored, type_, name, strict, allow_downcast)
