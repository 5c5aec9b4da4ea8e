"""``theano.tensor.xlogx``: ``x * log(x)`` and ``x * log(y)`` taken as 0 where ``x`` is 0."""

from __future__ import annotations

from typing import Any

import tensorir.tensor as T


def xlogx(x: Any) -> Any:
    """``x * log(x)``, 0 at ``x = 0`` (the limit)."""
    return xlogy0(x, x)


def xlogy0(x: Any, y: Any) -> Any:
    """``x * log(y)``, 0 where ``x`` is 0 whatever ``y`` is.

    ``log`` reads 1 where ``x`` is 0 (instead of switching after the product), so that neither
    the value nor the gradient there meets ``0 * log(0) = nan``.
    """
    x = T.as_tensor_variable(x)
    zero = T.eq(x, 0)
    return x * T.log(T.switch(zero, T.ones_like(y), y))


__all__ = ["xlogx", "xlogy0"]
