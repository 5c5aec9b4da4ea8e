"""``tensorir.tensor.signal.pool``: ``pool_2d`` and ``max_pool_2d_same_size`` (Theano's rules).

Pooling works on the last two axes of a tensor of rank >= 2. ``ds``, ``st`` and ``padding`` are
deprecated aliases of ``ws``, ``stride`` and ``pad``; ``ignore_border=None`` warns and means
False, as in Theano 1.0.
"""

from __future__ import annotations

import warnings
from typing import Any

from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.conv import POOL_MODES, int_pair
from tensorir.frontend.variable import TensorVariable, apply_values, as_tensor_variable

_MODE_ALIASES = {"average": "average_inc_pad", "max_deterministic": "max"}


def _alias(new: Any, old: Any, new_name: str, old_name: str, default: Any) -> Any:
    if old is None:
        return new
    if new is not None and new != default:
        raise ValueError(f"pool_2d: give {new_name} or its deprecated alias {old_name}, not both")
    warnings.warn(
        f"pool_2d: the {old_name!r} parameter is deprecated and will be removed; use {new_name!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return old


def _pool_attrs(ws: Any, stride: Any, pad: Any, ignore_border: bool, mode: str) -> dict[str, Any]:
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in POOL_MODES:
        raise ValueError(f"pool_2d: mode must be one of {', '.join(POOL_MODES)}, got {mode!r}")
    try:
        ws_pair = int_pair(ws, "pool_2d: ws")
        stride_pair = ws_pair if stride is None else int_pair(stride, "pool_2d: stride")
        pad_pair = int_pair(pad, "pool_2d: pad")
    except IRError as exc:
        raise ValueError(str(exc)) from None
    if pad_pair != (0, 0) and not ignore_border:
        raise NotImplementedError("pool_2d: padding works only with ignore_border=True")
    return {"ws": ws_pair, "stride": stride_pair, "pad": pad_pair, "ignore_border": bool(ignore_border),
            "mode": mode}


def pool_2d(
    input: Any,  # noqa: A002 - Theano's name
    ws: Any = None,
    ignore_border: bool | None = None,
    stride: Any = None,
    pad: Any = (0, 0),
    mode: str = "max",
    ds: Any = None,
    st: Any = None,
    padding: Any = None,
) -> TensorVariable:
    """Pool the last two axes of ``input`` over ``ws`` windows moved by ``stride`` (default ``ws``).

    ``mode``: 'max', 'sum', 'average_inc_pad' (padding counts in the average) or
    'average_exc_pad'. ``pad`` adds zeros on both sides (needs ``ignore_border=True``). With
    ``ignore_border=False``, partial windows at the bottom/right border are pooled too.
    """
    ws = _alias(ws, ds, "ws", "ds", None)
    stride = _alias(stride, st, "stride", "st", None)
    pad = _alias(pad, padding, "pad", "padding", (0, 0))
    if ws is None:
        raise ValueError("pool_2d: you must provide a tuple value for the window size (ws)")
    x = as_tensor_variable(input)
    if x.ndim < 2:
        raise NotImplementedError(f"pool_2d requires an input of rank >= 2, got {x.ir_type}")
    if ignore_border is None:
        warnings.warn(
            "pool_2d() will have the parameter ignore_border default value changed to True (currently "
            "False). To have consistent behavior with all Theano versions, explicitly add the parameter "
            "ignore_border=True.",
            UserWarning,
            stacklevel=2,
        )
        ignore_border = False
    attrs = _pool_attrs(ws, stride, pad, ignore_border, mode)
    return apply_values("tir.pool2d", [x.value], attrs)


def max_pool_2d_same_size(input: Any, patch_size: Any) -> TensorVariable:  # noqa: A002 - Theano's name
    """Keep the maximum of each non-overlapping ``patch_size`` patch and set the rest to zero.

    The result has the input's shape; on ties the first maximum (row-major) is kept.
    """
    x = as_tensor_variable(input)
    if x.ndim < 2:
        raise NotImplementedError(f"max_pool_2d_same_size requires an input of rank >= 2, got {x.ir_type}")
    attrs = _pool_attrs(patch_size, None, (0, 0), True, "max")
    pooled = apply_values("tir.pool2d", [x.value], attrs)
    return apply_values("tir.pool2d_grad", [x.value, pooled.value], attrs)


__all__ = ["max_pool_2d_same_size", "pool_2d"]
