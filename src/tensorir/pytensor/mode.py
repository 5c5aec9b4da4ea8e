"""``tensorir.pytensor.mode()``: a PyTensor ``Mode`` whose linker compiles with tensorir."""

from __future__ import annotations

from typing import Any

from pytensor.compile.mode import Mode, predefined_modes, register_mode
from pytensor.graph.rewriting.db import RewriteDatabaseQuery

from tensorir.pytensor.linker import TensorirLinker

__all__ = ["MODE_NAME", "mode", "register"]

#: The name ``register()`` gives the mode among PyTensor's predefined ones (``mode="TENSORIR"``).
MODE_NAME = "TENSORIR"


def mode(tensorir_mode: str = "FAST_RUN", warn_fallbacks: bool = False, optimizer: Any = None) -> Mode:
    """A PyTensor Mode: PyTensor's ``fast_run`` graph rewrites (less those tensorir does itself:
    fusion and BLAS), then tensorir's pipeline and native code.

    ``tensorir_mode``: tensorir's mode for the compiled pieces; ``warn_fallbacks``: warn when
    some nodes run PyTensor's implementation; ``optimizer``: another PyTensor rewrite query.
    """
    query = optimizer if optimizer is not None else RewriteDatabaseQuery(include=["fast_run"])
    return Mode(linker=TensorirLinker(tensorir_mode=tensorir_mode, warn_fallbacks=warn_fallbacks), optimizer=query)


def register() -> Mode:
    """Make ``"TENSORIR"`` a PyTensor mode name (``pytensor.config.mode = "TENSORIR"``); idempotent."""
    if MODE_NAME not in predefined_modes:
        register_mode(MODE_NAME, mode())
    return predefined_modes[MODE_NAME]
