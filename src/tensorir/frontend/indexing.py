"""``x[key]``, ``set_subtensor``/``inc_subtensor``, ``take`` and ``nonzero`` with NumPy's semantics.

``getitem`` turns a Python key into one tir indexing op: ``tir.subtensor`` for ints and slices
(static or symbolic bounds), ``tir.advanced_subtensor`` when index arrays or boolean masks appear.
``None``/``newaxis`` inserts a broadcastable axis into the input first (a dimshuffle) and takes it
whole, which is the same as NumPy's rule for both kinds of indexing; ``Ellipsis`` is expanded.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.tir.indexing import RUNTIME, format_index
from tensorir.dialects.types import INT_DTYPES
from tensorir.frontend.variable import (
    GraphError,
    TensorVariable,
    apply_values,
    as_tensor_variable,
)

__all__ = [
    "advanced_inc_subtensor",
    "advanced_set_subtensor",
    "flatnonzero",
    "inc_subtensor",
    "nonzero",
    "nonzero_values",
    "set_subtensor",
    "take",
]

_READS = ("tir.subtensor", "tir.advanced_subtensor")
# An input made by ``getitem`` to insert newaxis dims -> (the user's tensor, the dimshuffle that
# drops them again): a write through ``x[None, i]`` writes into ``x``.
_EXPANDED: weakref.WeakKeyDictionary[TensorVariable, tuple[TensorVariable, tuple[int, ...]]] = (
    weakref.WeakKeyDictionary()
)


def _scalar_bound(v: Any, what: str) -> int | TensorVariable | None:
    """A slice bound or int index: a Python int, None, or an int scalar variable."""
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        raise TypeError(f"a boolean cannot be used as {what}")
    if isinstance(v, int | np.integer):
        return int(v)
    t = as_tensor_variable(v)
    if t.ndim != 0 or t.dtype not in INT_DTYPES:
        raise TypeError(f"{what} must be an integer scalar, got {t.ir_type}")
    known = constant_value(t.value)
    return int(known) if known is not None else t


def _classify(k: Any) -> tuple[Any, ...]:
    """One key entry as ("new",), ("ellipsis",), ("int", v), ("slice", a, b, c) or ("array", var)."""
    if k is None:
        return ("new",)
    if k is Ellipsis:
        return ("ellipsis",)
    if isinstance(k, slice):
        return ("slice", *(_scalar_bound(p, "a slice bound") for p in (k.start, k.stop, k.step)))
    if isinstance(k, bool | np.bool_):
        raise TypeError("a boolean scalar index is not supported; use a boolean mask array")
    if isinstance(k, int | np.integer):
        return ("int", int(k))
    if isinstance(k, list | tuple) and len(k) == 0:
        k = np.zeros((0,), dtype=np.int64)
    t = as_tensor_variable(k)
    if t.dtype != "bool" and t.dtype not in INT_DTYPES:
        raise TypeError(f"index arrays must be integers or booleans, got {t.ir_type}")
    if t.ndim == 0:
        if t.dtype == "bool":
            raise TypeError("a boolean scalar index is not supported; use a boolean mask array")
        return ("int", _scalar_bound(t, "an index"))
    return ("array", t)


def _width(e: tuple[Any, ...]) -> int:
    """How many axes of the input an entry covers."""
    if e[0] in ("new", "ellipsis"):
        return 0
    if e[0] == "array" and e[1].dtype == "bool":
        return e[1].ndim
    return 1


def _normalize_key(v: TensorVariable, key: Any) -> tuple[TensorVariable, list[tuple[Any, ...]]]:
    """Entries without Ellipsis and newaxis (the input gains the new axes instead)."""
    items = key if isinstance(key, tuple) else (key,)
    entries = [_classify(k) for k in items]
    n_ellipsis = sum(1 for e in entries if e[0] == "ellipsis")
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    covered = sum(_width(e) for e in entries)
    if covered > v.ndim:
        raise IndexError(f"too many indices: {covered} for a tensor of rank {v.ndim}")
    full = ("slice", None, None, None)
    if n_ellipsis:
        at = next(i for i, e in enumerate(entries) if e[0] == "ellipsis")
        entries[at:at + 1] = [full] * (v.ndim - covered)
    if any(e[0] == "new" for e in entries):
        pattern: list[Any] = []
        axis = 0
        for i, e in enumerate(entries):
            if e[0] == "new":
                pattern.append("x")
                entries[i] = full
            else:
                pattern.extend(range(axis, axis + _width(e)))
                axis += _width(e)
        pattern.extend(range(axis, v.ndim))
        from tensorir.frontend.shape_ops import dimshuffle

        expanded = dimshuffle(v, pattern)
        _EXPANDED[expanded] = (v, tuple(i for i, p in enumerate(pattern) if p != "x"))
        v = expanded
    return v, entries


def _check_static_bounds(v: TensorVariable, entries: Sequence[tuple[Any, ...]]) -> None:
    axis = 0
    for e in entries:
        dim = v.static_shape[axis] if axis < v.ndim else None
        if dim is not None and e[0] == "int" and isinstance(e[1], int) and not -dim <= e[1] < dim:
            raise IndexError(f"index {e[1]} is out of bounds for axis {axis} with size {dim}")
        if dim is not None and e[0] == "array" and e[1].dtype != "bool":
            known = constant_value(e[1].value)
            if known is not None and known.size and not (-dim <= known.min() and known.max() < dim):
                bad = known.max() if known.max() >= dim else known.min()
                raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {dim}")
        if e[0] == "slice" and e[3] == 0:
            raise ValueError("slice step cannot be zero")
        axis += _width(e)


def _encode(entries: Sequence[tuple[Any, ...]]) -> tuple[str, str, list[TensorVariable]]:
    """Op name, index attribute and operands for normalized entries."""
    operands: list[TensorVariable] = []

    def part(p: Any) -> Any:
        if isinstance(p, TensorVariable):
            operands.append(p)
            return RUNTIME
        return p

    coded: list[tuple[Any, ...]] = []
    for e in entries:
        if e[0] == "int":
            coded.append(("int", part(e[1])))
        elif e[0] == "slice":
            coded.append(("slice", *(part(p) for p in e[1:])))
        else:
            operands.append(e[1])
            coded.append(("array",))
    advanced = any(e[0] == "array" for e in coded)
    # Trailing whole slices change nothing (x[0, :] is x[0]).
    while coded and coded[-1] in (("slice", None, None, None), ("slice", None, None, 1)):
        coded.pop()
    return ("tir.advanced_subtensor" if advanced else "tir.subtensor"), format_index(coded), operands


def getitem(var: Any, key: Any) -> TensorVariable:
    """``var[key]`` with NumPy semantics (``TensorVariable.__getitem__``)."""
    original = as_tensor_variable(var)
    v, entries = _normalize_key(original, key)
    _check_static_bounds(v, entries)
    name, index, operands = _encode(entries)
    if name == "tir.subtensor" and not index and v is not original:
        return v  # only newaxis and whole slices: the dimshuffle is the result
    return apply_values(name, [v.value] + [o.value for o in operands], {"index": index})


def _write(x: Any, y: Any, mode: str, caller: str) -> TensorVariable:
    xv = as_tensor_variable(x)
    op = xv.value.owner
    if op is None or op.name not in _READS:
        raise TypeError(
            f"{caller}: x must be an indexing expression such as x[idx] or x[i:j] (a tensor read with "
            f"[]), got {xv!r}"
        )
    base = op.operands[0]
    index = op.attributes["index"]
    yv = as_tensor_variable(y, like=xv.dtype) if isinstance(y, int | float) else as_tensor_variable(y)
    if yv.dtype != xv.dtype:
        from tensorir.frontend.basic import cast

        yv = cast(yv, xv.dtype)
    if yv.ndim > xv.ndim:
        raise ValueError(f"{caller}: the value has rank {yv.ndim}, more than x[{index}] (rank {xv.ndim})")
    advanced = op.name == "tir.advanced_subtensor"
    name = ("tir.advanced_" if advanced else "tir.") + f"{mode}_subtensor"
    out = apply_values(name, [base, yv.value, *op.operands[1:]], {"index": index})
    from tensorir.frontend.variable import wrap

    expanded = _EXPANDED.get(wrap(base))
    if expanded is not None:
        from tensorir.frontend.shape_ops import dimshuffle

        out = dimshuffle(out, expanded[1])
    return out


def set_subtensor(
    x: Any, y: Any, inplace: bool = False, tolerate_inplace_aliasing: bool = False
) -> TensorVariable:
    """The tensor under ``x`` (an indexing expression ``t[idx]``) with ``t[idx]`` replaced by ``y``."""
    return _write(x, y, "set", "set_subtensor")


def inc_subtensor(x: Any, y: Any, inplace: bool = False, set_instead_of_inc: bool = False,
                  tolerate_inplace_aliasing: bool = False) -> TensorVariable:
    """The tensor under ``x`` (``t[idx]``) with ``y`` added at ``idx``; repeated indices accumulate."""
    if set_instead_of_inc:
        return _write(x, y, "set", "inc_subtensor")
    return _write(x, y, "inc", "inc_subtensor")


advanced_set_subtensor = set_subtensor
advanced_inc_subtensor = inc_subtensor


def take(a: Any, indices: Any, axis: int | None = None, mode: str = "raise") -> TensorVariable:
    """``numpy.take``: elements of ``a`` at ``indices`` along ``axis`` (the flattened ``a`` for None).

    ``mode`` is 'raise' (out-of-range indices raise IndexError), 'wrap' or 'clip'.
    """
    v = as_tensor_variable(a)
    if axis is None:
        from tensorir.frontend.shape_ops import flatten

        v, axis = flatten(v, 1), 0
    if not -v.ndim <= axis < v.ndim:
        raise GraphError(f"take: axis {axis} is out of range for a tensor of rank {v.ndim}")
    axis %= v.ndim
    idx = as_tensor_variable(indices) if not isinstance(indices, int | np.integer) else indices
    if mode != "raise":
        from tensorir.frontend import basic

        n = v.shape[axis]
        if mode == "wrap":
            idx = basic.mod(idx, n)
        elif mode == "clip":
            idx = basic.clip(idx, 0, n - 1)
        else:
            raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    return getitem(v, (slice(None),) * axis + (idx,))


def nonzero(a: Any, return_matrix: bool = False) -> Any:
    """Positions of the non-zero elements: a tuple of int64 vectors, one per dim of ``a``.

    With ``return_matrix=True`` one (ndim, n) matrix instead (Theano's option).
    """
    v = as_tensor_variable(a)
    out = apply_values("tir.nonzero", [v.value], {})
    parts = out if isinstance(out, tuple) else (out,)
    if return_matrix:
        from tensorir.frontend.shape_ops import stack

        return stack(list(parts), axis=0)
    return parts


def flatnonzero(a: Any) -> TensorVariable:
    """Positions of the non-zero elements of the flattened ``a``."""
    from tensorir.frontend.shape_ops import flatten

    return nonzero(flatten(as_tensor_variable(a), 1))[0]


def nonzero_values(a: Any) -> TensorVariable:
    """The non-zero elements of the flattened ``a``."""
    from tensorir.frontend.shape_ops import flatten

    flat = flatten(as_tensor_variable(a), 1)
    return getitem(flat, flatnonzero(flat))

