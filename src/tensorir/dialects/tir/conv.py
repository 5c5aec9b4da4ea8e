"""Convolution and pooling over the last two axes: ``tir.conv2d``, its two gradient ops, ``tir.pool2d``.

Layout is NCHW; filters are ``(out_channels, in_channels / num_groups, kh, kw)``.

``tir.conv2d(input, filters)`` computes, with ``xp`` the input zero-padded by ``padding`` and
``k`` the filters flipped in both spatial axes when ``filter_flip`` (a true convolution, Theano's
default) or as they are (cross-correlation)::

    out[n, f, i, j] = sum_{c, a, b} xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw] * k[f, c, a, b]

where ``g = f // (F / num_groups)`` is the group of output channel ``f``. Output size per axis:
``(size + 2*pad - ((k - 1)*dilation + 1)) // stride + 1``. A ``padding`` entry is an explicit
pad ``>= 0``, or ``-1`` for Theano's 'full' (``dilated_k - 1``) or ``-2`` for 'half'
(``dilated_k // 2``) when the frontend could not resolve them because the kernel size is
only known at run time.

``tir.conv2d_grad_input(topgrad, filters, input_shape)`` and
``tir.conv2d_grad_filters(input, topgrad, filter_shape)`` are the two adjoints of the bilinear
map ``(x, w) -> conv2d(x, w)``; the shape operands are int64 vectors of the shape to produce
(stride loses the exact size), with ``static_shape`` the part known at build time (-1 dynamic).
Their vjps are again conv2d and each other, so second order costs nothing extra.

References use im2col: a strided view of the padded input as ``(N, C, OH, OW, kh, kw)`` windows
contracted with the filters by ``np.tensordot`` (one BLAS matmul per group), and the adjoint
scatters with one vectorised strided add per kernel position, never a loop over pixels.

``tir.pool2d`` follows Theano's ``Pool`` exactly: windows may be clipped at the border when
``ignore_border`` is False; ``max``, ``sum`` and ``average_exc_pad`` ignore the padding while
``average_inc_pad`` counts the padded zeros. The max gradient follows Theano's ``MaxPoolGrad``:
every position equal to its window's maximum receives the window's gradient (ties all do, not
only the first). ``tir.max_pool2d_select`` is its exact transpose (per window, the sum of a
second tensor over those positions), which gives the jvp of max pooling and the vjp of its
gradient; see :class:`MaxPool2DSelect` for why ties are summed there.

The native CPU lowering of all six ops is in ``codegen/cpu/lower_conv.py`` and
``lower_pool.py`` (steps in ``runtime/native_conv.py``); these references are its oracle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, TensorType, upcast

PAD_FULL = -1
PAD_HALF = -2

Dim = int | None


def int_pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair of Python ints."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        items = tuple(value)
    except TypeError:
        raise IRError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
        raise IRError(f"{what} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def dilated(kernel: Dim, dilation: int) -> Dim:
    return None if kernel is None else (kernel - 1) * dilation + 1


def resolve_pad(code: int, kernel: Dim, dilation: int) -> Dim:
    """An explicit pad from a padding code (-1 'full', -2 'half'); None if the kernel is unknown."""
    if code >= 0:
        return code
    dk = dilated(kernel, dilation)
    if dk is None:
        return None
    return dk - 1 if code == PAD_FULL else dk // 2


def valid_outputs(size: int, taps: int, step: int, dilation: int, pad: int, out: int) -> tuple[list[int], list[int]]:
    """Per tap ``t``, the outputs ``[lo[t], hi[t])`` whose tap lies inside the unpadded input.

    Output ``i`` reads position ``i*step + t*dilation - pad``; it is inside ``[0, size)`` exactly
    for ``lo <= i < hi``. Native kernels loop over these ranges, so they never test bounds per
    element and never read padding.
    """
    lo, hi = [], []
    for t in range(taps):
        offset = t * dilation - pad
        first = min(out, max(0, -(offset // step)))
        last = min(out, max(0, (size - 1 - offset) // step + 1))
        lo.append(first)
        hi.append(max(first, last))
    return lo, hi


def conv_output_size(size: Dim, kernel: Dim, pad: int, stride: int, dilation: int) -> Dim:
    """Output length of one spatial axis, or None when not known statically."""
    p = resolve_pad(pad, kernel, dilation)
    dk = dilated(kernel, dilation)
    if size is None or dk is None or p is None:
        return None
    if size + 2 * p < dk:
        raise IRError(f"conv2d: kernel of (dilated) size {dk} is larger than the padded input "
                      f"size {size + 2 * p}")
    return (size + 2 * p - dk) // stride + 1


# -- NumPy kernels ---------------------------------------------------------------------------------
class ConvGeometry:
    """Resolved sizes of one convolution: pads, kernel, strides, dilations, output size."""

    def __init__(self, in_hw: Sequence[int], k_hw: Sequence[int], attrs: Mapping[str, Any]) -> None:
        self.sh, self.sw = attrs["subsample"]
        self.dh, self.dw = attrs["filter_dilation"]
        self.kh, self.kw = (int(k) for k in k_hw)
        self.h, self.w = (int(s) for s in in_hw)
        codes = attrs["padding"]
        self.ph = resolve_pad(codes[0], self.kh, self.dh)
        self.pw = resolve_pad(codes[1], self.kw, self.dw)
        dkh, dkw = dilated(self.kh, self.dh), dilated(self.kw, self.dw)
        assert self.ph is not None and self.pw is not None and dkh is not None and dkw is not None
        if self.h + 2 * self.ph < dkh or self.w + 2 * self.pw < dkw:
            raise ValueError(
                f"kernel of (dilated) size {(dkh, dkw)} is larger than the padded input "
                f"{(self.h + 2 * self.ph, self.w + 2 * self.pw)}"
            )
        self.oh = (self.h + 2 * self.ph - dkh) // self.sh + 1
        self.ow = (self.w + 2 * self.pw - dkw) // self.sw + 1

    def pad(self, x: np.ndarray) -> np.ndarray:
        if not (self.ph or self.pw):
            return x
        return np.pad(x, ((0, 0), (0, 0), (self.ph, self.ph), (self.pw, self.pw)))

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """Read-only view ``(N, C, OH, OW, kh, kw)`` of the padded input (im2col without a copy)."""
        n, c = xp.shape[:2]
        s = xp.strides
        return as_strided(
            xp,
            (n, c, self.oh, self.ow, self.kh, self.kw),
            (s[0], s[1], s[2] * self.sh, s[3] * self.sw, s[2] * self.dh, s[3] * self.dw),
            writeable=False,
        )

    def columns(self, win: np.ndarray) -> np.ndarray:
        """The im2col matrix ``(C*kh*kw, N*OH*OW)`` of a window view (long rows suit BLAS best)."""
        n, c = win.shape[:2]
        return np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * self.kh * self.kw, -1)

    def valid_outputs(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """Rows ``[lo, hi)`` per kernel row tap, then columns per kernel column tap (see valid_outputs)."""
        rows = valid_outputs(self.h, self.kh, self.sh, self.dh, self.ph, self.oh)
        cols = valid_outputs(self.w, self.kw, self.sw, self.dw, self.pw, self.ow)
        return (*rows, *cols)

    def kernel_slice(self, a: int, b: int) -> tuple[Any, ...]:
        """Positions of the padded input that kernel tap ``(a, b)`` reads, for every output pixel."""
        rows = slice(a * self.dh, a * self.dh + self.sh * (self.oh - 1) + 1, self.sh)
        cols = slice(b * self.dw, b * self.dw + self.sw * (self.ow - 1) + 1, self.sw)
        return (slice(None), slice(None), rows, cols)


def _channels_first(y: np.ndarray) -> np.ndarray:
    """``(N, F, OH, OW)`` as the matrix ``(F, N*OH*OW)``."""
    return np.ascontiguousarray(y.transpose(1, 0, 2, 3)).reshape(y.shape[1], -1)


def group_sizes(channels: int, filters: int, groups: int, per_group_in: int) -> tuple[int, int]:
    """(input, output) channels per group; ValueError when the operands do not split."""
    if groups < 1 or channels % groups or filters % groups:
        raise ValueError(f"{channels} input and {filters} output channels cannot be split in {groups} groups")
    if channels // groups != per_group_in:
        raise ValueError(
            f"filters take {per_group_in} channels per group but the input has {channels} channels "
            f"in {groups} group(s)"
        )
    return channels // groups, filters // groups


def conv2d_reference(x: np.ndarray, w: np.ndarray, attrs: Mapping[str, Any], dtype: str) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    if attrs["filter_flip"]:
        w = w[:, :, ::-1, ::-1]
    n, c = x.shape[:2]
    f = w.shape[0]
    cg, fg = group_sizes(c, f, attrs["num_groups"], w.shape[1])
    geo = ConvGeometry(x.shape[2:], w.shape[2:], attrs)
    win = geo.windows(geo.pad(x))
    out = np.empty((n, f, geo.oh, geo.ow), dtype=dtype)
    for g in range(attrs["num_groups"]):
        cols = geo.columns(win[:, g * cg:(g + 1) * cg])
        part = w[g * fg:(g + 1) * fg].reshape(fg, -1) @ cols
        out[:, g * fg:(g + 1) * fg] = part.reshape(fg, n, geo.oh, geo.ow).transpose(1, 0, 2, 3)
    return out


def conv2d_grad_input_reference(gy: np.ndarray, w: np.ndarray, shape: Sequence[int], attrs: Mapping[str, Any],
                                dtype: str) -> np.ndarray:
    gy = np.asarray(gy, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    if attrs["filter_flip"]:
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = (int(s) for s in shape)
    f = w.shape[0]
    cg, fg = group_sizes(c, f, attrs["num_groups"], w.shape[1])
    geo = ConvGeometry((h, wd), w.shape[2:], attrs)
    if gy.shape != (n, f, geo.oh, geo.ow):
        raise ValueError(f"output gradient of shape {gy.shape} does not match input shape {tuple(shape)} "
                         f"(expected {(n, f, geo.oh, geo.ow)})")
    dxp = np.zeros((n, c, h + 2 * geo.ph, wd + 2 * geo.pw), dtype=dtype)
    for g in range(attrs["num_groups"]):
        # cols[c, a, b, n, i, j] = sum_f w[f, c, a, b] * gy[n, f, i, j]: the im2col matrix's adjoint.
        cols = (w[g * fg:(g + 1) * fg].reshape(fg, -1).T @ _channels_first(gy[:, g * fg:(g + 1) * fg]))
        cols = cols.reshape(cg, geo.kh, geo.kw, n, geo.oh, geo.ow)
        target = dxp[:, g * cg:(g + 1) * cg]
        for a in range(geo.kh):
            for b in range(geo.kw):
                target[geo.kernel_slice(a, b)] += cols[:, a, b].transpose(1, 0, 2, 3)
    return dxp[:, :, geo.ph:geo.ph + h, geo.pw:geo.pw + wd]


def conv2d_grad_filters_reference(x: np.ndarray, gy: np.ndarray, shape: Sequence[int],
                                  attrs: Mapping[str, Any], dtype: str) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    gy = np.asarray(gy, dtype=dtype)
    f, cin, kh, kw = (int(s) for s in shape)
    n, c = x.shape[:2]
    cg, fg = group_sizes(c, f, attrs["num_groups"], cin)
    geo = ConvGeometry(x.shape[2:], (kh, kw), attrs)
    if gy.shape != (n, f, geo.oh, geo.ow):
        raise ValueError(f"output gradient of shape {gy.shape} does not match input {x.shape} and filters "
                         f"{tuple(shape)} (expected {(n, f, geo.oh, geo.ow)})")
    win = geo.windows(geo.pad(x))
    dw = np.empty((f, cin, kh, kw), dtype=dtype)
    for g in range(attrs["num_groups"]):
        cols = geo.columns(win[:, g * cg:(g + 1) * cg])
        part = _channels_first(gy[:, g * fg:(g + 1) * fg]) @ cols.T
        dw[g * fg:(g + 1) * fg] = part.reshape(fg, cin, kh, kw)
    if attrs["filter_flip"]:
        dw = dw[:, :, ::-1, ::-1]
    return dw


# -- op declarations -------------------------------------------------------------------------------
_CONV_ATTRS: dict[str, Any] = {
    "padding": (0, 0),
    "subsample": (1, 1),
    "filter_flip": True,
    "filter_dilation": (1, 1),
    "num_groups": 1,
}


def _float_dtype(name: str, *types: TensorType) -> str:
    dtype = upcast(*[t.dtype for t in types])
    if dtype not in FLOAT_DTYPES:
        raise IRError(f"{name} needs float operands, got {', '.join(t.dtype for t in types)}")
    return dtype


def _rank4(name: str, what: str, t: TensorType) -> None:
    if t.ndim != 4:
        raise IRError(f"{name}: {what} must be a 4-d tensor, got {t}")


def _shape_operand(name: str, t: TensorType) -> None:
    if t.ndim != 1 or t.dtype not in INT_DTYPES or t.shape[0] not in (None, 4):
        raise IRError(f"{name}: the shape operand must be an int vector of length 4, got {t}")


class _ConvBase(OpDef):
    fusion = "opaque"
    arity = 3

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        for key in ("padding", "subsample", "filter_dilation"):
            out[key] = int_pair(out[key], f"{self.name}: {key}")
        if min(out["padding"]) < PAD_HALF:
            raise IRError(f"{self.name}: padding entries are >= 0, -1 ('full') or -2 ('half'), "
                          f"got {out['padding']}")
        if min(out["subsample"]) < 1 or min(out["filter_dilation"]) < 1:
            raise IRError(f"{self.name}: subsample and filter_dilation must be positive")
        out["filter_flip"] = bool(out["filter_flip"])
        out["num_groups"] = int(out["num_groups"])
        if out["num_groups"] < 1:
            raise IRError(f"{self.name}: num_groups must be positive, got {out['num_groups']}")
        if "static_shape" in out:
            static = tuple(int(d) for d in out["static_shape"])
            if len(static) != 4 or min(static) < -1:
                raise IRError(f"{self.name}: static_shape must be 4 dims (>= 0 or -1), got {static}")
            out["static_shape"] = static
        return out

    def check_channels(self, x: TensorType, w: TensorType, attrs: Mapping[str, Any]) -> None:
        groups = attrs["num_groups"]
        c, f, cg = x.shape[1], w.shape[0], w.shape[1]
        if c is not None and c % groups:
            raise IRError(f"{self.name}: {c} input channels cannot be split in {groups} groups")
        if f is not None and f % groups:
            raise IRError(f"{self.name}: {f} filters cannot be split in {groups} groups")
        if c is not None and cg is not None and c != cg * groups:
            raise IRError(
                f"{self.name}: the input has {c} channels but the filters take {cg} per group "
                f"({groups} group(s)); input {x}, filters {w}"
            )

    def output_type(self, x: TensorType, w: TensorType, attrs: Mapping[str, Any], dtype: str) -> TensorType:
        dims = [
            conv_output_size(x.shape[2 + i], w.shape[2 + i], attrs["padding"][i], attrs["subsample"][i],
                             attrs["filter_dilation"][i])
            for i in range(2)
        ]
        return TensorType(dtype, (x.shape[0], w.shape[0], *dims))


class Conv2D(_ConvBase):
    """``conv2d(input, filters)``: NCHW convolution (true convolution when ``filter_flip``)."""

    name = "tir.conv2d"
    arity = 2
    attributes = dict(_CONV_ATTRS)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, w = types
        _rank4(self.name, "the input", x)
        _rank4(self.name, "the filters", w)
        dtype = _float_dtype(self.name, x, w)
        self.check_channels(x, w, attrs)
        return [self.output_type(x, w, attrs, dtype)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, w = inputs
        return [cast_result(conv2d_reference(x, w, attrs, types[0].dtype), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None, None]
        x, w = op.operands
        attrs = conv_attrs(op)
        return [conv2d_grad_input(b, g, w, x, attrs), conv2d_grad_filters(b, x, g, w, attrs)]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        x, w = op.operands
        tx, tw = tangents
        attrs = conv_attrs(op)
        parts = []
        if tx is not None:
            parts.append(b.op(self, tx, w, **attrs))
        if tw is not None:
            parts.append(b.op(self, x, tw, **attrs))
        return [_add_all(b, parts)]


class Conv2DGradInput(_ConvBase):
    """``conv2d_grad_input(topgrad, filters, input_shape)``: the adjoint of conv2d in its input."""

    name = "tir.conv2d_grad_input"
    attributes = {**_CONV_ATTRS, "static_shape": (-1, -1, -1, -1)}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        gy, w, shape = types
        _rank4(self.name, "the output gradient", gy)
        _rank4(self.name, "the filters", w)
        _shape_operand(self.name, shape)
        dtype = _float_dtype(self.name, gy, w)
        dims: list[Dim] = [None if d < 0 else d for d in attrs["static_shape"]]
        dims[0] = _merge(self.name, dims[0], gy.shape[0], "batch size")
        if w.shape[1] is not None:
            dims[1] = _merge(self.name, dims[1], w.shape[1] * attrs["num_groups"], "input channels")
        if gy.shape[1] is not None and w.shape[0] is not None and gy.shape[1] != w.shape[0]:
            raise IRError(f"{self.name}: output gradient {gy} has {gy.shape[1]} channels for "
                          f"{w.shape[0]} filters")
        result = TensorType(dtype, dims)
        self.check_channels(result, w, attrs)
        expected = self.output_type(result, w, attrs, dtype)
        for axis in (2, 3):
            if None not in (expected.shape[axis], gy.shape[axis]) and expected.shape[axis] != gy.shape[axis]:
                raise IRError(f"{self.name}: output gradient {gy} does not match an input of "
                              f"shape {result.shape}")
        return [result]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        gy, w, shape = inputs
        check_static_shape(self.name, shape, attrs["static_shape"])
        return [cast_result(conv2d_grad_input_reference(gy, w, shape, attrs, types[0].dtype), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        h = grads[0]
        if h is None:
            return [None, None, None]
        gy, w, _ = op.operands
        attrs = conv_attrs(op)
        # <h, A(w)^T gy> = <conv2d(h, w), gy>: linear in gy and in w.
        return [b.op("tir.conv2d", h, w, **attrs), conv2d_grad_filters(b, h, gy, w, attrs), None]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        gy, w, shape = op.operands
        tg, tw, _ = tangents
        parts = []
        if tg is not None:
            parts.append(b.op(self, tg, w, shape, **op.attributes))
        if tw is not None:
            parts.append(b.op(self, gy, tw, shape, **op.attributes))
        return [_add_all(b, parts)]


class Conv2DGradFilters(_ConvBase):
    """``conv2d_grad_filters(input, topgrad, filter_shape)``: the adjoint of conv2d in its filters."""

    name = "tir.conv2d_grad_filters"
    attributes = {**_CONV_ATTRS, "static_shape": (-1, -1, -1, -1)}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, gy, shape = types
        _rank4(self.name, "the input", x)
        _rank4(self.name, "the output gradient", gy)
        _shape_operand(self.name, shape)
        dtype = _float_dtype(self.name, x, gy)
        dims: list[Dim] = [None if d < 0 else d for d in attrs["static_shape"]]
        dims[0] = _merge(self.name, dims[0], gy.shape[1], "filters")
        if x.shape[1] is not None:
            if x.shape[1] % attrs["num_groups"]:
                raise IRError(f"{self.name}: {x.shape[1]} input channels cannot be split in "
                              f"{attrs['num_groups']} groups")
            dims[1] = _merge(self.name, dims[1], x.shape[1] // attrs["num_groups"], "channels per group")
        result = TensorType(dtype, dims)
        self.check_channels(x, result, attrs)
        expected = self.output_type(x, result, attrs, dtype)
        for axis in (0, 2, 3):
            if None not in (expected.shape[axis], gy.shape[axis]) and expected.shape[axis] != gy.shape[axis]:
                raise IRError(f"{self.name}: output gradient {gy} does not match input {x} "
                              f"and filters {result}")
        return [result]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, gy, shape = inputs
        check_static_shape(self.name, shape, attrs["static_shape"])
        return [cast_result(conv2d_grad_filters_reference(x, gy, shape, attrs, types[0].dtype), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        k = grads[0]
        if k is None:
            return [None, None, None]
        x, gy, _ = op.operands
        attrs = conv_attrs(op)
        # <k, G(x, gy)> = <conv2d(x, k), gy>: linear in x and in gy.
        return [conv2d_grad_input(b, gy, k, x, attrs), b.op("tir.conv2d", x, k, **attrs), None]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        x, gy, shape = op.operands
        tx, tg, _ = tangents
        parts = []
        if tx is not None:
            parts.append(b.op(self, tx, gy, shape, **op.attributes))
        if tg is not None:
            parts.append(b.op(self, x, tg, shape, **op.attributes))
        return [_add_all(b, parts)]


def conv_attrs(op: Operation) -> dict[str, Any]:
    """The attributes an op shares with ``tir.conv2d`` (without ``static_shape``)."""
    return {k: op.attributes[k] for k in _CONV_ATTRS}


def static_code(t: TensorType) -> tuple[int, ...]:
    return tuple(-1 if d is None else d for d in t.shape)


def conv2d_grad_input(b: Builder, gy: Value, w: Value, like: Value, attrs: Mapping[str, Any]) -> Value:
    """The input gradient of a conv2d whose input was ``like``."""
    shape = b.op("tir.shape", like)
    out = b.op("tir.conv2d_grad_input", gy, w, shape, static_shape=static_code(like.type), **attrs)
    return out


def conv2d_grad_filters(b: Builder, x: Value, gy: Value, like: Value, attrs: Mapping[str, Any]) -> Value:
    """The filter gradient of a conv2d whose filters were ``like``."""
    shape = b.op("tir.shape", like)
    return b.op("tir.conv2d_grad_filters", x, gy, shape, static_shape=static_code(like.type), **attrs)


def _merge(name: str, a: Dim, b: Dim, what: str) -> Dim:
    if a is None:
        return b
    if b is not None and a != b:
        raise IRError(f"{name}: {what} is {a} in static_shape but {b} from the operands")
    return a


def check_static_shape(name: str, shape: np.ndarray, static: Sequence[int]) -> None:
    """ValueError unless a shape operand's run-time value agrees with its static part."""
    if len(shape) != 4 or any(s >= 0 and int(d) != s for d, s in zip(shape, static)):
        raise ValueError(f"{name}: run-time shape {tuple(int(d) for d in shape)} does not match "
                         f"static {static}")


