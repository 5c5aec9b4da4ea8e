"""Building a tir module from code, without the Theano-style frontend.

    b = ModuleBuilder("affine")
    x = b.argument("x", "float32", (None, 3))
    w = b.argument("w", "float32", (3, 2))
    y = b.op("tir.dot", x, w)
    module = b.finish([b.op("tir.tanh", y)])

Ops are named as in the textual IR (``tir.add``); attributes are keywords. Types are inferred by
each op's declaration and checked when the op is made, so an error names the op at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import RETURN, make_func
from tensorir.dialects.ir import Module, Operation, Value
from tensorir.dialects.registry import OPS
from tensorir.dialects.types import TensorType

__all__ = ["ModuleBuilder", "op_names", "tensor_type"]


def tensor_type(dtype: str | np.dtype, shape: Sequence[int | None]) -> TensorType:
    """The tir type of arrays of ``dtype`` and ``shape`` (None: a dimension of any size)."""
    return TensorType(np.dtype(dtype).name, tuple(shape))


def op_names() -> list[str]:
    """Every op name a module may use."""
    return sorted(OPS)


class ModuleBuilder:
    """Builds one function (``name``) of a module: arguments first, then ops, then :meth:`finish`."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self._types: list[TensorType] = []
        self._names: list[str] = []
        self._func, self._block = make_func(name, [], [])
        self._builder = Builder(self._block, track_location=False)
        self._finished = False

    def argument(self, name: str, dtype: str | np.dtype, shape: Sequence[int | None]) -> Value:
        """A new argument of the function (in the order they are added)."""
        self._check_open()
        if not self._block.operations:
            return self._block.add_argument(tensor_type(dtype, shape), name)
        raise ValueError(f"argument {name!r}: add every argument before the first op")

    def op(self, name: str, *operands: Value, **attributes: Any) -> Any:
        """Add op ``name`` over ``operands``; its result (a tuple when it has several)."""
        self._check_open()
        if name not in OPS:
            raise ValueError(f"unknown op {name!r}; op_names() lists the {len(OPS)} known ops")
        return self._builder.op(name, *operands, **attributes)

    def constant(self, value: Any, dtype: str | None = None) -> Value:
        """A constant array (``tir.constant``)."""
        self._check_open()
        return self._builder.constant(value, dtype)

    def finish(self, results: Sequence[Value]) -> Module:
        """The module, with ``results`` as the function's results. The builder is then closed."""
        self._check_open()
        self._block.append(Operation(RETURN, list(results), []))
        self._finished = True
        module = Module([self._func])
        from tensorir.dialects.verifier import verify

        verify(module)
        return module

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError(f"ModuleBuilder {self.name!r} is finished; start a new one")
