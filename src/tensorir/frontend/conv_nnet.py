"""``T.nnet`` convolutions, pooling helpers and batch normalization (conv2d, batch_normalization, ...).

Owned by the convolution work; ``frontend/nnet.py`` re-exports every name listed in ``__all__``.
Theano's ``border_mode`` ('valid', 'full', 'half', an int or a pair) is resolved here into the
explicit ``padding`` pair of ``tir.conv2d``; when the kernel size is only known at run time,
'full' and 'half' stay symbolic (codes -1 and -2, see ``dialects/tir/conv.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.conv import PAD_FULL, PAD_HALF, int_pair
from tensorir.frontend.variable import GraphError, TensorVariable, apply_values, as_tensor_variable

Dim = int | None


def _pair(value: Any, what: str) -> tuple[int, int]:
    try:
        return int_pair(value, what)
    except IRError as exc:
        raise ValueError(str(exc)) from None


def _hint_dims(hint: Any, what: str) -> tuple[Dim, ...] | None:
    """A Theano shape hint (``input_shape``/``filter_shape``) as 4 ints or None entries."""
    if hint is None:
        return None
    dims = tuple(hint)
    if len(dims) != 4:
        raise ValueError(f"conv2d: {what} must have 4 entries, got {hint!r}")
    return tuple(int(d) if isinstance(d, int | np.integer) else None for d in dims)


def _static_dims(v: TensorVariable, hint: tuple[Dim, ...] | None, what: str) -> tuple[Dim, ...]:
    """Static dims of a 4-d operand, completed by the user's hint (which must agree)."""
    if v.ndim != 4:
        raise GraphError(f"conv2d: {what} must be a 4-d tensor (NCHW / (out, in, kh, kw)), "
                         f"got {v.ir_type}")
    dims = list(v.static_shape)
    if hint is not None:
        for i, (d, h) in enumerate(zip(dims, hint)):
            if h is None:
                continue
            if d is not None and d != h:
                raise ValueError(f"conv2d: {what} has static shape {v.static_shape} but the given "
                                 f"shape says {hint}")
            dims[i] = h
    return tuple(dims)


def border_mode_padding(border_mode: Any, kernel: Sequence[Dim],
                        dilation: tuple[int, int]) -> tuple[int, int]:
    """Theano's ``border_mode`` as the ``padding`` attribute of ``tir.conv2d``."""
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return (0, 0)
        if border_mode in ("full", "half"):
            out = []
            for k, d in zip(kernel, dilation):
                if k is None:
                    out.append(PAD_FULL if border_mode == "full" else PAD_HALF)
                else:
                    dk = (k - 1) * d + 1
                    out.append(dk - 1 if border_mode == "full" else dk // 2)
            return out[0], out[1]
        raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair, "
                         f"got {border_mode!r}")
    pad = _pair(border_mode, "conv2d: border_mode")
    if min(pad) < 0:
        raise ValueError(f"conv2d: border_mode padding must be non-negative, got {border_mode!r}")
    return pad


def _conv_attrs(border_mode: Any, kernel: Sequence[Dim], subsample: Any, filter_flip: bool,
                filter_dilation: Any, num_groups: int) -> dict[str, Any]:
    dilation = _pair(filter_dilation, "conv2d: filter_dilation")
    return {
        "padding": border_mode_padding(border_mode, kernel, dilation),
        "subsample": _pair(subsample, "conv2d: subsample"),
        "filter_flip": bool(filter_flip),
        "filter_dilation": dilation,
        "num_groups": int(num_groups),
    }


def conv2d(
    input: Any,  # noqa: A002 - Theano's name
    filters: Any,
    input_shape: Sequence[Any] | None = None,
    filter_shape: Sequence[Any] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    image_shape: Sequence[Any] | None = None,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
    unshared: bool = False,
) -> TensorVariable:
    """2-d convolution of an NCHW ``input`` with ``(out, in / num_groups, kh, kw)`` ``filters``.

    ``filter_flip=True`` (the default) is a true convolution (the kernel is flipped), False a
    cross-correlation. ``border_mode`` is 'valid', 'full', 'half', an int or a pair of ints
    (symmetric zero padding). ``input_shape``/``filter_shape`` are optional hints (ints or None)
    that must agree with the operands; ``image_shape`` is a deprecated alias of ``input_shape``.
    """
    if image_shape is not None:
        warnings.warn("conv2d: image_shape is deprecated, use input_shape", DeprecationWarning, stacklevel=2)
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its deprecated alias image_shape, not both")
        input_shape = image_shape
    if unshared:
        raise NotImplementedError("conv2d: unshared (locally connected) convolution is not supported")
    x = as_tensor_variable(input)
    w = as_tensor_variable(filters)
    _static_dims(x, _hint_dims(input_shape, "input_shape"), "the input")
    wdims = _static_dims(w, _hint_dims(filter_shape, "filter_shape"), "the filters")
    attrs = _conv_attrs(border_mode, wdims[2:], subsample, filter_flip, filter_dilation, num_groups)
    return apply_values("tir.conv2d", [x.value, w.value], attrs)


