"""tensorir as a PyTensor backend (the ``[pytensor]`` extra): ``pytensor.function(inputs, outputs,
mode=tensorir.pytensor.mode())`` converts the FunctionGraph to tir op by op (op_table.py,
scalar_table.py), compiles it with tensorir and falls back to PyTensor's implementation per node
where a node does not convert (``fallbacks(fn)`` says which and why)."""

from __future__ import annotations

from typing import Any

from tensorir.pytensor.linker import Fallback, FallbackWarning, TensorirLinker
from tensorir.pytensor.mode import MODE_NAME, mode, register
from tensorir.pytensor.op_table import LEFT_TO_PYTENSOR, OPS
from tensorir.pytensor.scalar_table import SCALAR_OPS, NotConvertible

__all__ = ["LEFT_TO_PYTENSOR", "MODE_NAME", "OPS", "SCALAR_OPS", "Fallback", "FallbackWarning", "NotConvertible",
           "TensorirLinker", "fallbacks", "mode", "register"]


def fallbacks(function: Any) -> list[Fallback]:
    """The nodes of a compiled ``pytensor.function`` that PyTensor runs instead of tensorir."""
    linker = function.maker.linker
    if not isinstance(linker, TensorirLinker):
        raise TypeError(f"{function} was not compiled with tensorir.pytensor.mode() (its linker is "
                        f"{type(linker).__name__})")
    return list(linker.fallbacks)
