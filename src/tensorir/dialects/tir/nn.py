"""Neural-network ops: the softmax family, cross-entropies and one-hot encoding.

Every op here is the numerically stable form of a formula that overflows when written naively;
the docstrings state the math. The stabilize rewrites turn the naive graphs into these ops
(``log(softmax(x)) -> log_softmax(x)``, ``-log(softmax(z))[arange(n), y] -> softmax_crossentropy(z, y)``).

Class labels are integers along the last axis of the scores; a label outside ``[0, n_classes)``
is a run-time error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.tir.elementwise import Elementwise
from tensorir.dialects.tir.expr import Ex
from tensorir.dialects.tir.reduction import Reduction, expand_reduced
from tensorir.dialects.types import (
    FLOAT_DTYPES,
    INT_DTYPES,
    Dim,
    TensorType,
    normalize_dtype,
    upcast,
    upgrade_to_float,
)


# -- stable NumPy kernels --------------------------------------------------------------------------
def _shifted_max(x: np.ndarray, axis: Any) -> np.ndarray:
    """``max(x, axis, keepdims)`` with non-finite maxima (all -inf, empty) replaced by 0."""
    if x.size == 0:
        axes = range(x.ndim) if axis is None else [int(a) % x.ndim for a in np.atleast_1d(axis)]
        return np.zeros([1 if i in axes else d for i, d in enumerate(x.shape)], dtype=x.dtype)
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)


def _row_max(x: np.ndarray, axis: Any) -> np.ndarray:
    """``max(x, axis, keepdims)`` as it is (0 for an empty ``x``): softmax's shift. A row holding
    +inf or nan, or only -inf, then gives nan everywhere, as the formula and SciPy do."""
    if x.size == 0:
        return _shifted_max(x, axis)
    return np.max(x, axis=axis, keepdims=True)


def logsumexp_numpy(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x)))`` as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``: no overflow."""
    m = _shifted_max(x, axis)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def softmax_numpy(x: np.ndarray, axis: int) -> np.ndarray:
    """``exp(x - m) / sum(exp(x - m))`` with ``m = max(x, axis)``: no overflow, no 0/0 for big x;
    a row holding +inf or nan, or only -inf, is nan (``inf - inf``), as in SciPy."""
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - _row_max(x, axis))
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax_numpy(x: np.ndarray, axis: int) -> np.ndarray:
    """``(x - m) - log(sum(exp(x - m)))``: exact where ``log(softmax(x))`` gives ``log(0) = -inf``.

    Subtracting ``m`` before the log-sum keeps the precision of results near 0 when ``|x|`` is
    large (``x - logsumexp(x)`` would round at the magnitude of ``x``).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shifted = x - _row_max(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _check_labels(y: np.ndarray, n_classes: int) -> None:
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)].ravel()[0]
        raise ValueError(f"class label {int(bad)} out of range [0, {n_classes})")


def _pick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x[..., y]`` per row: the entry of each row's label."""
    _check_labels(y, x.shape[-1])
    return np.take_along_axis(x, y[..., None].astype(np.intp), axis=-1)[..., 0]


# -- shared type helpers ---------------------------------------------------------------------------
def _merge(a: Sequence[Dim], b: Sequence[Dim], what: str) -> tuple[Dim, ...]:
    """Two shapes that must be equal at run time: static dims win, static mismatches raise."""
    out: list[Dim] = []
    for i, (p, q) in enumerate(zip(a, b)):
        if p is not None and q is not None and p != q:
            raise IRError(f"{what}: dim {i} differs ({p} vs {q})")
        out.append(p if p is not None else q)
    return tuple(out)


def _axis(t: TensorType, axis: int, name: str) -> int:
    if not -t.ndim <= axis < t.ndim:
        raise IRError(f"{name}: axis {axis} is out of range for an operand of type {t}")
    return axis % t.ndim


