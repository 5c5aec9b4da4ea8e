"""Tensor types of the tir IR: a dtype and a shape whose dims are static ints or dynamic (``None``).

The textual form is MLIR's builtin tensor type (``tensor<?x10xf32>``). Theano's ``broadcastable``
pattern is derived from the shape: a dim is broadcastable exactly when it is statically 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

# NumPy dtype name <-> MLIR element type. Booleans are i1 as in MLIR.
DTYPE_TO_MLIR: dict[str, str] = {
    "bool": "i1",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "ui8",
    "uint16": "ui16",
    "uint32": "ui32",
    "uint64": "ui64",
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
    "complex64": "complex<f32>",
    "complex128": "complex<f64>",
}
MLIR_TO_DTYPE: dict[str, str] = {v: k for k, v in DTYPE_TO_MLIR.items()}

FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
COMPLEX_DTYPES = frozenset({"complex64", "complex128"})
INT_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
DISCRETE_DTYPES = INT_DTYPES | {"bool"}
ALL_DTYPES = frozenset(DTYPE_TO_MLIR)

Dim = int | None


_DTYPE_NAMES: dict[object, str] = {}


def dtype_name(dtype: np.dtype) -> str:
    """``dtype.name``, cached (NumPy computes the name in Python on every access)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = normalize_dtype(dtype)
    return name


def normalize_dtype(dtype: object) -> str:
    """The canonical NumPy name of a dtype-like object; raises TypeError for unsupported ones."""
    if dtype in ALL_DTYPES:
        return dtype  # type: ignore[return-value]
    try:
        name = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError as exc:
        raise TypeError(f"{dtype!r} is not a dtype") from exc
    if name not in ALL_DTYPES:
        raise TypeError(f"dtype {name!r} is not supported by tensorir (supported: {sorted(ALL_DTYPES)})")
    return name


_INTEGER_TYPES = (int, np.integer)


class TensorType:
    """The type of a tensor value: element dtype and shape (each dim an int or None for dynamic)."""

    __slots__ = ("dtype", "shape", "_hash")

    def __init__(self, dtype: object, shape: Iterable[Dim] = ()) -> None:
        self.dtype: str = dtype if dtype in ALL_DTYPES else normalize_dtype(dtype)  # type: ignore[assignment]
        dims = tuple(shape)
        # Graph building and every rewrite make types: dims that are already plain ints (or None)
        # are kept as they are, and only other integers (NumPy's, bools) are converted.
        plain = True
        for d in dims:
            if d is None or (type(d) is int and d >= 0):
                continue
            if not isinstance(d, _INTEGER_TYPES) or d < 0:
                raise ValueError(f"invalid dimension {d!r} in shape {dims}: dims are ints >= 0 or None")
            plain = False
        self.shape: tuple[Dim, ...] = dims if plain else tuple(None if d is None else int(d) for d in dims)
        self._hash = hash((self.dtype, self.shape))

    @classmethod
    def from_broadcastable(cls, dtype: object, broadcastable: Sequence[bool]) -> TensorType:
        """Theano's constructor: broadcastable dims are static 1, the others dynamic."""
        return cls(dtype, tuple(1 if b else None for b in broadcastable))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(d == 1 for d in self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_discrete(self) -> bool:
        return self.dtype in DISCRETE_DTYPES

    @property
    def is_static(self) -> bool:
        return None not in self.shape

    def with_dtype(self, dtype: str) -> TensorType:
        return TensorType(dtype, self.shape)

    def with_shape(self, shape: Iterable[Dim]) -> TensorType:
        return TensorType(self.dtype, shape)

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        """Whether a concrete shape fits this type (same rank, static dims equal)."""
        if len(shape) != len(self.shape):
            return False
        return all(d is None or d == s for d, s in zip(self.shape, shape))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorType) and self.dtype == other.dtype and self.shape == other.shape
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return self.mlir()

    def mlir(self) -> str:
        """MLIR spelling: ``tensor<?x10xf32>``, ``tensor<f64>`` for a scalar."""
        dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        return f"tensor<{dims}{DTYPE_TO_MLIR[self.dtype]}>"


# -- dtype promotion -------------------------------------------------------------------------------

_FLOAT_UPGRADE = {
    # Theano's upgrade_to_float: small ints fit float32 exactly, wider ints need float64.
    "bool": "float32",
    "int8": "float32",
    "uint8": "float32",
    "int16": "float32",
    "uint16": "float32",
    "int32": "float64",
    "uint32": "float64",
    "int64": "float64",
    "uint64": "float64",
}


_UPCAST: dict[tuple[str, ...], str] = {}


def upcast(*dtypes: str) -> str:
    """NumPy's promotion of array dtypes (no value-based casting), memoized."""
    if len(dtypes) == 1:
        return dtypes[0]
    out = _UPCAST.get(dtypes)
    if out is None:
        out = _UPCAST[dtypes] = np.result_type(*[np.dtype(d) for d in dtypes]).name
    return out


def upgrade_to_float(dtype: str) -> str:
    """The float dtype a transcendental op computes in for an input dtype (Theano's rule)."""
    return _FLOAT_UPGRADE.get(dtype, dtype)


def broadcast_shapes(*shapes: Sequence[Dim], what: str = "operands") -> tuple[Dim, ...]:
    """Static broadcast of shapes with dynamic dims, following NumPy's rules.

    A dynamic dim against a static 1 stays dynamic; against a static n > 1 it becomes n (a run-time
    check catches a mismatch). Two different static sizes, neither 1, are an error.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for axis in range(ndim):
        dim: Dim = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if d == 1:
                continue
            if dim == 1:
                dim = d
            elif d is None:
                continue
            elif dim is None:
                dim = d
            elif dim != d:
                raise ValueError(
                    f"shapes of {what} cannot be broadcast together: "
                    + ", ".join(_shape_str(x) for x in shapes)
                    + f" (dim {axis}: {dim} vs {d})"
                )
        out.append(dim)
    return tuple(out)


def _shape_str(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_str(shape: Sequence[Dim]) -> str:
    """A shape as users read it: ``(?, 10)``."""
    return _shape_str(shape)
