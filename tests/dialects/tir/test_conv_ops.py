"""Convolution and pooling ops: references against SciPy / plain NumPy, adjoints, inferred types."""

import itertools

import numpy as np
import pytest
import scipy.signal
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import assert_round_trip, check_reference_type

from tensorir.dialects import Builder, make_func
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.ir import FreeValue, Operation, ancestors_topological, clone_graph
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir import conv
from tensorir.dialects.types import TensorType

OPS = {op.name: op for op in conv.OPS}
CONV, GRAD_INPUT, GRAD_FILTERS = (
    OPS["tir.conv2d"],
    OPS["tir.conv2d_grad_input"],
    OPS["tir.conv2d_grad_filters"],
)
POOL, POOL_GRAD, SELECT = OPS["tir.pool2d"], OPS["tir.pool2d_grad"], OPS["tir.max_pool2d_select"]


def run(opdef, inputs, **attrs):
    attrs = opdef.normalize_attributes(attrs)
    types = opdef.infer([TensorType(np.asarray(x).dtype.name, np.shape(x)) for x in inputs], attrs)
    outs = opdef.reference([np.asarray(x) for x in inputs], attrs, types)
    check_reference_type(types, outs)
    return outs[0]


def scipy_conv2d(x, w, pad, stride, dilation, flip, groups):
    """Per-channel SciPy convolution/correlation of the padded input with the dilated kernel, subsampled."""
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    fg = f // groups
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    wd = np.zeros((f, cg, (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1))
    wd[:, :, :: dilation[0], :: dilation[1]] = w
    fn = scipy.signal.convolve2d if flip else scipy.signal.correlate2d
    out = []
    for i in range(n):
        maps = []
        for j in range(f):
            g = j // fg
            acc = sum(fn(xp[i, g * cg + k], wd[j, k], mode="valid") for k in range(cg))
            maps.append(acc[:: stride[0], :: stride[1]])
        out.append(maps)
    return np.array(out)


@given(
    n=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    cg=st.integers(1, 2),
    fg=st.integers(1, 2),
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    pad=st.sampled_from([(0, 0), (1, 0), (2, 1), (-1, -1), (-2, -2)]),
    stride=st.sampled_from([(1, 1), (2, 1), (2, 3)]),
    dilation=st.sampled_from([(1, 1), (2, 1)]),
    flip=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_conv2d_matches_scipy(n, groups, cg, fg, h, w, kh, kw, pad, stride, dilation, flip, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, cg * groups, h, w))
    k = rng.normal(size=(fg * groups, cg, kh, kw))
    explicit = tuple(conv.resolve_pad(p, kk, d) for p, kk, d in zip(pad, (kh, kw), dilation))
    if h + 2 * explicit[0] < (kh - 1) * dilation[0] + 1 or w + 2 * explicit[1] < (kw - 1) * dilation[1] + 1:
        with pytest.raises(IRError, match="larger than the padded input"):
            run(
                CONV,
                [x, k],
                padding=pad,
                subsample=stride,
                filter_dilation=dilation,
                filter_flip=flip,
                num_groups=groups,
            )
        return
    out = run(
        CONV,
        [x, k],
        padding=pad,
        subsample=stride,
        filter_dilation=dilation,
        filter_flip=flip,
        num_groups=groups,
    )
    expected = scipy_conv2d(x, k, explicit, stride, dilation, flip, groups)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode,pad", [("valid", (0, 0)), ("full", (-1, -1)), ("same", (-2, -2))])
def test_conv2d_border_modes_as_scipy_modes(mode, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 6, 5))
    k = rng.normal(size=(3, 2, 3, 3))
    out = run(CONV, [x, k], padding=pad)
    expected = [[sum(scipy.signal.convolve2d(x[0, c], k[f, c], mode=mode) for c in range(2)) for f in range(3)]]
    np.testing.assert_allclose(out, np.array(expected), rtol=1e-10, atol=1e-12)


