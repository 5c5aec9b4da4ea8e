"""``T.*`` shape operations: reshape, dimshuffle, flatten, transpose, join/stack/split, allocation
(alloc, zeros, ones, fill, arange, eye), tile, repeat, roll, diag and the broadcast-pattern helpers.

Dims and repetitions may be Python ints or symbolic int scalars (``x.shape[0]``), and a whole shape
may be a symbolic vector of static length (``x.shape``): ``T.zeros((x.shape[0], 5))`` works with
dynamic dims. Constant symbolic values are folded so static shapes stay static.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.types import INT_DTYPES, upcast
from tensorir.frontend.config import config
from tensorir.frontend.variable import (
    GraphError,
    TensorVariable,
    apply_values,
    as_tensor_variable,
    constant,
    weak_operands,
)

__all__ = [
    "addbroadcast",
    "alloc",
    "arange",
    "concatenate",
    "diag",
    "dimshuffle",
    "eye",
    "fill",
    "flatten",
    "horizontal_stack",
    "identity_like",
    "join",
    "ones",
    "ones_like",
    "patternbroadcast",
    "repeat",
    "reshape",
    "roll",
    "second",
    "shape_padaxis",
    "shape_padleft",
    "shape_padright",
    "specify_shape",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "unbroadcast",
    "vertical_stack",
    "zeros",
    "zeros_like",
]


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


# -- dims given as ints, symbolic scalars or a symbolic shape vector ---------------------------------
Dim = int | TensorVariable


def _int_scalar(d: Any, what: str) -> Dim:
    """A dim: a Python int (>= 0) or an int scalar variable (constants folded)."""
    if isinstance(d, bool | np.bool_):
        raise TypeError(f"{what} must be an integer, got {d!r}")
    if isinstance(d, int | np.integer):
        if d < 0:
            raise ValueError(f"{what} must be >= 0, got {int(d)}")
        return int(d)
    v = as_tensor_variable(d)
    if v.ndim != 0 or v.dtype not in INT_DTYPES:
        raise TypeError(f"{what} must be an integer scalar, got {v.ir_type}")
    known = constant_value(v.value)
    return _int_scalar(int(known), what) if known is not None else v


def _dims(shape: Any, what: str) -> list[Dim]:
    """A shape (int, sequence of dims, or int vector variable of static length) as a list of dims."""
    if isinstance(shape, TensorVariable):
        if shape.ndim == 0:
            items: list[Any] = [shape]
        elif shape.ndim == 1:
            known = constant_value(shape.value)
            if known is not None:
                items = [int(d) for d in known]
            else:
                n = shape.static_shape[0]
                if n is None:
                    raise GraphError(
                        f"{what}: a symbolic shape vector of unknown length; give the dims as a tuple"
                    )
                items = [shape[i] for i in range(n)]
        else:
            raise TypeError(f"{what}: a shape must be a vector, got {shape.ir_type}")
    elif isinstance(shape, int | np.integer):
        items = [shape]
    else:
        items = list(shape)
    return [_int_scalar(d, f"a dim of {what}") for d in items]


def _static_and_operands(dims: Sequence[Dim]) -> tuple[tuple[int, ...], list[Any]]:
    """The static attribute (-1 for run-time dims) and the run-time operand values."""
    static = tuple(d if isinstance(d, int) else -1 for d in dims)
    return static, [d.value for d in dims if isinstance(d, TensorVariable)]


def _dim(v: TensorVariable, axis: int) -> Dim:
    d = v.static_shape[axis]
    return d if d is not None else v.shape[axis]


def _axis(axis: Any, ndim: int, what: str) -> int:
    if not isinstance(axis, int | np.integer):
        known = constant_value(as_tensor_variable(axis).value) if isinstance(axis, TensorVariable) else None
        if known is None:
            raise GraphError(f"{what}: the axis must be a constant int, got {axis!r}")
        axis = int(known)
    if not -ndim <= axis < ndim:
        raise GraphError(f"{what}: axis {int(axis)} is out of range for tensors of rank {ndim}")
    return int(axis) % ndim


# -- join, stack, split ------------------------------------------------------------------------------
def join(axis: Any, *tensors_list: Any) -> TensorVariable:
    """Concatenate tensors of the same rank along ``axis`` (Theano's argument order)."""
    vs = [as_tensor_variable(t) for t in tensors_list]
    if not vs:
        raise GraphError("join: at least one tensor is needed")
    ranks = {t.ndim for t in vs}
    if len(ranks) != 1:
        raise GraphError(f"join: all tensors must have the same rank, got ranks {[t.ndim for t in vs]}")
    if vs[0].ndim == 0:
        raise GraphError("join: cannot join scalars (rank 0); use stack")
    ax = _axis(axis, vs[0].ndim, "join")
    if len(vs) == 1:
        return vs[0]
    return apply_values("tir.join", [t.value for t in vs], {"axis": ax})


def concatenate(tensor_list: Sequence[Any], axis: Any = 0) -> TensorVariable:
    """``numpy.concatenate``: join a list of tensors along ``axis``."""
    if not isinstance(tensor_list, list | tuple):
        raise TypeError("concatenate takes a list of tensors as its first argument (did you mean join?)")
    return join(axis, *tensor_list)


def stack(*tensors: Any, **kwargs: Any) -> TensorVariable:
    """``stack(tensors, axis=0)``: tensors of the same shape along a new axis.

    The legacy form ``stack(x, y, z)`` stacks its arguments along axis 0.
    """
    if tensors and isinstance(tensors[0], list | tuple) and "tensors" not in kwargs:
        axis = tensors[1] if len(tensors) > 1 else kwargs.get("axis", 0)
        items = list(tensors[0])
    elif "tensors" in kwargs:
        items, axis = list(kwargs["tensors"]), kwargs.get("axis", 0)
    else:
        items, axis = list(tensors), kwargs.get("axis", 0)
    if not items:
        raise GraphError("stack: at least one tensor is needed")
    vs = [as_tensor_variable(t) for t in items]
    if all(t.ndim == 0 for t in vs) and axis in (0, -1):
        # Scalars (often the dims of a symbolic shape) become a vector in one op.
        dtype = upcast(*[t.dtype for t in vs])
        return apply_values("tir.make_vector", [t.value for t in vs], {"dtype": dtype})
    if len({t.ndim for t in vs}) != 1:
        raise GraphError(f"stack: all tensors must have the same rank, got ranks {[t.ndim for t in vs]}")
    ax = _axis(axis, vs[0].ndim + 1, "stack")
    return join(ax, *[shape_padaxis(t, ax) for t in vs])


def horizontal_stack(*args: Any) -> TensorVariable:
    """Join matrices side by side (along axis 1)."""
    vs = [as_tensor_variable(a) for a in args]
    if len(vs) < 2 or any(v.ndim != 2 for v in vs):
        raise GraphError("horizontal_stack takes two or more matrices")
    return join(1, *vs)


def vertical_stack(*args: Any) -> TensorVariable:
    """Join matrices one under the other (along axis 0)."""
    vs = [as_tensor_variable(a) for a in args]
    if len(vs) < 2 or any(v.ndim != 2 for v in vs):
        raise GraphError("vertical_stack takes two or more matrices")
    return join(0, *vs)


def split(x: Any, splits_size: Any, n_splits: int, axis: Any = 0) -> Any:
    """Split ``x`` along ``axis`` into ``n_splits`` pieces of lengths ``splits_size``.

    Returns a list of variables (a single variable when ``n_splits`` is 1, as Theano does).
    """
    v = as_tensor_variable(x)
    if v.ndim == 0:
        raise GraphError("split: cannot split a scalar")
    ax = _axis(axis, v.ndim, "split")
    sizes = _dims(splits_size, "split sizes")
    if len(sizes) != n_splits:
        raise GraphError(f"split: {len(sizes)} sizes given for n_splits={n_splits}")
    static, dyn = _static_and_operands(sizes)
    out = apply_values("tir.split", [v.value, *dyn], {"axis": ax, "sizes": static})
    return list(out) if isinstance(out, tuple) else out


# -- allocation ----------------------------------------------------------------------------------------
def alloc(value: Any, *shape: Any) -> TensorVariable:
    """``value`` broadcast to ``shape`` (each dim an int or a symbolic int scalar)."""
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        shape = tuple(shape[0])
    v = as_tensor_variable(value)
    static, dyn = _static_and_operands(_dims(list(shape), "alloc"))
    return apply_values("tir.alloc", [v.value, *dyn], {"shape": static})


def _filled(shape: Any, fill_value: float, dtype: Any, what: str) -> TensorVariable:
    from tensorir.dialects.types import normalize_dtype

    dt = normalize_dtype(config.floatX if dtype is None else dtype)
    static, dyn = _static_and_operands(_dims(shape, what))
    value = constant(np.asarray(fill_value, dtype=dt))
    return apply_values("tir.alloc", [value.value, *dyn], {"shape": static})


def zeros(shape: Any, dtype: Any = None) -> TensorVariable:
    """A tensor of zeros of ``shape`` (ints, symbolic scalars or a shape vector); floatX by default."""
    return _filled(shape, 0, dtype, "zeros")


def ones(shape: Any, dtype: Any = None) -> TensorVariable:
    """A tensor of ones of ``shape``; floatX by default."""
    return _filled(shape, 1, dtype, "ones")


def second(model: Any, value: Any) -> TensorVariable:
    """``value`` broadcast to the shape of ``broadcast(model, value)`` (Theano's ``second``/``fill``)."""
    m, v = weak_operands(model, value)
    if v.ndim > m.ndim:
        raise GraphError(f"fill: the value has rank {v.ndim}, more than the model's {m.ndim}")
    return apply_values("tir.broadcast_like", [v.value, m.value], {})


fill = second


def _like(x: Any, fill_value: float, dtype: Any) -> TensorVariable:
    from tensorir.dialects.types import normalize_dtype

    v = as_tensor_variable(x)
    dt = v.dtype if dtype is None else normalize_dtype(config.floatX if dtype == "floatX" else dtype)
    return apply_values("tir.broadcast_like", [constant(np.asarray(fill_value, dtype=dt)).value, v.value], {})


def zeros_like(model: Any, dtype: Any = None, opt: bool = False) -> TensorVariable:
    """Zeros with ``model``'s shape and (unless given) dtype."""
    return _like(model, 0, dtype)


def ones_like(model: Any, dtype: Any = None, opt: bool = False) -> TensorVariable:
    """Ones with ``model``'s shape and (unless given) dtype."""
    return _like(model, 1, dtype)


def _known_number(x: Any) -> Any:
    if isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool):
        return x
    if isinstance(x, TensorVariable):
        known = constant_value(x.value)
        return known.item() if known is not None and known.ndim == 0 else None
    return None


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> TensorVariable:
    """``numpy.arange`` with symbolic bounds; the length is static when all three are constants.

    Without ``dtype``, Python ints count as int64 and Python floats as floatX.
    """
    from tensorir.dialects.types import normalize_dtype

    if stop is None:
        start, stop = 0, start
    args = []
    for a in (start, stop, step):
        if isinstance(a, bool):
            raise TypeError("arange: bounds must be numbers, not booleans")
        if isinstance(a, int | np.integer) and not isinstance(a, TensorVariable):
            args.append(constant(np.int64(a)))
        elif isinstance(a, float):
            args.append(constant(np.asarray(a, dtype=config.floatX)))
        else:
            args.append(as_tensor_variable(a))
    for name, a in zip(("start", "stop", "step"), args):
        if a.ndim != 0:
            raise TypeError(f"arange: {name} must be a scalar, got {a.ir_type}")
    dt = upcast(*[a.dtype for a in args]) if dtype is None else normalize_dtype(dtype)
    known = [_known_number(a) for a in args]
    length = -1
    if all(k is not None for k in known):
        if known[2] == 0:
            raise ValueError("arange: step must not be zero")
        length = len(np.arange(*known))
    return apply_values("tir.arange", [a.value for a in args], {"dtype": dt, "length": length})