def _add_all(b: Builder, parts: Sequence[Value]) -> Value | None:
    total = None
    for p in parts:
        total = p if total is None else b.op("tir.add", total, p)
    return total


# -- pooling -------------------------------------------------------------------------------------------
POOL_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def pool_output_size(size: Dim, ws: int, stride: int, pad: int, ignore_border: bool) -> Dim:
    """Theano's ``Pool.out_shape`` for one axis (None when the size is dynamic)."""
    if size is None:
        return None
    if size == 0:
        return 0
    r = size + 2 * pad
    if ignore_border:
        return max((r - ws) // stride + 1, 0)
    if stride >= ws:
        return (r - 1) // stride + 1
    return max(0, (r - 1 - ws + stride) // stride) + 1


class PoolGeometry:
    """Windows of one pooling over the last two axes of a concrete shape."""

    def __init__(self, hw: Sequence[int], attrs: Mapping[str, Any]) -> None:
        self.ws = attrs["ws"]
        self.st = attrs["stride"]
        self.pad = attrs["pad"]
        self.hw = tuple(int(d) for d in hw)
        self.out = tuple(
            int(pool_output_size(self.hw[i], self.ws[i], self.st[i], self.pad[i], attrs["ignore_border"]))  # type: ignore[arg-type]
            for i in range(2)
        )
        # Buffer length per axis: the padded image, or further when a clipped border window reaches past it.
        self.length = tuple(
            max(self.hw[i] + 2 * self.pad[i],
                (self.out[i] - 1) * self.st[i] + self.ws[i] if self.out[i] else 0)
            for i in range(2)
        )

    def padded(self, x: np.ndarray, fill: Any) -> np.ndarray:
        buf = np.full(x.shape[:-2] + self.length, fill, dtype=x.dtype)
        buf[..., self.pad[0]:self.pad[0] + self.hw[0], self.pad[1]:self.pad[1] + self.hw[1]] = x
        return buf

    def tap(self, a: int, b: int) -> tuple[Any, ...]:
        """Positions of the buffer that window offset ``(a, b)`` covers, for every output."""
        rows = slice(a, a + self.st[0] * (self.out[0] - 1) + 1, self.st[0])
        cols = slice(b, b + self.st[1] * (self.out[1] - 1) + 1, self.st[1])
        return (Ellipsis, rows, cols)

    def crop(self, buf: np.ndarray) -> np.ndarray:
        return buf[..., self.pad[0]:self.pad[0] + self.hw[0], self.pad[1]:self.pad[1] + self.hw[1]]

    def valid_outputs(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """Rows ``[lo, hi)`` per window row offset, then columns per column offset: the outputs
        whose window offset lies inside the unpadded input (see :func:`valid_outputs`)."""
        rows = valid_outputs(self.hw[0], self.ws[0], self.st[0], 1, self.pad[0], self.out[0])
        cols = valid_outputs(self.hw[1], self.ws[1], self.st[1], 1, self.pad[1], self.out[1])
        return (*rows, *cols)

    def counts(self, include_padding: bool) -> np.ndarray:
        """Elements averaged by each window: ``(OH, OW)`` (clipped at the border as in Theano)."""
        rows, cols = self.axis_counts(include_padding)
        return np.outer(rows, cols)

    def axis_counts(self, include_padding: bool) -> tuple[np.ndarray, np.ndarray]:
        """The factors of :meth:`counts` per axis (float64): a window's count is their product."""
        per_axis = []
        for i in range(2):
            idx = np.arange(self.length[i])
            if include_padding:
                valid = idx < self.hw[i] + 2 * self.pad[i]
            else:
                valid = (idx >= self.pad[i]) & (idx < self.pad[i] + self.hw[i])
            csum = np.concatenate([[0], np.cumsum(valid)])
            starts = np.arange(self.out[i]) * self.st[i]
            per_axis.append((csum[starts + self.ws[i]] - csum[starts]).astype(np.float64))
        return per_axis[0], per_axis[1]

    def taps(self, buf: np.ndarray) -> Iterator[np.ndarray]:
        """For each window offset in row-major order, the strided view of what it covers.

        Reducing over these ``ws0 * ws1`` views is much faster than over a 6-d window view.
        """
        for a in range(self.ws[0]):
            for b in range(self.ws[1]):
                yield buf[self.tap(a, b)]

    def window_max(self, x: np.ndarray) -> np.ndarray:
        """The maximum of every window of ``x`` (padding never wins; nan propagates)."""
        out = np.full(x.shape[:-2] + self.out, _lowest(x.dtype), dtype=x.dtype)
        for view in self.taps(self.padded(x, _lowest(x.dtype))):
            np.maximum(out, view, out=out)
        return out


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    return np.iinfo(dtype).min


def pool2d_reference(x: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    geo = PoolGeometry(x.shape[-2:], attrs)
    mode = attrs["mode"]
    if mode == "max":
        return geo.window_max(x)
    acc = np.float64 if x.dtype.kind != "f" else x.dtype
    total = np.zeros(x.shape[:-2] + geo.out, dtype=acc)
    for view in geo.taps(geo.padded(x.astype(acc, copy=False), 0)):
        total += view
    if mode == "sum":
        return total
    return total / geo.counts(mode == "average_inc_pad")


def pool2d_grad_reference(x: np.ndarray, gz: np.ndarray, attrs: Mapping[str, Any], dtype: str) -> np.ndarray:
    geo = PoolGeometry(x.shape[-2:], attrs)
    if gz.shape != x.shape[:-2] + geo.out:
        raise ValueError(f"output gradient of shape {gz.shape} for a pooled shape {x.shape[:-2] + geo.out}")
    gz = np.asarray(gz, dtype=dtype)
    gbuf = np.zeros(x.shape[:-2] + geo.length, dtype=dtype)
    mode = attrs["mode"]
    if mode == "max":
        # Theano's MaxPoolGrad: every position equal to its window's maximum receives the
        # window's gradient (ties all do; padding cells are cropped away below).
        best = geo.window_max(x)
        for k, view in enumerate(geo.taps(geo.padded(x, _lowest(x.dtype)))):
            gbuf[geo.tap(*divmod(k, geo.ws[1]))] += np.where(view == best, gz, 0)
    else:
        share = gz if mode == "sum" else gz / geo.counts(mode == "average_inc_pad")
        for a in range(geo.ws[0]):
            for b in range(geo.ws[1]):
                gbuf[geo.tap(a, b)] += share
    return geo.crop(gbuf)


def max_pool2d_select_reference(x: np.ndarray, v: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """Per window, the sum of ``v`` over the positions where ``x`` equals the window's maximum:
    the exact transpose of the max-pooling gradient above (ties included)."""
    geo = PoolGeometry(x.shape[-2:], attrs)
    if v.shape != x.shape:
        raise ValueError(f"values of shape {v.shape} for an input of shape {x.shape}")
    best = geo.window_max(x)
    out = np.zeros(best.shape, dtype=v.dtype)
    for xv, vv in zip(geo.taps(geo.padded(x, _lowest(x.dtype))), geo.taps(geo.padded(v, 0))):
        out += np.where(xv == best, vv, 0)
    return out


class _PoolBase(OpDef):
    fusion = "opaque"
    attributes = {"ws": REQUIRED, "stride": None, "pad": (0, 0), "ignore_border": False, "mode": "max"}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["ws"] = int_pair(out["ws"], f"{self.name}: ws")
        stride = out["stride"]
        out["stride"] = out["ws"] if stride is None else int_pair(stride, f"{self.name}: stride")
        out["pad"] = int_pair(out["pad"], f"{self.name}: pad")
        out["ignore_border"] = bool(out["ignore_border"])
        if min(out["ws"]) < 1 or min(out["stride"]) < 1 or min(out["pad"]) < 0:
            raise IRError(f"{self.name}: ws and stride must be positive and pad non-negative, got "
                          f"ws={out['ws']}, stride={out['stride']}, pad={out['pad']}")
        if out["pad"] != (0, 0):
            if not out["ignore_border"]:
                raise IRError(f"{self.name}: padding works only with ignore_border=True")
            if out["pad"][0] >= out["ws"][0] or out["pad"][1] >= out["ws"][1]:
                raise IRError(f"{self.name}: pad {out['pad']} must be smaller than the window {out['ws']}")
        if out["mode"] not in POOL_MODES:
            raise IRError(f"{self.name}: mode must be one of {', '.join(POOL_MODES)}, got {out['mode']!r}")
        return out

    def pooled_type(self, x: TensorType, attrs: Mapping[str, Any], dtype: str) -> TensorType:
        if x.ndim < 2:
            raise IRError(f"{self.name} pools the last two axes: the input must have rank >= 2, got {x}")
        if x.dtype not in FLOAT_DTYPES and x.dtype not in INT_DTYPES:
            raise IRError(f"{self.name} needs a numeric input, got {x}")
        dims = [
            pool_output_size(x.shape[-2 + i], attrs["ws"][i], attrs["stride"][i], attrs["pad"][i],
                             attrs["ignore_border"])
            for i in range(2)
        ]
        return TensorType(dtype, (*x.shape[:-2], *dims))

    def check_pooled(self, x: TensorType, pooled: TensorType, attrs: Mapping[str, Any], what: str) -> None:
        expected = self.pooled_type(x, attrs, pooled.dtype)
        if pooled.ndim != expected.ndim or not all(
            a is None or b is None or a == b for a, b in zip(expected.shape, pooled.shape)
        ):
            raise IRError(f"{self.name}: {what} {pooled} does not match the pooled shape {expected} of {x}")


class Pool2D(_PoolBase):
    """``pool2d(x)``: max/sum/average pooling over the last two axes (Theano's ``Pool``)."""

    name = "tir.pool2d"
    arity = 1

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return [self.pooled_type(types[0], attrs, types[0].dtype)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [cast_result(pool2d_reference(np.asarray(inputs[0]), attrs), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        return [None if g is None else b.op("tir.pool2d_grad", op.operands[0], g, **op.attributes)]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        t = tangents[0]
        if t is None:
            return [None]
        if op.attributes["mode"] == "max":
            return [b.op("tir.max_pool2d_select", op.operands[0], t, **op.attributes)]
        return [b.op(self, t, **op.attributes)]


class Pool2DGrad(_PoolBase):
    """``pool2d_grad(x, gz)``: the input gradient of ``pool2d(x)`` (max: to every maximum of a window)."""

    name = "tir.pool2d_grad"
    arity = 2

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, gz = types
        if x.dtype not in FLOAT_DTYPES or gz.dtype not in FLOAT_DTYPES:
            raise IRError(f"{self.name} needs float operands, got {x} and {gz}")
        self.check_pooled(x, gz, attrs, "output gradient")
        return [x]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, gz = inputs
        return [cast_result(pool2d_grad_reference(x, gz, attrs, types[0].dtype), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        h = grads[0]
        if h is None:
            return [None, None]
        x = op.operands[0]
        # Linear in gz; for max the selection is locally constant in x (no gradient to x).
        if op.attributes["mode"] == "max":
            return [None, b.op("tir.max_pool2d_select", x, h, **op.attributes)]
        return [None, b.op("tir.pool2d", h, **op.attributes)]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        t = tangents[1]
        return [None if t is None else b.op(self, op.operands[0], t, **op.attributes)]


class MaxPool2DSelect(_PoolBase):
    """``max_pool2d_select(x, v)``: per window of ``x``, the sum of ``v`` where ``x`` is the maximum.

    The transpose of the max-pooling gradient: the jvp of max pooling and the vjp of its gradient.
    Max pooling has no derivative where a window's maximum is tied; the gradient picks the
    generalized Jacobian ``J[w, i] = [x_i == max_w]`` (Theano's ``MaxPoolGrad``, ties all get the
    window's gradient). Summing ``v`` over the tied positions is ``J v`` for that same ``J``, so
    the jvp stays the transpose of the vjp (``<J v, g> = <v, J^T g>``, Rop and Lop agree) and the
    second-order vjp (of ``pool2d_grad`` in ``gz``) is exact. Theano's own ``MaxPoolRop`` and
    ``DownsampleFactorMaxGradGrad`` take the value at one position instead, which breaks that
    identity on ties; without ties both definitions agree.
    """

    name = "tir.max_pool2d_select"
    arity = 2

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, v = types
        if v.ndim != x.ndim or not all(a is None or b is None or a == b for a, b in zip(x.shape, v.shape)):
            raise IRError(f"{self.name}: values {v} must have the shape of the input {x}")
        return [self.pooled_type(x, attrs, v.dtype)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, v = inputs
        return [cast_result(max_pool2d_select_reference(x, v, attrs), types[0])]

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        g = grads[0]
        if g is None:
            return [None, None]
        return [None, b.op("tir.pool2d_grad", op.operands[0], g, **op.attributes)]

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        t = tangents[1]
        return [None if t is None else b.op(self, op.operands[0], t, **op.attributes)]


OPS: list[OpDef] = [
    Conv2D(),
    Conv2DGradInput(),
    Conv2DGradFilters(),
    Pool2D(),
    Pool2DGrad(),
    MaxPool2DSelect(),
]

__all__ = [
    "OPS",
    "PAD_FULL",
    "PAD_HALF",
    "POOL_MODES",
    "conv_output_size",
    "int_pair",
    "pool_output_size",
    "resolve_pad",
]
