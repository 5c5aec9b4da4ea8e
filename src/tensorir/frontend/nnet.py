"""``T.nnet``: activations, the softmax family and cross-entropies (Theano's names and semantics).

Stable ops stand behind the naive formulas: ``log_softmax``, ``logsumexp``, the fused
``softmax_crossentropy`` (``crossentropy_softmax_1hot``) and ``sigmoid_binary_crossentropy``. The
tutorial form ``-mean(log(softmax(z))[arange(n), y])`` is built as written; the stabilize rewrites
turn it into the fused op. Convolutions, pooling and batch normalization come from ``conv_nnet``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.reduction import normalize_axis
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, upgrade_to_float
from tensorir.frontend import basic
from tensorir.frontend.basic import sigmoid, softplus
from tensorir.frontend.config import config
from tensorir.frontend.shape_ops import shape_padleft
from tensorir.frontend.variable import (
    GraphError,
    TensorVariable,
    apply_values,
    as_tensor_variable,
    weak_operands,
)

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "crossentropy_categorical_1hot",
    "crossentropy_softmax_1hot",
    "crossentropy_softmax_1hot_with_bias",
    "crossentropy_softmax_argmax_1hot_with_bias",
    "elu",
    "hard_sigmoid",
    "log_softmax",
    "logsoftmax",
    "logsumexp",
    "one_hot",
    "relu",
    "selu",
    "sigmoid",
    "sigmoid_binary_crossentropy",
    "softmax",
    "softmax_graph",
    "softmax_with_bias",
    "softplus",
    "softsign",
    "to_one_hot",
    "ultra_fast_sigmoid",
]

# ``sigmoid`` and ``softplus`` (imported above) are the elementwise functions of ``T`` itself: the
# same objects, so ``activation == T.nnet.sigmoid`` checks in user code hold.


# -- activations -----------------------------------------------------------------------------------
def ultra_fast_sigmoid(x: Any) -> TensorVariable:
    """Theano's piecewise-linear/rational approximation of ``sigmoid`` (max error about 0.02).

    With ``h = |x| / 2``: ``z = 1.5 h / (1 + h)`` for ``h < 1.7``, ``0.9354 + 0.0459 (h - 1.7)``
    for ``h < 3``, else ``0.99505``; the result is ``(1 + sign(x) z) / 2``.
    """
    v = _float_operand(x)
    half = 0.5 * v
    h = abs(half)
    rational = 1.5 * h / (1.0 + h)
    linear = 0.935409070603099 + 0.0458812946797165 * (h - 1.7)
    z = basic.switch(h < 1.7, rational, basic.switch(h < 3.0, linear, 0.99505475368673))
    return 0.5 * (basic.switch(half >= 0, z, -z) + 1.0)


def hard_sigmoid(x: Any) -> TensorVariable:
    """``clip(0.2 x + 0.5, 0, 1)``, computed in ``x``'s float dtype."""
    v = _float_operand(x)
    return basic.clip(v * 0.2 + 0.5, 0.0, 1.0)


def relu(x: Any, alpha: Any = 0) -> TensorVariable:
    """Rectifier ``max(x, alpha x)``, written as Theano does: ``0.5 (x + |x|)`` for ``alpha = 0``,
    else ``0.5 (1 + alpha) x + 0.5 (1 - alpha) |x|`` (gradient 0.5 at 0; ``alpha`` may be symbolic)."""
    v = as_tensor_variable(x)
    # The formula alone gives nan at -inf (-inf + inf): negative x take their branch through a
    # switch, which keeps nan as nan and the formula's gradient 0.5 at 0. ``0.5 x + 0.5 |x|``
    # rather than ``0.5 (x + |x|)``, which overflows to inf for x above half the largest float.
    if isinstance(alpha, int | float) and alpha == 0:
        return basic.switch(v < 0, 0, 0.5 * v + 0.5 * abs(v))
    a = alpha if isinstance(alpha, int | float) else as_tensor_variable(alpha)
    f1 = 0.5 * (1 + a)
    f2 = 0.5 * (1 - a)
    return basic.switch(v < 0, a * v, f1 * v + f2 * abs(v))