def _labels_type(name: str, scores: TensorType, labels: TensorType) -> tuple[Dim, ...]:
    """Check integer labels of rank ``scores.ndim - 1``; the shape of one value per row."""
    if scores.ndim < 1:
        raise IRError(f"{name}: scores must have a class axis, got {scores}")
    if labels.dtype not in INT_DTYPES:
        raise IRError(f"{name}: class labels must be integers, got {labels}")
    if labels.ndim != scores.ndim - 1:
        raise IRError(f"{name}: labels {labels} do not match scores {scores} (need rank {scores.ndim - 1})")
    return _merge(scores.shape[:-1], labels.shape, f"{name}: labels {labels} vs scores {scores}")


def _keep_last(b: Builder, v: Value) -> Value:
    """A per-row value with a new trailing axis, to broadcast against the scores."""
    return b.op("tir.dimshuffle", v, pattern=tuple(range(v.type.ndim)) + (-1,))


# -- softmax and log-softmax -----------------------------------------------------------------------
class AxisNormalization(OpDef):
    """Family base: an op normalizing along one ``axis`` (default -1); result shaped like x, float."""

    arity = 1
    fusion = "opaque"
    attributes = {"axis": -1}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["axis"] = int(out["axis"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        (t,) = types
        if t.dtype not in FLOAT_DTYPES | INT_DTYPES | {"bool"}:
            raise IRError(f"{self.name}: operand must be real, got {t}")
        _axis(t, attrs["axis"], self.name)
        return [TensorType(upgrade_to_float(t.dtype), t.shape)]

    def axis_of(self, op: Operation) -> tuple[int]:
        return (op.attributes["axis"] % op.operands[0].type.ndim,)

    def _float_input(self, x: np.ndarray, types: Sequence[TensorType]) -> np.ndarray:
        return np.asarray(x, dtype=types[0].dtype)


class Softmax(AxisNormalization):
    """``softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m)``, ``m = max_j x_j`` along ``axis``.

    vjp: with ``z = softmax(x)``, ``dx = z * (g - sum(g * z, axis))`` (the Jacobian
    ``diag(z) - z z^T`` applied without forming it); it is symmetric, so the jvp is the same formula.
    """

    name = "tir.softmax"

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x = self._float_input(inputs[0], types)
        return [cast_result(softmax_numpy(x, attrs["axis"]), types[0])]

    def _apply_jacobian(self, b: Builder, op: Operation, v: Value) -> Value:
        z = Ex(b, op.results[0])
        g = Ex(b, v).cast(z.dtype)
        return (z * (g - (g * z).sum(self.axis_of(op), keepdims=True))).v

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        x = op.operands[0]
        if grads[0] is None or x.type.dtype not in FLOAT_DTYPES:
            return [None]
        return [Ex(b, self._apply_jacobian(b, op, grads[0])).cast(x.type.dtype).v]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        if tangents[0] is None or op.operands[0].type.dtype not in FLOAT_DTYPES:
            return [None]
        return [self._apply_jacobian(b, op, tangents[0])]


class LogSoftmax(AxisNormalization):
    """``log_softmax(x) = x - m - log(sum(exp(x - m)))``, ``m = max(x)`` along ``axis``.

    Finite wherever ``x`` is, unlike ``log(softmax(x))`` which is ``-inf`` once ``softmax``
    underflows. vjp: ``dx = g - exp(z) * sum(g, axis)``; jvp: ``dz = t - sum(exp(z) * t, axis)``,
    with ``z = log_softmax(x)`` so ``exp(z) = softmax(x)`` never overflows.
    """

    name = "tir.log_softmax"

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x = self._float_input(inputs[0], types)
        return [cast_result(log_softmax_numpy(x, attrs["axis"]), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        x = op.operands[0]
        if grads[0] is None or x.type.dtype not in FLOAT_DTYPES:
            return [None]
        z = Ex(b, op.results[0])
        g = Ex(b, grads[0]).cast(z.dtype)
        dx = g - z.exp() * g.sum(self.axis_of(op), keepdims=True)
        return [dx.cast(x.type.dtype).v]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        if tangents[0] is None or op.operands[0].type.dtype not in FLOAT_DTYPES:
            return [None]
        z = Ex(b, op.results[0])
        t = Ex(b, tangents[0]).cast(z.dtype)
        return [(t - (z.exp() * t).sum(self.axis_of(op), keepdims=True)).v]


# -- logsumexp -------------------------------------------------------------------------------------
def _np_logsumexp(x: np.ndarray, axis: Any, keepdims: bool, out_dtype: str) -> np.ndarray:
    return logsumexp_numpy(np.asarray(x, dtype=out_dtype), axis=axis, keepdims=keepdims)


def _grad_logsumexp(b: Builder, op: Operation, g: Ex) -> Ex:
    # d lse / dx = exp(x - lse) = softmax(x) over the reduced axes.
    x = Ex(b, op.operands[0])
    z = expand_reduced(b, Ex(b, op.results[0]), op.attributes, x.ndim)
    return expand_reduced(b, g, op.attributes, x.ndim) * (x.cast(z.dtype) - z).exp()


class LogSumExp(Reduction):
    """``logsumexp(x, axis, keepdims) = m + log(sum(exp(x - m)))``, ``m = max(x, axis)``.

    Exact for huge ``|x|`` (``logsumexp([800, 800]) = 800 + log 2``); an empty reduction is
    ``-inf``. vjp: ``dx = g * exp(x - z)``; jvp: ``dz = sum(t * exp(x - z), axis)``.
    """

    def __init__(self) -> None:
        super().__init__("tir.logsumexp", _np_logsumexp, upgrade_to_float, _grad_logsumexp, identity=-np.inf)

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        x = op.operands[0]
        if tangents[0] is None or x.type.dtype not in FLOAT_DTYPES:
            return [None]
        z = expand_reduced(b, Ex(b, op.results[0]), op.attributes, x.type.ndim)
        t = Ex(b, tangents[0]).cast(z.dtype)
        weights = (Ex(b, x).cast(z.dtype) - z).exp()
        return [(t * weights).op("tir.sum", axis=op.attributes["axis"], keepdims=op.attributes["keepdims"]).v]


# -- one-hot ---------------------------------------------------------------------------------------
class OneHot(OpDef):
    """``one_hot(y[, like])``: ``out[..., c] = (y[...] == c)`` as ``dtype``, ``c < nb_class``.

    ``nb_class`` is static, or -1 to take the number of classes at run time from the last dim of
    the optional operand ``like`` (whose values are not read), as gradients of the cross-entropies
    need for a dynamic class count.
    """

    name = "tir.one_hot"
    fusion = "opaque"
    differentiable = False
    attributes = {"nb_class": REQUIRED, "dtype": "float64"}

    def check_arity(self, n: int) -> None:
        if n not in (1, 2):
            raise IRError(f"tir.one_hot takes 1 or 2 operands, got {n}")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["nb_class"] = int(out["nb_class"])
        out["dtype"] = normalize_dtype(out["dtype"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        y = types[0]
        if y.dtype not in INT_DTYPES:
            raise IRError(f"tir.one_hot: labels must be integers, got {y}")
        n = attrs["nb_class"]
        if n == -1:
            if len(types) != 2 or types[1].ndim < 1:
                raise IRError("tir.one_hot: nb_class=-1 needs a second operand (its last dim is the count)")
            classes: Dim = types[1].shape[-1]
        elif n < 0:
            raise IRError(f"tir.one_hot: nb_class must be >= 0 (or -1), got {n}")
        else:
            classes = n
        return [TensorType(attrs["dtype"], y.shape + (classes,))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        y = inputs[0]
        n = attrs["nb_class"] if attrs["nb_class"] >= 0 else inputs[1].shape[-1]
        _check_labels(y, n)
        return [(y[..., None] == np.arange(n)).astype(attrs["dtype"])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        return [None] * len(op.operands)


def _one_hot_like(b: Builder, labels: Value, scores: Value, dtype: str) -> Ex:
    n = scores.type.shape[-1]
    if n is not None:
        return Ex(b, b.op("tir.one_hot", labels, nb_class=n, dtype=dtype))
    return Ex(b, b.op("tir.one_hot", labels, scores, nb_class=-1, dtype=dtype))


# -- cross-entropies -------------------------------------------------------------------------------
class SoftmaxCrossentropy(OpDef):
    """``softmax_crossentropy(z, y) = -log(softmax(z)[..., y]) = logsumexp(z) - z[..., y]``.

    The fused stable form of a softmax followed by the categorical cross-entropy with integer
    labels (classes on the last axis of ``z``; one loss per row). Finite for any finite ``z``:
    ``z = [800, -800]`` with label 1 gives exactly 1600. vjp: ``dz = g * (softmax(z) - onehot(y))``;
    jvp: ``sum(t * (softmax(z) - onehot(y)), -1)``.
    """

    name = "tir.softmax_crossentropy"
    arity = 2
    fusion = "opaque"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        z, y = types
        if z.dtype not in FLOAT_DTYPES | INT_DTYPES:
            raise IRError(f"{self.name}: scores must be real, got {z}")
        return [TensorType(upgrade_to_float(z.dtype), _labels_type(self.name, z, y))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        z, y = inputs
        z = np.asarray(z, dtype=types[0].dtype)
        # log(sum(exp(z - m))) - (z[y] - m): the shift by the row max m cancels exactly.
        shifted = z - _shifted_max(z, -1)
        picked = _pick(shifted, y)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            loss = np.log(np.sum(np.exp(shifted), axis=-1)) - picked
        return [cast_result(loss, types[0])]

    def _dlogits(self, b: Builder, op: Operation) -> Ex:
        """``softmax(z) - onehot(y)``: d loss / d z."""
        z, y = op.operands
        dtype = op.results[0].type.dtype
        sm = Ex(b, b.op("tir.softmax", z, axis=-1))
        return sm - _one_hot_like(b, y, z, dtype)

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        z, y = op.operands
        if grads[0] is None or z.type.dtype not in FLOAT_DTYPES:
            return [None, None]
        g = Ex(b, grads[0]).cast(op.results[0].type.dtype)
        return [Ex(b, b.op("tir.softmax_crossentropy_grad", g.v, z, y)).cast(z.type.dtype).v, None]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        z = op.operands[0]
        if tangents[0] is None or z.type.dtype not in FLOAT_DTYPES:
            return [None]
        t = Ex(b, tangents[0]).cast(op.results[0].type.dtype)
        return [(t * self._dlogits(b, op)).sum((z.type.ndim - 1,)).v]


class SoftmaxCrossentropyGrad(OpDef):
    """``softmax_crossentropy_grad(dy, z, y) = dy[..., None] * (softmax(z) - onehot(y))``.

    The gradient of :class:`SoftmaxCrossentropy` with respect to the scores ``z`` for the
    cotangent ``dy`` of its per-row losses (Theano's ``crossentropy_softmax_1hot_with_bias_dx``,
    with ``z`` in place of its softmax): one pass over each row instead of a softmax, a one-hot
    and a product. ``dy`` broadcasts to the labels' shape. vjp: ``d dy = sum(G * (softmax(z) -
    onehot(y)), -1)``, ``dz = softmax'(z)^T (G * dy[..., None])``.
    """

    name = "tir.softmax_crossentropy_grad"
    arity = 3
    fusion = "opaque"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dy, z, y = types
        if z.dtype not in FLOAT_DTYPES or dy.dtype not in FLOAT_DTYPES:
            raise IRError(f"{self.name}: scores and cotangents must be floats, got {z} and {dy}")
        rows = _labels_type(self.name, z, y)
        if dy.ndim > len(rows) or not all(
            a is None or b is None or a in (1, b) for a, b in zip(dy.shape[::-1], rows[::-1])
        ):
            raise IRError(f"{self.name}: cotangent {dy} does not broadcast to the labels' shape {rows}")
        return [TensorType(upcast(z.dtype, dy.dtype), (*rows, z.shape[-1]))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dy, z, y = inputs
        dtype = types[0].dtype
        z = np.asarray(z, dtype=dtype)
        if y.shape != z.shape[:-1]:
            raise ValueError(f"labels of shape {y.shape} do not match scores of shape {z.shape}")
        _check_labels(y, z.shape[-1])
        dy = np.broadcast_to(np.asarray(dy, dtype=dtype), y.shape)
        one_hot = (y[..., None] == np.arange(z.shape[-1])).astype(dtype)
        return [cast_result(dy[..., None] * (softmax_numpy(z, -1) - one_hot), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        if grads[0] is None:
            return [None, None, None]
        dy, z, y = op.operands
        dtype = op.results[0].type.dtype
        g = Ex(b, grads[0]).cast(dtype)
        sm = Ex(b, b.op("tir.softmax", z, axis=-1)).cast(dtype)
        d_dy = (g * (sm - _one_hot_like(b, y, z, dtype))).sum((z.type.ndim - 1,))
        h = g * Ex(b, _keep_last(b, dy)).cast(dtype)
        dz = sm * (h - (h * sm).sum((z.type.ndim - 1,), keepdims=True))
        return [_sum_to(b, d_dy, dy).cast(dy.type.dtype).v, dz.cast(z.type.dtype).v, None]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        dy, z, y = op.operands
        dtype = op.results[0].type.dtype
        terms: list[Ex] = []
        sm = Ex(b, b.op("tir.softmax", z, axis=-1)).cast(dtype)
        if tangents[0] is not None:
            t = Ex(b, _keep_last(b, tangents[0])).cast(dtype)
            terms.append(t * (sm - _one_hot_like(b, y, z, dtype)))
        if tangents[1] is not None:
            t = Ex(b, tangents[1]).cast(dtype)
            d_sm = sm * (t - (sm * t).sum((z.type.ndim - 1,), keepdims=True))
            terms.append(Ex(b, _keep_last(b, dy)).cast(dtype) * d_sm)
        if not terms:
            return [None]
        return [(terms[0] if len(terms) == 1 else terms[0] + terms[1]).v]


def _sum_to(b: Builder, grad: Ex, like: Value) -> Ex:
    """``grad`` summed down to ``like``'s (broadcast) shape."""
    return Ex(b, b.op("tir.sum_to", grad.v, like))


class CrossentropyCategorical(OpDef):
    """Categorical cross-entropy of predicted probabilities ``p`` (classes on the last axis).

    With integer labels ``t`` (rank ``p.ndim - 1``): ``-log(p[..., t])``. With a one-hot or
    probability target ``t`` shaped like ``p``: ``-sum(t * log(p), -1)`` where a zero target
    entry contributes 0 even where ``p`` is 0 (``xlogy``), so a one-hot target with exact zeros in
    ``p`` elsewhere stays finite. vjp (labels): ``dp = -g / p`` at the label, 0 elsewhere;
    (targets): ``dp = -g * t / p`` (0 where ``t`` is 0), ``dt = -g * log(p)``.
    """

    name = "tir.crossentropy_categorical"
    arity = 2
    fusion = "opaque"

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        p, t = types
        if p.dtype not in FLOAT_DTYPES | INT_DTYPES:
            raise IRError(f"{self.name}: probabilities must be real, got {p}")
        if t.ndim == p.ndim - 1:
            return [TensorType(upgrade_to_float(p.dtype), _labels_type(self.name, p, t))]
        if t.ndim != p.ndim or p.ndim < 1:
            raise IRError(
                f"{self.name}: the target must be integer labels of rank {p.ndim - 1} or a distribution "
                f"shaped like the coding distribution {p}, got {t}"
            )
        shape = _merge(p.shape, t.shape, f"{self.name}: target {t} vs coding distribution {p}")
        return [TensorType(upgrade_to_float(upcast(p.dtype, t.dtype)), shape[:-1])]

    @staticmethod
    def _labels(op: Operation) -> bool:
        return op.operands[1].type.ndim == op.operands[0].type.ndim - 1

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        p, t = inputs
        dtype = types[0].dtype
        with np.errstate(divide="ignore", invalid="ignore"):
            if t.ndim == p.ndim - 1:
                return [cast_result(-np.log(_pick(np.asarray(p, dtype=dtype), t)), types[0])]
            if p.shape != t.shape:
                raise ValueError(f"target shape {t.shape} differs from coding distribution shape {p.shape}")
            p, t = np.asarray(p, dtype=dtype), np.asarray(t, dtype=dtype)
            terms = np.where(t != 0, t * np.log(p), 0)
            return [cast_result(-np.sum(terms, axis=-1), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        p, t = (Ex(b, v) for v in op.operands)
        if grads[0] is None:
            return [None, None]
        dtype = op.results[0].type.dtype
        g = Ex(b, _keep_last(b, grads[0])).cast(dtype)
        pf = p.cast(dtype)
        zero = Ex(b, b.constant(np.zeros((), dtype=dtype)))
        if self._labels(op):
            mask = _one_hot_like(b, t.v, p.v, "bool")
            dp = mask.where(-(g / pf), zero)
            return [dp.cast(p.dtype).v if p.dtype in FLOAT_DTYPES else None, None]
        tf = t.cast(dtype)
        dp = -(g * tf.op("tir.neq", zero).where(tf / pf, zero))
        dt = -(g * pf.log())
        return [
            dp.cast(p.dtype).v if p.dtype in FLOAT_DTYPES else None,
            dt.cast(t.dtype).v if t.dtype in FLOAT_DTYPES else None,
        ]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        p, t = (Ex(b, v) for v in op.operands)
        dtype = op.results[0].type.dtype
        zero = Ex(b, b.constant(np.zeros((), dtype=dtype)))
        pf = p.cast(dtype)
        terms: list[Ex] = []
        tp = tangents[0]
        if tp is not None and p.dtype in FLOAT_DTYPES:
            tpf = Ex(b, tp).cast(dtype)
            if self._labels(op):
                mask = _one_hot_like(b, t.v, p.v, "bool")
                terms.append(mask.where(-(tpf / pf), zero))
            else:
                tf = t.cast(dtype)
                terms.append(-(tf.op("tir.neq", zero).where(tf * tpf / pf, zero)))
        tt = tangents[1]
        if tt is not None and not self._labels(op) and t.dtype in FLOAT_DTYPES:
            terms.append(-(Ex(b, tt).cast(dtype) * pf.log()))
        if not terms:
            return [None]
        total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return [total.sum((p.ndim - 1,)).v]


# -- sigmoid cross-entropy on logits ---------------------------------------------------------------
def _sigmoid_bce(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    # -(t log s(x) + (1 - t) log(1 - s(x))) = max(x, 0) - x t + log1p(exp(-|x|)).
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def _d_sigmoid_bce(x: Ex, t: Ex, z: Ex, g: Ex) -> list[Ex]:
    return [g * (x.sigmoid() - t.cast(x.dtype)), -(g * x.cast(g.dtype))]


def _float_rule(dtypes: Sequence[str], attrs: Mapping[str, Any]) -> str:
    return upgrade_to_float(upcast(*dtypes))


SIGMOID_BINARY_CROSSENTROPY = Elementwise(
    "tir.sigmoid_binary_crossentropy",
    2,
    _sigmoid_bce,
    _float_rule,
    _d_sigmoid_bce,
    compute_in_out_dtype=True,
    doc=(
        "Binary cross-entropy of sigmoid(x) against target t, from the logits x: "
        "max(x, 0) - x*t + log1p(exp(-|x|)), finite for any x (x = 800, t = 0 gives 800). "
        "Partials: d/dx = sigmoid(x) - t, d/dt = -x."
    ),
)

OPS: list[OpDef] = [
    Softmax(),
    LogSoftmax(),
    LogSumExp(),
    OneHot(),
    SoftmaxCrossentropy(),
    SoftmaxCrossentropyGrad(),
    CrossentropyCategorical(),
    SIGMOID_BINARY_CROSSENTROPY,
]

__all__ = ["OPS", "log_softmax_numpy", "logsumexp_numpy", "softmax_numpy"]