def eye(n: Any, m: Any = None, k: int = 0, dtype: Any = None) -> TensorVariable:
    """An (n, m) matrix with ones on diagonal ``k`` (n and m may be symbolic)."""
    from tensorir.dialects.types import normalize_dtype

    dims = _dims([n, n if m is None else m], "eye")
    static, dyn = _static_and_operands(dims)
    dt = normalize_dtype(config.floatX if dtype is None else dtype)
    return apply_values("tir.eye", dyn, {"shape": static, "k": int(k), "dtype": dt})


def identity_like(x: Any) -> TensorVariable:
    """An identity matrix with the shape and dtype of the matrix ``x``."""
    v = as_tensor_variable(x)
    if v.ndim != 2:
        raise GraphError(f"identity_like takes a matrix, got {v.ir_type}")
    return eye(_dim(v, 0), _dim(v, 1), 0, dtype=v.dtype)


# -- tile, repeat, roll, diag --------------------------------------------------------------------------
def tile(x: Any, reps: Any, ndim: int | None = None) -> TensorVariable:
    """``numpy.tile``; ``reps`` ints, symbolic scalars or a vector; ``ndim`` is the result rank."""
    v = as_tensor_variable(x)
    dims = _dims(reps, "tile reps")
    if ndim is not None:
        if ndim < max(len(dims), v.ndim):
            raise GraphError(
                f"tile: ndim={ndim} is smaller than the rank of x ({v.ndim}) or of reps ({len(dims)})"
            )
        dims = [1] * (ndim - len(dims)) + dims
    static, dyn = _static_and_operands(dims)
    return apply_values("tir.tile", [v.value, *dyn], {"reps": static})