def elu(x: Any, alpha: Any = 1) -> TensorVariable:
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * expm1(x)``."""
    v = _float_operand(x)
    return basic.switch(v > 0, v, alpha * basic.expm1(v))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> TensorVariable:
    """Scaled ELU (Klambauer et al. 2017): ``scale * elu(x, alpha)`` with the self-normalizing constants."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def softsign(x: Any) -> TensorVariable:
    """``x / (1 + |x|)``."""
    v = as_tensor_variable(x)
    return v / (1.0 + abs(v))


# -- softmax family --------------------------------------------------------------------------------
def _float_operand(x: Any) -> TensorVariable:
    v = as_tensor_variable(x)
    if v.dtype not in FLOAT_DTYPES:
        v = basic.cast(v, upgrade_to_float(v.dtype) if v.dtype in INT_DTYPES | {"bool"} else config.floatX)
    return v


def _rows(x: Any, what: str) -> TensorVariable:
    """The operand of a softmax: a vector becomes a one-row matrix, as Theano did (deprecated)."""
    v = as_tensor_variable(x)
    if v.ndim == 0:
        raise GraphError(f"{what} needs a tensor with a class axis, got a scalar")
    if v.ndim == 1:
        warnings.warn(
            f"{what} of a vector treats it as a one-row matrix (Theano's behaviour) and returns a "
            "matrix of shape (1, n); pad it yourself (x.dimshuffle('x', 0)) to keep this result",
            DeprecationWarning,
            stacklevel=3,
        )
        v = shape_padleft(v)
    return v


def _axis_attr(v: TensorVariable, axis: int, what: str) -> int:
    if not -v.ndim <= int(axis) < v.ndim:
        raise GraphError(f"{what}: axis {axis} is out of range for a tensor of rank {v.ndim}")
    return int(axis)


def softmax(x: Any, axis: int = -1) -> TensorVariable:
    """``exp(x) / sum(exp(x), axis)``, computed stably; row-wise on a matrix (Theano's softmax)."""
    v = _rows(x, "softmax")
    return apply_values("tir.softmax", [v.value], {"axis": _axis_attr(v, axis, "softmax")})


def softmax_graph(c: Any) -> TensorVariable:
    """The softmax written out, ``exp(c) / exp(c).sum(-1, keepdims=True)`` (no max subtraction)."""
    v = as_tensor_variable(c)
    e = basic.exp(v)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_with_bias(x: Any, b: Any) -> TensorVariable:
    """``softmax(x + b)`` with the bias vector ``b`` added to every row."""
    v, bias = weak_operands(x, b)
    return softmax(v + bias)


def log_softmax(x: Any, axis: int = -1) -> TensorVariable:
    """``log(softmax(x))`` computed as ``x - logsumexp(x, axis)``: finite where softmax underflows."""
    v = _rows(x, "log_softmax")
    return apply_values("tir.log_softmax", [v.value], {"axis": _axis_attr(v, axis, "log_softmax")})


logsoftmax = log_softmax


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
    """``log(sum(exp(x), axis))`` computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``."""
    v = as_tensor_variable(x)
    try:
        ax = normalize_axis(axis, v.ndim)
    except IRError as exc:
        raise GraphError(f"logsumexp: {exc}") from None
    return apply_values("tir.logsumexp", [v.value], {"axis": ax, "keepdims": bool(keepdims)})


# -- one-hot and cross-entropies -------------------------------------------------------------------
def to_one_hot(y: Any, nb_class: Any, dtype: Any = None) -> TensorVariable:
    """``out[i, c] = (y[i] == c)``: integer labels to a one-hot matrix of ``nb_class`` columns
    (``dtype`` defaults to ``floatX``)."""
    labels = as_tensor_variable(y)
    if labels.dtype not in INT_DTYPES:
        raise GraphError(f"to_one_hot: labels must be integers, got dtype {labels.dtype}")
    n = nb_class
    if isinstance(nb_class, TensorVariable):
        n = constant_value(nb_class.value)
        if n is None:
            raise GraphError("to_one_hot: nb_class must be known when the graph is built (int or constant)")
    n = int(np.asarray(n))
    if n < 0:
        raise GraphError(f"to_one_hot: nb_class must be >= 0, got {n}")
    dtype = config.floatX if dtype is None or dtype == "floatX" else dtype
    return apply_values("tir.one_hot", [labels.value], {"nb_class": n, "dtype": dtype})