@given(
    groups=st.sampled_from([1, 2]),
    h=st.integers(4, 8),
    w=st.integers(4, 8),
    kh=st.integers(1, 3),
    pad=st.sampled_from([(0, 0), (1, 2), (-1, -1), (-2, -2)]),
    stride=st.sampled_from([(1, 1), (2, 2), (3, 1)]),
    dilation=st.sampled_from([(1, 1), (1, 2)]),
    flip=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_gradient_ops_are_adjoints_of_conv2d(groups, h, w, kh, pad, stride, dilation, flip, seed):
    rng = np.random.default_rng(seed)
    attrs = dict(padding=pad, subsample=stride, filter_dilation=dilation, filter_flip=flip, num_groups=groups)
    x = rng.normal(size=(2, 2 * groups, h, w))
    k = rng.normal(size=(3 * groups, 2, kh, 2))
    y = run(CONV, [x, k], **attrs)
    g = rng.normal(size=y.shape)
    dx = run(GRAD_INPUT, [g, k, np.array(x.shape)], **attrs)
    dk = run(GRAD_FILTERS, [x, g, np.array(k.shape)], **attrs)
    hx, hk = rng.normal(size=x.shape), rng.normal(size=k.shape)
    # <g, conv(hx, k)> = <A^T g, hx> and <g, conv(x, hk)> = <G(x, g), hk>.
    np.testing.assert_allclose((g * run(CONV, [hx, k], **attrs)).sum(), (dx * hx).sum(), rtol=1e-9)
    np.testing.assert_allclose((g * run(CONV, [x, hk], **attrs)).sum(), (dk * hk).sum(), rtol=1e-9)


def test_conv2d_types_and_errors():
    t = lambda *shape, dtype="float32": TensorType(dtype, shape)  # noqa: E731
    attrs = CONV.normalize_attributes({"subsample": 2, "padding": 1})
    assert CONV.infer([t(None, 3, 9, 8), t(4, 3, 3, 3)], attrs) == [t(None, 4, 5, 4)]
    assert CONV.infer([t(2, 3, None, 8), t(4, 3, 3, None, dtype="float64")], attrs) == [
        t(2, 4, None, None, dtype="float64")
    ]
    with pytest.raises(IRError, match="3 channels but the filters take 2"):
        CONV.infer([t(1, 3, 5, 5), t(4, 2, 3, 3)], CONV.normalize_attributes({}))
    with pytest.raises(IRError, match="cannot be split in 2 groups"):
        CONV.infer([t(1, 3, 5, 5), t(4, 1, 3, 3)], CONV.normalize_attributes({"num_groups": 2}))
    with pytest.raises(IRError, match="4-d"):
        CONV.infer([t(3, 5, 5), t(4, 3, 3, 3)], CONV.normalize_attributes({}))
    with pytest.raises(IRError, match="float"):
        CONV.infer([t(1, 3, 5, 5, dtype="int32"), t(4, 3, 3, 3, dtype="int32")], CONV.normalize_attributes({}))
    with pytest.raises(IRError, match="padding entries"):
        CONV.normalize_attributes({"padding": (-3, 0)})
    gi_attrs = GRAD_INPUT.normalize_attributes({"static_shape": (2, 3, 9, 8), "subsample": 2, "padding": 1})
    assert GRAD_INPUT.infer([t(2, 4, 5, 4), t(4, 3, 3, 3), t(4, dtype="int64")], gi_attrs) == [t(2, 3, 9, 8)]
    with pytest.raises(IRError, match="does not match"):
        GRAD_INPUT.infer([t(2, 4, 6, 4), t(4, 3, 3, 3), t(4, dtype="int64")], gi_attrs)
    gf_attrs = GRAD_FILTERS.normalize_attributes({"static_shape": (-1, -1, 3, 3)})
    assert GRAD_FILTERS.infer([t(2, 3, 9, 8), t(2, 4, 7, 6), t(4, dtype="int64")], gf_attrs) == [t(4, 3, 3, 3)]
    with pytest.raises(ValueError, match="does not match static"):
        run(
            GRAD_FILTERS,
            [np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.array([1, 1, 2, 3])],
            static_shape=(1, 1, -1, 2),
        )


# -- pooling -------------------------------------------------------------------------------------------
def theano_pool(x, ws, st, pad, ignore_border, mode):
    """A direct port of the loops of Theano's ``Pool.perform``."""
    h, w = x.shape[-2:]
    hp, wp = h + 2 * pad[0], w + 2 * pad[1]
    oh = conv.pool_output_size(h, ws[0], st[0], pad[0], ignore_border)
    ow = conv.pool_output_size(w, ws[1], st[1], pad[1], ignore_border)
    y = np.zeros(x.shape[:-2] + (hp, wp))
    y[..., pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    fn = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for r, c in itertools.product(range(oh), range(ow)):
        r0, r1 = r * st[0], min(r * st[0] + ws[0], hp)
        c0, c1 = c * st[1], min(c * st[1] + ws[1], wp)
        if mode != "average_inc_pad":
            r0, r1 = max(r0, pad[0]), min(r1, h + pad[0])
            c0, c1 = max(c0, pad[1]), min(c1, w + pad[1])
        region = y[..., r0:r1, c0:c1]
        out[..., r, c] = fn(region.reshape(region.shape[:-2] + (-1,)), axis=-1)
    return out


POOL_CASES = [
    (ws, stride, pad, ignore_border, mode)
    for ws, stride, pad, ignore_border, mode in itertools.product(
        [(2, 2), (3, 2), (1, 3)],
        [(1, 1), (2, 2), (3, 1)],
        [(0, 0), (1, 0), (1, 1)],
        [True, False],
        conv.POOL_MODES,
    )
    if pad == (0, 0) or (ignore_border and pad[0] < ws[0] and pad[1] < ws[1])
]


@pytest.mark.parametrize("ws,stride,pad,ignore_border,mode", POOL_CASES)
def test_pool2d_matches_theano_loops_and_gradient_is_adjoint(ws, stride, pad, ignore_border, mode):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, 7, 5))
    attrs = dict(ws=ws, stride=stride, pad=pad, ignore_border=ignore_border, mode=mode)
    out = run(POOL, [x], **attrs)
    np.testing.assert_allclose(out, theano_pool(x, ws, stride, pad, ignore_border, mode), rtol=1e-12)
    gz, v = rng.normal(size=out.shape), rng.normal(size=x.shape)
    gx = run(POOL_GRAD, [x, gz], **attrs)
    tangent = run(SELECT, [x, v], **attrs) if mode == "max" else run(POOL, [v], **attrs)
    np.testing.assert_allclose((gx * v).sum(), (gz * tangent).sum(), rtol=1e-9)
    eps = 1e-6
    finite = (run(POOL, [x + eps * v], **attrs) - run(POOL, [x - eps * v], **attrs)) / (2 * eps)
    np.testing.assert_allclose(finite, tangent, atol=1e-6)


