"""``theano.tensor.signal.downsample``: the pooling API of Theano 0.8 and before."""

from __future__ import annotations

from typing import Any

from tensorir.frontend.pool import pool_2d


def max_pool_2d(
    input: Any,  # noqa: A002 - Theano's name
    ds: Any,
    ignore_border: bool | None = None,
    st: Any = None,
    padding: Any = (0, 0),
    mode: str = "max",
) -> Any:
    """``max_pool_2d(input, ds, ignore_border, st, padding, mode)``: ``pool_2d`` under its old names."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)


__all__ = ["max_pool_2d"]