def repeat(x: Any, repeats: Any, axis: Any = None) -> TensorVariable:
    """``numpy.repeat``: each element repeated ``repeats`` times (a scalar or one count per element)."""
    v = as_tensor_variable(x)
    if axis is None:
        v, axis = flatten(v, 1), 0
    if v.ndim == 0:
        v = flatten(v, 1)
    ax = _axis(axis, v.ndim, "repeat")
    r = as_tensor_variable(np.asarray(repeats, dtype=np.int64)) if not isinstance(repeats, TensorVariable) \
        else repeats
    if r.dtype not in INT_DTYPES or r.ndim > 1:
        raise TypeError(f"repeat: repeats must be an integer scalar or vector, got {r.ir_type}")
    known = constant_value(r.value)
    d = v.static_shape[ax]
    length = -1
    if known is not None:
        if np.any(known < 0):
            raise ValueError("repeat: repeats must be >= 0")
        if known.ndim == 1 and d is not None and len(known) not in (1, d):
            raise GraphError(f"repeat: {len(known)} repeats for an axis of length {d}")
        if known.ndim == 1 and len(known) != 1:
            length = int(known.sum())
        elif d is not None:
            length = d * int(known.reshape(()))
    return apply_values("tir.repeat", [v.value, r.value], {"axis": ax, "length": length})