one_hot = to_one_hot


def categorical_crossentropy(coding_dist: Any, true_dist: Any) -> TensorVariable:
    """Cross-entropy between predicted class probabilities and the truth, one value per row.

    ``true_dist`` is either integer labels (``-log(coding_dist[i, true_dist[i]])``) or a one-hot /
    probability matrix shaped like ``coding_dist`` (``-sum(true_dist * log(coding_dist), -1)``).
    """
    p = as_tensor_variable(coding_dist)
    t = as_tensor_variable(true_dist)
    if t.ndim == p.ndim - 1 and t.dtype not in INT_DTYPES:
        raise GraphError(f"categorical_crossentropy: labels of rank {t.ndim} must be integers, got {t.dtype}")
    return apply_values("tir.crossentropy_categorical", [p.value, t.value], {})


def crossentropy_categorical_1hot(coding_dist: Any, true_one_of_n: Any) -> TensorVariable:
    """``-log(coding_dist[i, true_one_of_n[i]])`` for integer labels (Theano's op of that name)."""
    t = as_tensor_variable(true_one_of_n)
    if t.dtype not in INT_DTYPES:
        raise GraphError(f"crossentropy_categorical_1hot: labels must be integers, got {t.dtype}")
    return categorical_crossentropy(coding_dist, t)


def binary_crossentropy(output: Any, target: Any) -> TensorVariable:
    """``-(target * log(output) + (1 - target) * log(1 - output))`` on probabilities ``output``."""
    o, t = weak_operands(output, target)
    return -(t * basic.log(o) + (1.0 - t) * basic.log(1.0 - o))


def sigmoid_binary_crossentropy(output: Any, target: Any) -> TensorVariable:
    """``binary_crossentropy(sigmoid(output), target)`` from the logits ``output``, computed as
    ``max(x, 0) - x t + log1p(exp(-|x|))``: finite for any logit."""
    x, t = weak_operands(output, target)
    if t.dtype not in FLOAT_DTYPES and x.dtype in FLOAT_DTYPES:
        t = basic.cast(t, x.dtype)
    return apply_values("tir.sigmoid_binary_crossentropy", [x.value, t.value], {})


def _softmax_crossentropy(x: TensorVariable, y_idx: Any, what: str) -> TensorVariable:
    labels = as_tensor_variable(y_idx)
    if labels.dtype not in INT_DTYPES:
        raise GraphError(f"{what}: labels must be integers, got dtype {labels.dtype}")
    return apply_values("tir.softmax_crossentropy", [x.value, labels.value], {})


def crossentropy_softmax_1hot(x: Any, y_idx: Any) -> tuple[TensorVariable, TensorVariable]:
    """``(nll, softmax(x))`` with ``nll[i] = -log(softmax(x)[i, y_idx[i]])`` computed stably as
    ``logsumexp(x[i]) - x[i, y_idx[i]]`` (the fused ``tir.softmax_crossentropy``)."""
    v = as_tensor_variable(x)
    return _softmax_crossentropy(v, y_idx, "crossentropy_softmax_1hot"), softmax(v)


def crossentropy_softmax_1hot_with_bias(x: Any, b: Any, y_idx: Any) -> tuple[TensorVariable, TensorVariable]:
    """``crossentropy_softmax_1hot(x + b, y_idx)``."""
    v, bias = weak_operands(x, b)
    return crossentropy_softmax_1hot(v + bias, y_idx)


def crossentropy_softmax_argmax_1hot_with_bias(
    x: Any, b: Any, y_idx: Any
) -> tuple[TensorVariable, TensorVariable, TensorVariable]:
    """``(nll, softmax(x + b), argmax(x + b, -1))``: Theano's fused training op, as three results."""
    v, bias = weak_operands(x, b)
    z = v + bias
    nll, sm = crossentropy_softmax_1hot(z, y_idx)
    return nll, sm, basic.argmax(z, axis=-1)


# -- convolution, pooling and normalization (owned by ``conv_nnet``) --------------------------------
from tensorir.frontend import conv_nnet as _conv  # noqa: E402 - after the names conv_nnet may import

__all__ += _conv.__all__
globals().update({_name: getattr(_conv, _name) for _name in _conv.__all__})
