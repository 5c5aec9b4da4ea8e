"""Choosing the executor of a compiled function."""

from __future__ import annotations

from typing import Any

from tensorir.dialects.ir import Operation
from tensorir.runtime.reference import ReferenceExecutor


def make_executor(func: Operation, linker: str, opt_level: int = 3) -> Any:
    """An executor for ``func``: 'reference' (NumPy interpreter) or 'native' (machine code)."""
    if linker == "reference":
        return ReferenceExecutor(func)
    if linker == "native":
        # The native CPU backend takes over here once it can lower every op of the function.
        return ReferenceExecutor(func)
    raise ValueError(f"unknown linker {linker!r}; use 'native' or 'reference'")
