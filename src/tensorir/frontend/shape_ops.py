"""``T.*`` shape operations: reshape, dimshuffle, flatten, transpose, and friends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.frontend.variable import (
    GraphError,
    TensorVariable,
    apply_values,
    as_tensor_variable,
)


def dimshuffle(x: Any, pattern: Sequence[Any]) -> TensorVariable:
    """Theano's dimshuffle: input axes in a new order, ``'x'`` for new broadcastable axes."""
    v = as_tensor_variable(x)
    codes = tuple(-1 if p == "x" else int(p) for p in pattern)
    if codes == tuple(range(v.ndim)):
        return v
    return apply_values("tir.dimshuffle", [v.value], {"pattern": codes})


def transpose(x: Any, axes: Sequence[int] | None = None) -> TensorVariable:
    v = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(v.ndim)))
    axes = tuple(int(a) % v.ndim if v.ndim else int(a) for a in axes)
    if sorted(axes) != list(range(v.ndim)):
        raise GraphError(f"transpose: axes {axes} are not a permutation of the {v.ndim} axes")
    return dimshuffle(v, axes)


def _dim_code(d: Any) -> tuple[int, TensorVariable | None]:
    """Static code of one reshape dim (int >= 0, -1 inferred, -2 run time) and its variable."""
    if isinstance(d, int | np.integer):
        return int(d), None
    dv = as_tensor_variable(d)
    if dv.ndim != 0:
        raise GraphError(f"reshape: a dim must be a scalar, got {dv.type}")
    known = constant_value(dv.value)
    if known is not None:
        return int(known), None
    return -2, dv


def reshape(x: Any, shape: Any, ndim: int | None = None) -> TensorVariable:
    """``x.reshape(shape)``: shape as ints, scalar variables, or an int vector variable (give ``ndim``)."""
    v = as_tensor_variable(x)
    if isinstance(shape, TensorVariable) and shape.ndim == 1:
        known = constant_value(shape.value)
        if known is not None:
            shape = tuple(int(d) for d in known)
        else:
            n = shape.static_shape[0] if shape.static_shape[0] is not None else ndim
            if n is None:
                raise GraphError("reshape with a symbolic shape vector of unknown length needs ndim=")
            return apply_values("tir.reshape", [v.value, _as_int64(shape).value], {"newshape": (-2,) * n})
    if isinstance(shape, int | np.integer) or (isinstance(shape, TensorVariable) and shape.ndim == 0):
        shape = (shape,)
    codes, dyn = zip(*[_dim_code(d) for d in shape]) if len(shape) else ((), ())
    if -2 in codes:
        parts = [d if d is not None else as_tensor_variable(np.int64(c)) for c, d in zip(codes, dyn)]
        vec = apply_values("tir.make_vector", [_as_int64(p).value for p in parts], {"dtype": "int64"})
        return apply_values("tir.reshape", [v.value, vec.value], {"newshape": tuple(codes)})
    if tuple(codes) == v.static_shape:
        return v
    return apply_values("tir.reshape", [v.value], {"newshape": tuple(codes)})


def _as_int64(v: TensorVariable) -> TensorVariable:
    from tensorir.frontend.basic import cast

    return v if v.dtype == "int64" else cast(v, "int64")


def flatten(x: Any, ndim: int = 1, outdim: int | None = None) -> TensorVariable:
    """Keep the first ``ndim - 1`` dims and flatten the rest (Theano's semantics)."""
    v = as_tensor_variable(x)
    ndim = outdim if outdim is not None else ndim
    if not 1 <= ndim <= max(v.ndim, 1):
        raise GraphError(f"flatten: ndim={ndim} is not in [1, {v.ndim}]")
    if ndim == v.ndim:
        return v
    lead = [v.static_shape[i] if v.static_shape[i] is not None else v.shape[i] for i in range(ndim - 1)]
    return reshape(v, (*lead, -1))


def shape_padleft(x: Any, n_ones: int = 1) -> TensorVariable:
    v = as_tensor_variable(x)
    return dimshuffle(v, ["x"] * n_ones + list(range(v.ndim)))


def shape_padright(x: Any, n_ones: int = 1) -> TensorVariable:
    v = as_tensor_variable(x)
    return dimshuffle(v, list(range(v.ndim)) + ["x"] * n_ones)


def shape_padaxis(x: Any, axis: int) -> TensorVariable:
    v = as_tensor_variable(x)
    axis = axis % (v.ndim + 1)
    pattern: list[Any] = list(range(v.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(v, pattern)


def squeeze(x: Any) -> TensorVariable:
    """Drop the broadcastable (static size-1) dims."""
    v = as_tensor_variable(x)
    return dimshuffle(v, [i for i, b in enumerate(v.broadcastable) if not b])


def swapaxes(x: Any, a: int, b: int) -> TensorVariable:
    v = as_tensor_variable(x)
    axes = list(range(v.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return dimshuffle(v, axes)


def stack(tensors: Sequence[Any], axis: int = 0) -> TensorVariable:
    """Stack tensors along a new axis (scalars of a symbolic shape become a vector)."""
    vs = [as_tensor_variable(t) for t in tensors]
    if vs and all(t.ndim == 0 for t in vs) and axis == 0:
        from tensorir.dialects.types import upcast

        dtype = upcast(*[t.dtype for t in vs])
        return apply_values("tir.make_vector", [t.value for t in vs], {"dtype": dtype})
    raise NotImplementedError("stack of non-scalars")
