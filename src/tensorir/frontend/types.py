"""Theano's type constructors: ``TensorType(dtype, broadcastable)``, ``matrix``, ``fvector``, ...

A type called with a name gives a new symbolic input of that type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorir.dialects.types import TensorType as IRTensorType
from tensorir.dialects.types import normalize_dtype
from tensorir.frontend.config import config
from tensorir.frontend.variable import TensorVariable, free_variable


class TensorType(IRTensorType):
    """Theano's ``TensorType(dtype, broadcastable)``; ``shape=`` gives static sizes instead."""

    __slots__ = ()

    def __init__(
        self,
        dtype: Any = None,
        broadcastable: Sequence[bool] | None = None,
        name: str | None = None,
        shape: Sequence[int | None] | None = None,
    ) -> None:
        dtype = normalize_dtype(config.floatX if dtype is None else dtype)
        if shape is None:
            if broadcastable is None:
                raise TypeError("TensorType needs a broadcastable pattern or a shape")
            shape = tuple(1 if b else None for b in broadcastable)
        super().__init__(dtype, shape)

    @classmethod
    def of(cls, t: IRTensorType) -> TensorType:
        return cls(t.dtype, shape=t.shape)

    def __call__(self, name: str | None = None) -> TensorVariable:
        return free_variable(IRTensorType(self.dtype, self.shape), name)

    def make_variable(self, name: str | None = None) -> TensorVariable:
        return self(name)

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, shape={self.shape})"


def tensor(dtype: Any = None, broadcastable: Sequence[bool] | None = None, name: str | None = None,
           shape: Sequence[int | None] | None = None) -> TensorVariable:
    """``T.tensor(dtype, broadcastable, name)``."""
    if broadcastable is None and shape is None:
        raise TypeError("T.tensor needs a broadcastable pattern or a shape")
    return TensorType(dtype, broadcastable, shape=shape)(name)


def _maker(ndim_pattern: tuple[bool, ...], default_dtype: str | None) -> Any:
    def make(name: str | None = None, dtype: Any = None, shape: Sequence[int | None] | None = None) -> TensorVariable:
        dt = dtype if dtype is not None else (default_dtype or config.floatX)
        if shape is not None:
            if len(shape) != len(ndim_pattern):
                raise ValueError(f"shape {tuple(shape)} does not have rank {len(ndim_pattern)}")
            return TensorType(dt, shape=shape)(name)
        return TensorType(dt, ndim_pattern)(name)

    return make


_KINDS: dict[str, tuple[bool, ...]] = {
    "scalar": (),
    "vector": (False,),
    "matrix": (False, False),
    "row": (True, False),
    "col": (False, True),
    "tensor3": (False,) * 3,
    "tensor4": (False,) * 4,
    "tensor5": (False,) * 5,
    "tensor6": (False,) * 6,
    "tensor7": (False,) * 7,
}
_PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64",
             "c": "complex64", "z": "complex128"}


class FixedDtypeType(TensorType):
    """``T.dmatrix``, ``T.fvector`` and the other dtype-prefixed names: as in Theano, instances of
    ``TensorType`` (``x.type == T.dmatrix``, ``T.dscalar.dtype``) that give a variable when called
    with a name; tensorir's ``dtype=`` and ``shape=`` keywords are accepted too."""

    __slots__ = ()

    def __call__(self, name: str | None = None, dtype: Any = None,
                 shape: Sequence[int | None] | None = None) -> TensorVariable:
        if dtype is None and shape is None:
            return super().__call__(name)
        pattern = tuple(d == 1 for d in self.shape)
        return _maker(pattern, self.dtype)(name, dtype=dtype, shape=shape)


CONSTRUCTORS: dict[str, Any] = {}
for _kind, _pattern in _KINDS.items():
    CONSTRUCTORS[_kind] = _maker(_pattern, None)
    for _prefix, _dtype in _PREFIXES.items():
        CONSTRUCTORS[_prefix + _kind] = FixedDtypeType(_dtype, _pattern)


def _plural(single: Any) -> Any:
    def make(*names: Any, dtype: Any = None) -> list[TensorVariable]:
        if len(names) == 1 and isinstance(names[0], int):
            return [single(dtype=dtype) for _ in range(names[0])]
        if len(names) == 1 and isinstance(names[0], str | list | tuple):
            # Theano's quirk: matrices('xy') gives x and y (the string is split into characters).
            names = tuple(names[0])
        return [single(n, dtype=dtype) for n in names]

    return make


PLURALS: dict[str, Any] = {}
for _name, _fn in list(CONSTRUCTORS.items()):
    _pl = _name + ("es" if _name.endswith("x") else "s")
    if _name.endswith("matrix"):
        _pl = _name[: -len("matrix")] + "matrices"
    PLURALS[_pl] = _plural(_fn)