@pytest.mark.parametrize("mode", conv.POOL_MODES)
@pytest.mark.parametrize("ignore_border", [True, False])
def test_pool2d_matches_reshaping_numpy(mode, ignore_border):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 7, 6))
    out = run(POOL, [x], ws=(2, 3), ignore_border=ignore_border, mode=mode)
    # Non-overlapping windows: pad the ragged border (ignore_border=False) and reshape.
    h, w = (6, 6) if ignore_border else (8, 6)
    fill = -np.inf if mode == "max" else 0.0
    buf = np.full((3, 2, 8, 6), fill)
    buf[:, :, :7] = x
    blocks = buf[:, :, :h, :w].reshape(3, 2, h // 2, 2, w // 3, 3)
    if mode == "max":
        expected = blocks.max(axis=(3, 5))
    else:
        expected = blocks.sum(axis=(3, 5))
        if mode != "sum":
            counts = np.ones((8, 6))
            counts[7:] = 0
            expected = expected / counts[:h, :w].reshape(h // 2, 2, w // 3, 3).sum(axis=(1, 3))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_max_pool_gradient_goes_to_every_tied_maximum():
    # Theano's MaxPoolGrad: each position equal to its window's maximum gets the window's gradient.
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]]]])
    gx = run(POOL_GRAD, [x, np.array([[[[10.0, 20.0]]]])], ws=(2, 2), ignore_border=True)
    np.testing.assert_array_equal(gx, [[[[0.0, 10.0, 0.0, 0.0], [10.0, 0.0, 20.0, 20.0]]]])
    # max_pool2d_select is its transpose: the sum over the tied positions.
    v = np.arange(8.0).reshape(1, 1, 2, 4)
    picked = run(SELECT, [x, v], ws=(2, 2), ignore_border=True)
    np.testing.assert_array_equal(picked, [[[[1.0 + 4.0, 6.0 + 7.0]]]])