def roll(x: Any, shift: Any, axis: Any = None) -> TensorVariable:
    """``numpy.roll``: elements shifted by ``shift`` (may be symbolic) along ``axis`` (flattened if None)."""
    v = as_tensor_variable(x)
    if axis is None:
        if v.ndim <= 1:
            return roll(flatten(v, 1), shift, 0) if v.ndim == 1 else v
        return reshape(roll(flatten(v, 1), shift, 0), [_dim(v, i) for i in range(v.ndim)])
    ax = _axis(axis, v.ndim, "roll")
    n = _dim(v, ax)
    if isinstance(n, int) and isinstance(shift, int | np.integer):
        if n == 0:
            return v
        cut: Any = n - int(shift) % n
    else:
        from tensorir.frontend.basic import maximum, mod

        cut = n - mod(shift, maximum(n, 1))
    lead = (slice(None),) * ax
    return join(ax, v[lead + (slice(cut, None),)], v[lead + (slice(None, cut),)])


def diag(v: Any, k: int = 0) -> TensorVariable:
    """A vector's diagonal matrix, or a matrix's ``k``-th diagonal as a vector (``numpy.diag``)."""
    from tensorir.frontend.basic import maximum, minimum
    from tensorir.frontend.indexing import set_subtensor

    x = as_tensor_variable(v)
    k = int(k)
    if x.ndim == 1:
        n = _dim(x, 0)
        i = arange(n)
        size = n + abs(k)
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        return set_subtensor(zeros((size, size), dtype=x.dtype)[rows, cols], x)
    if x.ndim != 2:
        raise GraphError(f"diag takes a vector or a matrix, got {x.ir_type}")
    n, m = _dim(x, 0), _dim(x, 1)
    if isinstance(n, int) and isinstance(m, int):
        length: Any = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    else:
        length = maximum(0, minimum(n, m - k) if k >= 0 else minimum(n + k, m))
    i = arange(length)
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    return x[rows, cols]