def _shape_operand(shape: Any, what: str) -> tuple[TensorVariable, tuple[int, ...]]:
    """A 4-d shape (ints, scalar variables or an int vector) as an int64 vector and its static codes."""
    if isinstance(shape, TensorVariable):
        if shape.ndim != 1 or shape.static_shape[0] not in (None, 4):
            raise GraphError(f"{what} must be a vector of 4 ints, got {shape.ir_type}")
        known = constant_value(shape.value)
        owner = shape.value.owner
        if known is not None:
            static = tuple(int(d) for d in known)
        elif owner is not None and owner.name == "tir.shape":
            static = tuple(-1 if d is None else d for d in owner.operands[0].type.shape)
        else:
            static = (-1,) * 4
        vec = shape if shape.dtype == "int64" else apply_values("tir.cast", [shape.value], {"dtype": "int64"})
        return vec, static
    dims = list(shape)
    if len(dims) != 4:
        raise ValueError(f"{what} must have 4 entries, got {shape!r}")
    if all(isinstance(d, int | np.integer) for d in dims):
        return as_tensor_variable(np.asarray(dims, dtype=np.int64)), tuple(int(d) for d in dims)
    parts = []
    for d in dims:
        v = as_tensor_variable(np.int64(d) if isinstance(d, int | np.integer) else d)
        if v.ndim != 0:
            raise GraphError(f"{what}: each entry must be a scalar, got {v.ir_type}")
        parts.append(v if v.dtype == "int64" else apply_values("tir.cast", [v.value], {"dtype": "int64"}))
    static = tuple(int(d) if isinstance(d, int | np.integer) else -1 for d in dims)
    return apply_values("tir.make_vector", [p.value for p in parts], {"dtype": "int64"}), static


