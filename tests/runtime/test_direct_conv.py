"""The direct 3x3 convolution (codegen/cpu/direct_conv.py run by runtime/native_conv.py) against the
NumPy references: every padding it accepts (0, 1, 2 and the border modes that mean them), true
convolution and cross-correlation, float32 and float64, strided inputs, sizes around the vector
width and the filter tile, and both gradients; then the rule that sends the other shapes to im2col."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.runtime.test_native_conv import assert_same, both, strided

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.direct_conv import DIRECT_FILTER_TILE
from tensorir.runtime import native_conv
from tensorir.runtime.native_conv import DIRECT_CONV_CALLS, DIRECT_MAX_CHANNELS

BORDERS = [0, 1, 2, "valid", "half", "full", (1, 0), (0, 2), (2, 1)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(["float32", "float64"]), border=st.sampled_from(BORDERS), flip=st.booleans(),
       n=st.integers(1, 3), c=st.integers(1, 6), f=st.integers(DIRECT_FILTER_TILE, 10), h=st.integers(1, 7),
       w=st.integers(1, 21), layout=st.sampled_from(["c", "reversed", "transposed", "every_other"]),
       seed=st.integers(0, 2**16))
def test_direct_conv_and_gradients_match_the_reference(dtype: str, border: object, flip: bool, n: int, c: int,
                                                        f: int, h: int, w: int, layout: str, seed: int) -> None:
    pad = {"valid": (0, 0), "half": (1, 1), "full": (2, 2)}.get(border, border)  # type: ignore[arg-type]
    pad = (pad, pad) if isinstance(pad, int) else pad
    if h + 2 * pad[0] < 3 or w + 2 * pad[1] < 3:
        return  # no output pixel: the op's own empty-result rule, not this kernel's
    rng = np.random.default_rng(seed)
    x, filters = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, filters, border_mode=border, filter_flip=flip)
    outputs = [y, *tr.grad((y * y).sum() * 0.5, [x, filters])]
    native, reference = both([x, filters], outputs)
    xv = strided(rng.standard_normal((n, c, h, w)).astype(dtype), layout)
    wv = rng.standard_normal((f, c, 3, 3)).astype(dtype)
    before = DIRECT_CONV_CALLS.copy()
    assert_same(native(xv, wv), reference(xv, wv), dtype)
    # The input gradient's filters are the channels: the direct kernel when they fill a tile.
    expected = {"forward": 1, "grad_input": 1} if c >= DIRECT_FILTER_TILE else {"forward": 1}
    assert DIRECT_CONV_CALLS - before == expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiles_and_edges_of_a_wide_image(dtype: str) -> None:
    # Columns: two vectors, one vector and single ones; filters: whole tiles and one left over.
    rng = np.random.default_rng(1)
    x, filters = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    native, reference = both([x, filters], [T.nnet.conv2d(x, filters, border_mode="half", filter_flip=False)])
    xv = rng.standard_normal((2, 5, 9, 16 + 8 + 3)).astype(dtype)
    wv = rng.standard_normal((2 * DIRECT_FILTER_TILE + 1, 5, 3, 3)).astype(dtype)
    assert_same(native(xv, wv), reference(xv, wv), dtype)


CASES = {
    "stride 2": dict(subsample=(2, 2)),
    "dilated": dict(filter_dilation=(2, 2)),
    "two groups": dict(num_groups=2),
    "5x5": dict(kernel=5),
    "too many channels": dict(channels=DIRECT_MAX_CHANNELS + 1),
    "too few filters": dict(filters=DIRECT_FILTER_TILE - 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_other_convolutions_stay_on_im2col(name: str) -> None:
    case = dict(CASES[name])
    kernel, channels = case.pop("kernel", 3), case.pop("channels", 4)
    filters = case.pop("filters", 4)
    rng = np.random.default_rng(2)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode=1, **case)
    native, reference = both([x, w], [y])
    xv = rng.standard_normal((2, channels, 8, 8)).astype("float32")
    wv = rng.standard_normal((filters, channels // case.get("num_groups", 1), kernel, kernel)).astype("float32")
    before = DIRECT_CONV_CALLS.copy()
    assert_same(native(xv, wv), reference(xv, wv), "float32")
    assert DIRECT_CONV_CALLS == before, name


def test_without_the_direct_path_the_results_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x, w = T.tensor4("x"), T.tensor4("w")
    xv, wv = rng.standard_normal((2, 6, 10, 12)).astype("float32"), rng.standard_normal((8, 6, 3, 3)).astype("float32")
    direct = tr.function([x, w], T.nnet.conv2d(x, w, border_mode="half"))(xv, wv)
    monkeypatch.setattr(native_conv, "DIRECT_MAX_CHANNELS", 0)
    im2col = tr.function([x, w], T.nnet.conv2d(x, w, border_mode="half"))(xv, wv)
    np.testing.assert_allclose(direct, im2col, rtol=1e-5, atol=1e-5)
