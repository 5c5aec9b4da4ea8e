"""``theano.tensor.extra_ops`` functions that are short compositions of tensorir ops."""

from __future__ import annotations

from typing import Any

import tensorir.tensor as T


def diff(x: Any, n: int = 1, axis: int = -1) -> Any:
    """The ``n``-th forward difference along ``axis``: ``x[1:] - x[:-1]``, ``n`` times (NumPy's ``diff``)."""
    v = T.as_tensor_variable(x)
    axis = axis % v.ndim
    later = tuple([slice(None)] * axis + [slice(1, None)])
    earlier = tuple([slice(None)] * axis + [slice(None, -1)])
    for _ in range(n):
        v = v[later] - v[earlier]
    return v


def fill_diagonal(a: Any, val: Any) -> Any:
    """``a`` with its main diagonal set to ``val`` (a matrix; the diagonal has ``min(rows, cols)`` entries)."""
    m = T.as_tensor_variable(a)
    if m.ndim != 2:
        raise TypeError(f"fill_diagonal: tensorir supports matrices, got a tensor of rank {m.ndim}")
    idx = T.arange(T.minimum(m.shape[0], m.shape[1]))
    return T.set_subtensor(m[idx, idx], T.cast(val, m.dtype))


__all__ = ["diff", "fill_diagonal"]