# -- static shapes and broadcast patterns ---------------------------------------------------------------
def specify_shape(x: Any, shape: Any) -> TensorVariable:
    """``x`` with the given shape, checked at run time; a None dim is left as it is."""
    v = as_tensor_variable(x)
    items = list(shape) if isinstance(shape, list | tuple) else _dims(shape, "specify_shape")
    if len(items) != v.ndim:
        raise GraphError(f"specify_shape: shape has {len(items)} dims, the tensor has rank {v.ndim}")
    entries: list[Any] = []
    dyn: list[Any] = []
    for i, d in enumerate(items):
        if d is None:
            entries.append(v.static_shape[i])
            continue
        d = _int_scalar(d, "a dim of specify_shape")
        if isinstance(d, int):
            entries.append(d)
        else:
            entries.append(-1)
            dyn.append(d.value)
    return apply_values("tir.specify_shape", [v.value, *dyn], {"shape": tuple(entries)})


def _with_static(v: TensorVariable, dims: Sequence[int | None]) -> TensorVariable:
    if tuple(dims) == v.static_shape:
        return v
    return apply_values("tir.specify_shape", [v.value], {"shape": tuple(dims)})


def addbroadcast(x: Any, *axes: int) -> TensorVariable:
    """``x`` with ``axes`` made broadcastable (static size 1, checked at run time)."""
    v = as_tensor_variable(x)
    picked = {_axis(a, v.ndim, "addbroadcast") for a in axes}
    return _with_static(v, [1 if i in picked else d for i, d in enumerate(v.static_shape)])


def unbroadcast(x: Any, *axes: int) -> TensorVariable:
    """``x`` with ``axes`` no longer broadcastable (their size becomes dynamic)."""
    v = as_tensor_variable(x)
    picked = {_axis(a, v.ndim, "unbroadcast") for a in axes}
    return _with_static(v, [None if i in picked and d == 1 else d for i, d in enumerate(v.static_shape)])


def patternbroadcast(x: Any, broadcastable: Sequence[bool]) -> TensorVariable:
    """``x`` with the broadcastable pattern ``broadcastable``."""
    v = as_tensor_variable(x)
    if len(broadcastable) != v.ndim:
        raise GraphError(f"patternbroadcast: pattern {tuple(broadcastable)} for a tensor of rank {v.ndim}")
    dims = [1 if b else (None if d == 1 else d) for b, d in zip(broadcastable, v.static_shape)]
    return _with_static(v, dims)
