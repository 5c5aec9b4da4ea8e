"""Operator overloading on IR values for writing gradient and rewrite rules as math.

``Ex(b, v)`` wraps a value and a builder; ``g * (1 - z * z)`` then builds ``tir.mul``/``tir.sub``
ops. Python numbers become scalar constants of the other operand's dtype, so a float32 rule stays
float32 (no silent upcast to float64).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Value


class Ex:
    __slots__ = ("b", "v")

    def __init__(self, b: Builder, v: Value) -> None:
        self.b = b
        self.v = v

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def type(self):  # noqa: ANN201 - TensorType
        return self.v.type

    @property
    def dtype(self) -> str:
        return self.v.type.dtype

    @property
    def ndim(self) -> int:
        return self.v.type.ndim

    def _lift(self, other: Any) -> Ex:
        if isinstance(other, Ex):
            return other
        if isinstance(other, Value):
            return Ex(self.b, other)
        dtype = self.dtype if self.dtype != "bool" else None
        return Ex(self.b, self.b.constant(np.asarray(other, dtype=dtype)))

    def op(self, name: str, *others: Any, **attrs: Any) -> Ex:
        operands = [self.v] + [self._lift(o).v for o in others]
        return Ex(self.b, self.b.op(name, *operands, **attrs))

    def _rop(self, name: str, other: Any) -> Ex:
        return self._lift(other).op(name, self)

    # -- arithmetic ----------------------------------------------------------------------------
    def __add__(self, o: Any) -> Ex:
        return self.op("tir.add", o)

    def __radd__(self, o: Any) -> Ex:
        return self._rop("tir.add", o)

    def __sub__(self, o: Any) -> Ex:
        return self.op("tir.sub", o)

    def __rsub__(self, o: Any) -> Ex:
        return self._rop("tir.sub", o)

    def __mul__(self, o: Any) -> Ex:
        return self.op("tir.mul", o)

    def __rmul__(self, o: Any) -> Ex:
        return self._rop("tir.mul", o)

    def __truediv__(self, o: Any) -> Ex:
        return self.op("tir.true_div", o)

    def __rtruediv__(self, o: Any) -> Ex:
        return self._rop("tir.true_div", o)

    def __pow__(self, o: Any) -> Ex:
        return self.op("tir.pow", o)

    def __neg__(self) -> Ex:
        return self.op("tir.neg")

    def exp(self) -> Ex:
        return self.op("tir.exp")

    def log(self) -> Ex:
        return self.op("tir.log")

    def sqrt(self) -> Ex:
        return self.op("tir.sqrt")

    def sign(self) -> Ex:
        return self.op("tir.sign")

    def sigmoid(self) -> Ex:
        return self.op("tir.sigmoid")

    def sin(self) -> Ex:
        return self.op("tir.sin")

    def cos(self) -> Ex:
        return self.op("tir.cos")

    def sinh(self) -> Ex:
        return self.op("tir.sinh")

    def cosh(self) -> Ex:
        return self.op("tir.cosh")

    def cast(self, dtype: str) -> Ex:
        if dtype == self.dtype:
            return self
        return self.op("tir.cast", dtype=dtype)

    def ge(self, o: Any) -> Ex:
        return self.op("tir.ge", o)

    def gt(self, o: Any) -> Ex:
        return self.op("tir.gt", o)

    def le(self, o: Any) -> Ex:
        return self.op("tir.le", o)

    def lt(self, o: Any) -> Ex:
        return self.op("tir.lt", o)

    def eq(self, o: Any) -> Ex:
        return self.op("tir.eq", o)

    def where(self, a: Any, b: Any) -> Ex:
        """``switch(self, a, b)``."""
        return self.op("tir.switch", a, b)

    def sum(self, axis: Sequence[int] | None = None, keepdims: bool = False) -> Ex:
        return self.op("tir.sum", axis=None if axis is None else tuple(axis), keepdims=keepdims)


def ex(b: Builder, *values: Value | None) -> tuple[Ex, ...]:
    """Wrap several values at once (None stays None)."""
    return tuple(None if v is None else Ex(b, v) for v in values)  # type: ignore[misc]