def test_pool2d_types_and_errors():
    attrs = POOL.normalize_attributes({"ws": (2, 2), "ignore_border": False})
    assert attrs["stride"] == (2, 2)
    assert POOL.infer([TensorType("float32", (None, 7, 5))], attrs) == [TensorType("float32", (None, 4, 3))]
    assert POOL.infer([TensorType("int32", (4, 4))], attrs) == [TensorType("int32", (2, 2))]
    assert run(POOL, [np.arange(16, dtype=np.int32).reshape(4, 4)], ws=(2, 2), mode="average_exc_pad").dtype == np.int32
    with pytest.raises(IRError, match="rank >= 2"):
        POOL.infer([TensorType("float32", (5,))], attrs)
    with pytest.raises(IRError, match="ignore_border=True"):
        POOL.normalize_attributes({"ws": (2, 2), "pad": (1, 1)})
    with pytest.raises(IRError, match="smaller than the window"):
        POOL.normalize_attributes({"ws": (2, 2), "pad": (2, 0), "ignore_border": True})
    with pytest.raises(IRError, match="mode must be one of"):
        POOL.normalize_attributes({"ws": (2, 2), "mode": "median"})
    with pytest.raises(IRError, match="does not match the pooled shape"):
        POOL_GRAD.infer([TensorType("float64", (4, 4)), TensorType("float64", (3, 2))], attrs)


def test_every_conv_op_round_trips_and_declares_its_rules():
    b = Builder(track_location=False)
    x = FreeValue(TensorType("float32", (None, 2, 8, 8)), "x")
    w = FreeValue(TensorType("float32", (4, 2, 3, 3)), "w")
    y = b.op("tir.conv2d", x, w, padding=(-2, 1), subsample=(2, 1), filter_flip=False)
    gx = b.op(
        "tir.conv2d_grad_input",
        y,
        w,
        b.op("tir.shape", x),
        static_shape=(-1, 2, 8, 8),
        padding=(-2, 1),
        subsample=(2, 1),
        filter_flip=False,
    )
    gw = b.op(
        "tir.conv2d_grad_filters",
        x,
        y,
        b.op("tir.shape", w),
        static_shape=(4, 2, 3, 3),
        padding=(-2, 1),
        subsample=(2, 1),
        filter_flip=False,
    )
    p = b.op("tir.pool2d", y, ws=(2, 2), stride=(1, 2), pad=(1, 0), ignore_border=True, mode="average_exc_pad")
    pg = b.op(
        "tir.pool2d_grad",
        y,
        p,
        ws=(2, 2),
        stride=(1, 2),
        pad=(1, 0),
        ignore_border=True,
        mode="average_exc_pad",
    )
    s = b.op("tir.max_pool2d_select", y, pg, ws=(3, 3), ignore_border=False)
    func, block = make_func("f", [x.type, w.type], ["x", "w"])
    outs = clone_graph([gx, gw, s], {x: block.arguments[0], w: block.arguments[1]})
    for op in ancestors_topological(outs):
        block.append(op)
    block.append(Operation(RETURN, outs, []))
    text = assert_round_trip(func)
    assert '"tir.conv2d_grad_filters"' in text and "padding = array<i64: -2, 1>" in text
    for op in conv.OPS:
        assert op.has_vjp and op.has_jvp and op.differentiable, op.name
