"""``theano.scalar``: the dtype helpers Theano programs call (``upcast`` and the dtype groups)."""

from __future__ import annotations

import numpy as np

from tensorir.frontend.config import config

float_types = ("float16", "float32", "float64")
int_types = ("int8", "int16", "int32", "int64")
uint_types = ("uint8", "uint16", "uint32", "uint64")
integer_types = int_types + uint_types
discrete_types = ("bool", *integer_types)
complex_types = ("complex64", "complex128")
continuous_types = float_types + complex_types
all_types = discrete_types + continuous_types


def upcast(dtype: str, *dtypes: str) -> str:
    """The dtype NumPy gives combining ``dtype`` and ``dtypes``, kept at float32 when floatX is
    float32 and none of them is float64 (Theano's rule: int64 + float32 stays float32)."""
    names = [str(np.dtype(d)) for d in (dtype, *dtypes)]
    result = np.result_type(*(np.zeros((), dtype=d) for d in names)).name
    if result == "float64" and config.floatX == "float32" and "float64" not in names:
        return "float32"
    return result


def upgrade_to_float(dtype: str) -> str:
    """``dtype`` if it is a float, else the float dtype that holds its values (floatX for small ints)."""
    name = str(np.dtype(dtype))
    if name in continuous_types:
        return name
    if name in ("bool", "int8", "uint8", "int16", "uint16"):
        return config.floatX
    return "float64"


__all__ = [
    "all_types",
    "complex_types",
    "continuous_types",
    "discrete_types",
    "float_types",
    "int_types",
    "integer_types",
    "uint_types",
    "upcast",
    "upgrade_to_float",
]