def conv2d_grad_wrt_inputs(
    output_grad: Any,
    filters: Any,
    input_shape: Any,
    filter_shape: Sequence[Any] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> TensorVariable:
    """The gradient of ``conv2d`` with respect to its input, of shape ``input_shape``."""
    gy = as_tensor_variable(output_grad)
    w = as_tensor_variable(filters)
    wdims = _static_dims(w, _hint_dims(filter_shape, "filter_shape"), "the filters")
    attrs = _conv_attrs(border_mode, wdims[2:], subsample, filter_flip, filter_dilation, num_groups)
    shape, static = _shape_operand(input_shape, "conv2d_grad_wrt_inputs: input_shape")
    return apply_values("tir.conv2d_grad_input", [gy.value, w.value, shape.value],
                        {**attrs, "static_shape": static})


def conv2d_grad_wrt_weights(
    input: Any,  # noqa: A002 - Theano's name
    output_grad: Any,
    filter_shape: Any,
    input_shape: Sequence[Any] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> TensorVariable:
    """The gradient of ``conv2d`` with respect to its filters, of shape ``filter_shape``."""
    x = as_tensor_variable(input)
    gy = as_tensor_variable(output_grad)
    _static_dims(x, _hint_dims(input_shape, "input_shape"), "the input")
    shape, static = _shape_operand(filter_shape, "conv2d_grad_wrt_weights: filter_shape")
    kernel = tuple(None if d < 0 else d for d in static[2:])
    attrs = _conv_attrs(border_mode, kernel, subsample, filter_flip, filter_dilation, num_groups)
    return apply_values("tir.conv2d_grad_filters", [x.value, gy.value, shape.value],
                        {**attrs, "static_shape": static})


def conv2d_transpose(
    input: Any,  # noqa: A002 - Theano's name
    filters: Any,
    output_shape: Any,
    filter_shape: Sequence[Any] | None = None,
    border_mode: Any = "valid",
    input_dilation: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> TensorVariable:
    """Transposed convolution: the input gradient of a conv2d with stride ``input_dilation``."""
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape, border_mode, input_dilation,
                                  filter_flip, filter_dilation, num_groups)


# -- batch normalization -------------------------------------------------------------------------------
def batch_normalization(inputs: Any, gamma: Any, beta: Any, mean: Any, std: Any,
                        mode: str = "low_mem") -> TensorVariable:
    """``(inputs - mean) * gamma / std + beta``, elementwise with broadcasting (Theano's ``bn``).

    ``mode`` is 'low_mem' or 'high_mem' (Theano's choice of graph; both compute the same values,
    'high_mem' as ``(inputs - mean) * (gamma / std) + beta``).
    """
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got {mode!r}")
    x = as_tensor_variable(inputs)
    if mode == "high_mem":
        return (x - mean) * (as_tensor_variable(gamma) / std) + beta
    return (x - mean) * gamma / std + beta


def _bn_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0, *range(2, ndim))
    if isinstance(axes, str):
        raise ValueError(f"axes must be 'per-activation', 'spatial' or a tuple of ints, got {axes!r}")
    return tuple(sorted(int(a) % ndim for a in axes))


def batch_normalization_train(
    inputs: Any,
    gamma: Any,
    beta: Any,
    axes: Any = "per-activation",
    epsilon: float = 1e-4,
    running_average_factor: float = 0.1,
    running_mean: Any = None,
    running_var: Any = None,
) -> tuple[TensorVariable, ...]:
    """Normalize with the batch statistics over ``axes``; returns ``(out, mean, invstd)``.

    With ``running_mean`` and ``running_var``, also their new values (the variance with Bessel's
    correction), to use as updates of shared variables.
    """
    from tensorir.frontend.basic import sqrt

    x = as_tensor_variable(inputs)
    ax = _bn_axes(axes, x.ndim)
    mean = x.mean(axis=ax, keepdims=True)
    var = x.var(axis=ax, keepdims=True)
    invstd = 1.0 / sqrt(var + epsilon)
    out = (x - mean) * invstd * gamma + beta
    results: list[TensorVariable] = [out, mean, invstd]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_normalization_train: give both running_mean and running_var, or neither")
    if running_mean is not None:
        count = None
        for a in ax:
            d = x.shape[a]
            count = d if count is None else count * d
        factor = running_average_factor
        results.append(as_tensor_variable(running_mean) * (1.0 - factor) + mean * factor)
        unbiased = var * count / (count - 1) if count is not None else var
        results.append(as_tensor_variable(running_var) * (1.0 - factor) + unbiased * factor)
    return tuple(results)


def batch_normalization_test(inputs: Any, gamma: Any, beta: Any, mean: Any, var: Any,
                             axes: Any = "per-activation", epsilon: float = 1e-4) -> TensorVariable:
    """Normalize with given statistics: ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``."""
    from tensorir.frontend.basic import sqrt

    x = as_tensor_variable(inputs)
    _bn_axes(axes, x.ndim)
    return (x - mean) * gamma / sqrt(as_tensor_variable(var) + epsilon) + beta


# -- dropout -------------------------------------------------------------------------------------------
_default_streams: Any = None


def dropout(input: Any, p: float = 0.5, srng: Any = None, rescale: bool = True,  # noqa: A002
            deterministic: bool = False) -> TensorVariable:
    """Zero each element with probability ``p`` (a fresh mask at every call of the function).

    The mask is drawn from ``srng`` (a ``RandomStreams``; a module-wide one seeded 12345 when
    None). With ``rescale`` the kept elements are divided by ``1 - p`` so the expectation is
    unchanged; ``deterministic=True`` (evaluation) returns the input as it is.
    """
    global _default_streams
    x = as_tensor_variable(input)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if deterministic or p == 0.0:
        return x
    if srng is None:
        if _default_streams is None:
            from tensorir.frontend.random_streams import MRG_RandomStreams

            _default_streams = MRG_RandomStreams()
        srng = _default_streams
    retain = 1.0 - p
    mask = srng.binomial(x.shape, n=1, p=retain, dtype=x.dtype)
    out = x * mask
    return out / retain if rescale else out


__all__ = [
    "batch_normalization",
    "batch_normalization_test",
    "batch_normalization_train",
    "border_mode_padding",
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv2d_transpose",
    "dropout",
]
