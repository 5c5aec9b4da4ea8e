"""Indexing ops: the inferred type of every read and write against the NumPy reference for random
basic and advanced keys (ints, slices with negative steps, run-time bounds, index arrays, masks),
NumPy's placement of advanced dims, scatter-add on repeated indices, the textual form, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import assert_round_trip, check_reference_type, random_array

from tensorir.dialects import Builder, IRError, make_func
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.ir import FreeValue, Operation
from tensorir.dialects.tir.indexing import format_index, parse_index
from tensorir.dialects.types import TensorType

DTYPES = ["float32", "float64", "int32", "int64", "bool"]


@st.composite
def keyed_tensor(draw, advanced):
    """(shape, entries, operand arrays, numpy key) for a random key over a random shape."""
    shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    n_indexed = draw(st.integers(0 if not advanced else 1, len(shape)))
    entries, operands, key = [], [], []
    array_at = draw(st.integers(0, n_indexed - 1)) if advanced else -1
    axis = 0
    while axis < n_indexed:
        d = shape[axis]
        kind = draw(st.sampled_from(["int", "slice", "array", "mask"] if advanced else ["int", "slice"]))
        if axis == array_at and kind not in ("array", "mask"):
            kind = "array"
        if kind == "int" and d == 0:
            kind = "slice"
        if kind == "int":
            v = draw(st.integers(-d, d - 1))
            if draw(st.booleans()):
                entries.append(("int", "$"))
                operands.append(np.int64(v))
            else:
                entries.append(("int", v))
            key.append(v)
        elif kind == "slice":
            parts = [draw(st.none() | st.integers(-5, 5)) for _ in range(2)]
            parts.append(draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3])))
            coded = []
            for p in parts:
                if p is not None and draw(st.booleans()):
                    coded.append("$")
                    operands.append(np.int64(p))
                else:
                    coded.append(p)
            entries.append(("slice", *coded))
            key.append(slice(*parts))
        elif kind == "array":
            n = draw(st.integers(0, 3)) if d else 0
            idx = np.asarray([draw(st.integers(-d, d - 1)) for _ in range(n)], dtype=np.int64)
            if draw(st.booleans()) and n:
                idx = idx.reshape(1, n)  # a 2-D index array broadcasts with the others
            entries.append(("array",))
            operands.append(idx)
            key.append(idx)
        else:
            width = draw(st.integers(1, len(shape) - axis))
            mask = np.random.default_rng(axis).random(shape[axis:axis + width]) < 0.5
            entries.append(("array",))
            operands.append(mask)
            key.append(mask)
            axis += width - 1
        axis += 1
    return shape, tuple(entries), operands, tuple(key)


def _operand_value(a, data):
    if a.ndim == 0:
        return FreeValue(TensorType(data.draw(st.sampled_from(["int64", "int32"])), ()))
    return FreeValue(TensorType(a.dtype.name, [None if data.draw(st.booleans()) else d for d in a.shape]))


def _check(result, inputs):
    op = result.owner
    (out,) = op.opdef.reference(inputs, op.attributes, [result.type])
    check_reference_type([result.type], [out])
    return out


@pytest.mark.parametrize("advanced", [False, True], ids=["basic", "advanced"])
@given(data=st.data())
def test_read_type_matches_reference(advanced, data):
    shape, entries, operands, key = data.draw(keyed_tensor(advanced))
    dtype = data.draw(st.sampled_from(DTYPES))
    x = random_array(np.random.default_rng(0), dtype, shape)
    if data.draw(st.booleans()):
        x = np.flip(x, axis=0)  # a negative-stride input
    xv = FreeValue(TensorType(dtype, [None if data.draw(st.booleans()) else d for d in shape]))
    try:
        expected = x[key]
    except IndexError:
        return  # a combination NumPy itself rejects (e.g. index arrays that do not broadcast)
    name = "tir.advanced_subtensor" if advanced else "tir.subtensor"
    try:
        result = Builder(track_location=False).op(name, xv, *[_operand_value(a, data) for a in operands],
                                                  index=format_index(entries))
    except IRError as exc:
        assert "broadcast" in str(exc)
        return
    np.testing.assert_array_equal(_check(result, [x, *operands]), expected)


@pytest.mark.parametrize("advanced", [False, True], ids=["basic", "advanced"])
@pytest.mark.parametrize("mode", ["set", "inc"])
@given(data=st.data())
def test_write_type_matches_reference(advanced, mode, data):
    shape, entries, operands, key = data.draw(keyed_tensor(advanced))
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    x = random_array(np.random.default_rng(1), dtype, shape)
    try:
        region = x[key].shape
    except IndexError:
        return
    y_shape = region[data.draw(st.integers(0, len(region))):]
    y_shape = tuple(1 if data.draw(st.booleans()) else d for d in y_shape)
    y = random_array(np.random.default_rng(2), dtype, y_shape)
    expected = x.copy()
    if mode == "set":
        expected[key] = y
    else:
        np.add.at(expected, _flat_key(key), y)
    name = ("tir.advanced_" if advanced else "tir.") + f"{mode}_subtensor"
    xv = FreeValue(TensorType(dtype, [None if data.draw(st.booleans()) else d for d in shape]))
    yv = FreeValue(TensorType(dtype, [None if data.draw(st.booleans()) else d for d in y_shape]))
    try:
        result = Builder(track_location=False).op(name, xv, yv, *[_operand_value(a, data) for a in operands],
                                                  index=format_index(entries))
    except IRError as exc:
        assert "broadcast" in str(exc)
        return
    assert result.type == xv.type
    np.testing.assert_array_equal(_check(result, [x, y, *operands]), expected)


def _flat_key(key):
    out = []
    for k in key:
        if isinstance(k, np.ndarray) and k.dtype == bool:
            out.extend(np.nonzero(k))
        else:
            out.append(k)
    return tuple(out)


@pytest.mark.parametrize("index, shapes, expected", [
    # Adjacent advanced indices (ints count as such) replace their axes in place; separated ones
    # put the broadcast index dims in front.
    (":, 0, @", [(5,)], (7, 5, 9)),
    ("0, :, @", [(5,)], (5, 6, 9)),
    ("@, :, @", [(2, 1), (3,)], (2, 3, 6, 9)),
    (":, @, @", [(2, 1), (3,)], (7, 2, 3, 9)),
    ("@", [(4, 2)], (4, 2, 6, 8, 9)),
])
def test_advanced_dims_follow_numpy(index, shapes, expected):
    x = np.zeros((7, 6, 8, 9))
    operands = [np.zeros(s, dtype=np.int64) for s in shapes]
    key = []
    it = iter(operands)
    for e in parse_index(index):
        key.append(next(it) if e[0] == "array" else (e[1] if e[0] == "int" else slice(None)))
    want = x[tuple(key)].shape
    assert want == expected
    xv = FreeValue(TensorType("float64", x.shape))
    result = Builder(track_location=False).op(
        "tir.advanced_subtensor", xv, *[FreeValue(TensorType("int64", s)) for s in shapes], index=index)
    assert result.type.shape == want


def test_inc_accumulates_repeated_indices_and_set_keeps_the_last():
    b = Builder(track_location=False)
    xv = FreeValue(TensorType("float64", (None,)))
    yv = FreeValue(TensorType("float64", (None,)))
    iv = FreeValue(TensorType("int64", (None,)))
    inputs = [np.zeros(3), np.array([1.0, 2.0, 4.0]), np.array([1, 1, -1])]
    for mode, expected in (("inc", [0.0, 3.0, 4.0]), ("set", [0.0, 2.0, 4.0])):
        r = b.op(f"tir.advanced_{mode}_subtensor", xv, yv, iv, index="@")
        out = r.owner.opdef.reference(inputs, r.owner.attributes, [r.type])[0]
        np.testing.assert_array_equal(out, expected)


def test_nonzero_type_matches_reference():
    x = np.array([[0, 1, 0], [2, 0, 3]])
    results = Builder(track_location=False).op("tir.nonzero", FreeValue(TensorType("int64", (2, None))))
    outs = results[0].owner.opdef.reference([x], {}, [r.type for r in results])
    check_reference_type([r.type for r in results], outs)
    for got, want in zip(outs, np.nonzero(x)):
        np.testing.assert_array_equal(got, want)


def test_index_text_is_canonical():
    for text in ["", "0", "-1, 1:", "::-1, $:$:$", "@, :, $", "1:2:3, :-1"]:
        assert format_index(parse_index(text)) == text
    assert format_index(parse_index(" 1 :  ,:: ")) == "1:, :"


def test_indexing_round_trip():
    func, block = make_func("f", [TensorType("float32", (None, 4, 5)), TensorType("int64", ()),
                                  TensorType("int32", (3,)), TensorType("bool", (4,))])
    x, n, idx, mask = block.arguments
    b = Builder(block, track_location=False)
    outs = [
        b.op("tir.subtensor", x, n, n, index="$, 1:$:-1"),
        b.op("tir.advanced_subtensor", x, idx, mask, index="@, @"),
        b.op("tir.advanced_subtensor", x, idx, index="::2, :, @"),
        b.op("tir.set_subtensor", x, b.constant(np.float32(1)), index="0"),
        b.op("tir.advanced_inc_subtensor", x, b.constant(np.ones((5,), np.float32)), idx, index="@"),
        *b.op("tir.nonzero", b.op("tir.gt", x, b.constant(np.float32(0)))),
    ]
    block.append(Operation(RETURN, outs, []))
    assert_round_trip(func)


@pytest.mark.parametrize("name, operands, index, message", [
    ("tir.subtensor", [], "0, 0, 0", "too many indices"),
    ("tir.subtensor", [], "5", "index 5 is out of bounds for axis 0 with size 4"),
    ("tir.subtensor", [], "::0", "step cannot be zero"),
    ("tir.subtensor", [], "$", "fewer operands"),
    ("tir.subtensor", [TensorType("float64", ())], "$", "integer scalar"),
    ("tir.advanced_subtensor", [TensorType("float64", (2,))], "@", "integers or booleans"),
    ("tir.advanced_subtensor", [TensorType("bool", (3,))], "@", "does not match dim 0"),
    ("tir.advanced_subtensor", [TensorType("int64", (2,)), TensorType("int64", (3,))], "@, @", "broadcast"),
    ("tir.advanced_subtensor", [], "0", "needs at least one '@'"),
    ("tir.subtensor", [TensorType("int64", (2,))], "@", "advanced_"),
    ("tir.subtensor", [], "x", "invalid index entry"),
])
def test_bad_indices_are_clear_errors(name, operands, index, message):
    x = FreeValue(TensorType("float64", (4, 5)))
    with pytest.raises(IRError, match=message):
        Builder(track_location=False).op(name, x, *[FreeValue(t) for t in operands], index=index)


def test_bad_writes_are_clear_errors():
    b = Builder(track_location=False)
    x = FreeValue(TensorType("float64", (4, 5)))
    with pytest.raises(IRError, match="dtype int64"):
        b.op("tir.set_subtensor", x, FreeValue(TensorType("int64", ())), index="0")
    with pytest.raises(IRError, match="cannot be broadcast"):
        b.op("tir.inc_subtensor", x, FreeValue(TensorType("float64", (3,))), index="0")


def test_run_time_out_of_range_is_an_index_error():
    b = Builder(track_location=False)
    x = FreeValue(TensorType("float64", (None,)))
    i = FreeValue(TensorType("int64", (None,)))
    r = b.op("tir.advanced_subtensor", x, i, index="@")
    with pytest.raises(IndexError, match="out of bounds"):
        r.owner.opdef.reference([np.zeros(3), np.array([0, 3])], r.owner.attributes, [r.type])
    r = b.op("tir.advanced_inc_subtensor", x, x, i, index="@")
    with pytest.raises(IndexError, match="out of bounds"):
        r.owner.opdef.reference([np.zeros(3), np.zeros(2), np.array([0, -4])], r.owner.attributes, [r.type])
