"""``theano.compile``: ``function``, ``In``, ``Out``, ``Mode`` and the mode helpers, on tensorir's.

Theano chose a mode as a *linker* (how the graph runs) and an *optimizer* (which rewrites run);
tensorir has an executor and an optimization level, so both tables below map Theano's names
onto those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorir.frontend.function import In, Param
from tensorir.frontend.function import function as tensorir_function
from tensorir.frontend.modes import PREDEFINED, get_mode
from tensorir.frontend.modes import Mode as TensorirMode

# Theano linker -> tensorir executor. Theano's 'py' linker ran each op's Python ``perform``: the
# NumPy reference executor is the same idea; every C/VM linker is native code here.
LINKERS: dict[str | None, str] = {
    None: "native",
    "cvm": "native",
    "vm": "native",
    "c": "native",
    "c|py": "native",
    "c|py_nogc": "native",
    "cvm_nogc": "native",
    "vm_nogc": "native",
    "py": "reference",
}

# Theano optimizer -> tensorir optimization level ('o1'..'o4' are Theano's aliases).
OPTIMIZERS: dict[str | None, str | None] = {
    "default": "fast_run",
    "fast_run": "fast_run",
    "o4": "fast_run",
    "o3": "fast_run",
    "o2": "fast_run",
    "unsafe": "fast_run",
    "stabilize": "fast_run",
    "fast_compile": "fast_compile",
    "o1": "fast_compile",
    "merge": "fast_compile",
    "None": None,
    None: None,
}


def _lookup(table: dict[Any, Any], key: Any, what: str) -> Any:
    if key not in table:
        known = ", ".join(repr(k) for k in table if k is not None)
        raise ValueError(f"Theano {what} {key!r} has no tensorir counterpart; use one of {known}")
    return table[key]


class Mode(TensorirMode):
    """``Mode(linker=None, optimizer='default')`` in Theano's argument order, as a tensorir mode."""

    def __init__(self, linker: str | None = None, optimizer: str | None = "default") -> None:
        if isinstance(linker, TensorirMode):  # Mode(other_mode) copies, as Theano allowed
            optimizer, executor, name = linker.optimizer, linker.linker, linker.name
        else:
            executor = _lookup(LINKERS, linker, "linker")
            optimizer = _lookup(OPTIMIZERS, optimizer, "optimizer")
            name = "Mode"
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "linker", executor)
        object.__setattr__(self, "name", name)


def mode_name_for(linker: str | None, optimizer: str | None) -> str:
    """The predefined tensorir mode closest to Theano's ``Mode(linker, optimizer)``."""
    executor = _lookup(LINKERS, linker, "linker")
    level = _lookup(OPTIMIZERS, optimizer, "optimizer")
    for name, mode in PREDEFINED.items():
        if mode.linker == executor and mode.optimizer == level:
            return name
    # No predefined mode has both: the rewrites decide what a program computes (optimizer=None is
    # asked for to see the graph as written), so keep the level and take its executor.
    return next(name for name, mode in PREDEFINED.items() if mode.optimizer == level)


def get_default_mode() -> TensorirMode:
    """The mode ``function`` uses when none is given (from ``config.mode``)."""
    return get_mode(None)


def _as_mode(mode: Any) -> Any:
    if isinstance(mode, str):
        if mode == "ProfileMode":
            raise ValueError("ProfileMode was removed in Theano 0.9; use function(..., profile=True)")
        from tensorir.theano_compat.config import MODE_NAMES

        name = MODE_NAMES.get(mode, mode)
        return get_default_mode() if name == "Mode" else name
    return mode


class Out:
    """``Out(variable, borrow=False)``: an output with options (tensorir always returns fresh arrays)."""

    def __init__(self, variable: Any, borrow: bool = False) -> None:
        self.variable = variable
        self.borrow = borrow


def _unwrap_outputs(outputs: Any) -> Any:
    if isinstance(outputs, Out):
        return outputs.variable
    if isinstance(outputs, list | tuple):
        return type(outputs)(o.variable if isinstance(o, Out) else o for o in outputs)
    return outputs


def function(inputs: Sequence[Any], outputs: Any = None, mode: Any = None, **kwargs: Any) -> Any:
    """``theano.function``: tensorir's ``function`` taking Theano's mode names and ``Out`` outputs."""
    return tensorir_function(list(inputs), _unwrap_outputs(outputs), mode=_as_mode(mode), **kwargs)


def pfunc(params: Sequence[Any], outputs: Any = None, mode: Any = None, **kwargs: Any) -> Any:
    """``theano.compile.pfunc``: the older name of ``function``."""
    return function(params, outputs, mode=mode, **kwargs)


predefined_modes = PREDEFINED
predefined_linkers = LINKERS
predefined_optimizers = OPTIMIZERS

__all__ = [
    "In",
    "Mode",
    "Out",
    "Param",
    "function",
    "get_default_mode",
    "get_mode",
    "mode_name_for",
    "pfunc",
    "predefined_linkers",
    "predefined_modes",
    "predefined_optimizers",
]
