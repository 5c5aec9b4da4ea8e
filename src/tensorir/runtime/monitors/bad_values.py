"""Counting NaN, infinite and big elements of an array with the native guard kernel.

The kernel (codegen/cpu/lower_bad_values.py) reads a contiguous float buffer once and returns
three counts; it compiles through the compile cache like any kernel (once per element type and
machine). Arrays it cannot read as one buffer (a strided view) or of another float type
(float16, complex) are counted with NumPy; integer and boolean arrays hold no bad values.
"""

from __future__ import annotations

import ctypes
import threading
from typing import NamedTuple

import numpy as np

from tensorir.codegen.cpu.lower_bad_values import bad_values_kernel, bad_values_name
from tensorir.codegen.cpu.lower_elementwise import ARRAY_LAYOUT
from tensorir.runtime.compile_cache import get_cache

__all__ = ["BadValueCounter", "BadValueError", "BadCounts"]

_ELEMENT = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
#: The integer type whose bits are a float type's (to pass the threshold as an integer argument).
_BITS = {"f32": np.int32, "f64": np.int64}
_KERNEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class BadValueError(FloatingPointError):
    """The NaN/Inf guard found a value it was told to reject; the message names the op that made
    it, the user's line that built that op and, for a gradient op, the forward op it belongs to."""

    def __init__(self, message: str, op: object = None) -> None:
        super().__init__(message)
        self.op = op


class BadCounts(NamedTuple):
    nan: int
    inf: int
    big: int


class BadValueCounter:
    """Counts bad elements; ``big``: the magnitude above which a finite value counts as big."""

    def __init__(self, big: float = 1e10, cache_dir: str | None = "") -> None:
        self.big = big
        self.cache_dir = cache_dir
        self._kernels: dict[str, tuple[object, ctypes._CFuncPtr]] = {}
        self._counts = threading.local()

    def _kernel(self, element: str) -> ctypes._CFuncPtr:
        entry = self._kernels.get(element)
        if entry is None:
            name = bad_values_name(element)
            module = get_cache(self.cache_dir).get_lazy(name, lambda: bad_values_kernel(element), opt_level=3)
            entry = self._kernels[element] = (module, _KERNEL(module.address(name)))  # the module keeps the code
        return entry[1]

    def count(self, array: np.ndarray) -> BadCounts:
        """The counts of ``array``'s NaN, infinite and big elements."""
        kind = array.dtype.kind
        if kind not in "fc" or array.size == 0:
            return BadCounts(0, 0, 0)
        if kind == "c":
            array = np.stack([array.real, array.imag])
        element = _ELEMENT.get(array.dtype)
        if element is None or not (array.flags.c_contiguous or array.flags.f_contiguous):
            with np.errstate(over="ignore", invalid="ignore"):  # float16 cannot hold a big threshold
                big = np.abs(array).astype(np.float64) > self.big
            return BadCounts(int(np.isnan(array).sum()), int(np.isinf(array).sum()),
                             int((np.isfinite(array) & big).sum()))
        out = getattr(self._counts, "out", None)
        if out is None:
            out = self._counts.out = np.zeros(3, np.int64)
        threshold = np.asarray(min(self.big, float(np.finfo(array.dtype).max)), array.dtype)
        bits = int(threshold.view(_BITS[element]))
        data = ctypes.c_void_p.from_address(id(array) + ARRAY_LAYOUT["data"]).value  # cheaper than .ctypes
        self._kernel(element)(data, array.size, bits & 0xFFFFFFFFFFFFFFFF, out.ctypes.data)
        return BadCounts(int(out[0]), int(out[1]), int(out[2]))
