"""Shape family ops join, split, specify_shape, alloc, arange, eye, tile, repeat: inferred types
against the NumPy references (random shapes, dtypes, dynamic dims, strided inputs), the textual
form, and errors at build and run time."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.helpers import assert_round_trip, check_reference_type, random_array

from tensorir.dialects import Builder, IRError, make_func
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.ir import FreeValue, Operation
from tensorir.dialects.types import TensorType

DTYPES = ["float32", "float64", "int32", "int64", "bool"]
shapes = st.lists(st.integers(0, 3), min_size=1, max_size=3)


def _builder() -> Builder:
    return Builder(track_location=False)


def _free(dtype, shape, data):
    """A free value whose dims are randomly static or dynamic."""
    return FreeValue(TensorType(dtype, [None if data.draw(st.booleans()) else d for d in shape]))


def _strided(rng, dtype, shape, data):
    """A random array, sometimes a negative-step or transposed view (non-contiguous)."""
    kind = data.draw(st.sampled_from(["plain", "reversed", "transposed"]))
    if kind == "reversed":
        return random_array(rng, dtype, shape)[::-1]
    if kind == "transposed" and len(shape) > 1:
        return np.ascontiguousarray(random_array(rng, dtype, shape[::-1])).T
    return random_array(rng, dtype, shape)


def _run(result, inputs):
    results = result if isinstance(result, tuple) else (result,)
    op = results[0].owner
    outs = op.opdef.reference(inputs, op.attributes, [r.type for r in results])
    check_reference_type([r.type for r in results], outs)
    return outs


@given(shapes, st.integers(1, 3), st.data())
def test_join_type_matches_reference(shape, n, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    rng = np.random.default_rng(0)
    arrays, values = [], []
    for _ in range(n):
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3))
        dtype = data.draw(st.sampled_from(DTYPES))
        arrays.append(_strided(rng, dtype, s, data))
        values.append(_free(dtype, s, data))
    (out,) = _run(_builder().op("tir.join", *values, axis=axis), arrays)
    np.testing.assert_array_equal(out, np.concatenate(arrays, axis=axis))


@given(shapes, st.lists(st.integers(0, 3), min_size=1, max_size=4), st.data())
def test_split_type_matches_reference(shape, sizes, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    shape = list(shape)
    shape[axis] = sum(sizes)
    dtype = data.draw(st.sampled_from(DTYPES))
    dynamic = [data.draw(st.booleans()) for _ in sizes]
    static = tuple(-1 if d else s for s, d in zip(sizes, dynamic))
    dyn_values = [FreeValue(TensorType("int64", ())) for d in dynamic if d]
    x = _strided(np.random.default_rng(1), dtype, shape, data)
    result = _builder().op("tir.split", _free(dtype, shape, data), *dyn_values, axis=axis, sizes=static)
    outs = _run(result, [x] + [np.int64(s) for s, d in zip(sizes, dynamic) if d])
    for got, want in zip(outs, np.split(x, np.cumsum(sizes)[:-1], axis=axis)):
        np.testing.assert_array_equal(got, want)


@given(shapes, st.data())
def test_alloc_type_matches_reference(shape, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    k = data.draw(st.integers(0, len(shape)))
    vshape = [1 if data.draw(st.booleans()) else d for d in shape[len(shape) - k:]]
    dynamic = [data.draw(st.booleans()) for _ in shape]
    static = tuple(-1 if d else s for s, d in zip(shape, dynamic))
    value = random_array(np.random.default_rng(2), dtype, vshape)
    result = _builder().op("tir.alloc", _free(dtype, vshape, data),
                           *[FreeValue(TensorType("int32", ())) for d in dynamic if d], shape=static)
    (out,) = _run(result, [value] + [np.int32(s) for s, d in zip(shape, dynamic) if d])
    np.testing.assert_array_equal(out, np.broadcast_to(value, shape))


@given(st.integers(-5, 5), st.integers(-5, 8), st.sampled_from([-3, -1, 1, 2]),
       st.sampled_from(["int64", "int32", "float64", "float32"]), st.booleans())
def test_arange_type_matches_reference(start, stop, step, dtype, static):
    length = len(np.arange(start, stop, step)) if static else -1
    scalars = [FreeValue(TensorType("int64", ())) for _ in range(3)]
    result = _builder().op("tir.arange", *scalars, dtype=dtype, length=length)
    assert result.type.shape == ((length if static else None),)
    (out,) = _run(result, [np.int64(start), np.int64(stop), np.int64(step)])
    np.testing.assert_array_equal(out, np.arange(start, stop, step).astype(dtype))


@given(st.integers(0, 4), st.integers(0, 4), st.integers(-4, 4), st.sampled_from(DTYPES), st.booleans())
def test_eye_type_matches_reference(n, m, k, dtype, dynamic):
    operands = [FreeValue(TensorType("int64", ()))] if dynamic else []
    result = _builder().op("tir.eye", *operands, shape=(-1 if dynamic else n, m), k=k, dtype=dtype)
    (out,) = _run(result, [np.int64(n)] if dynamic else [])
    np.testing.assert_array_equal(out, np.eye(n, m, k, dtype=dtype))


@given(shapes, st.lists(st.integers(0, 3), min_size=0, max_size=4), st.data())
def test_tile_type_matches_reference(shape, reps, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    dynamic = [data.draw(st.booleans()) for _ in reps]
    static = tuple(-1 if d else r for r, d in zip(reps, dynamic))
    x = _strided(np.random.default_rng(3), dtype, shape, data)
    result = _builder().op("tir.tile", _free(dtype, shape, data),
                           *[FreeValue(TensorType("int64", ())) for d in dynamic if d], reps=static)
    (out,) = _run(result, [x] + [np.int64(r) for r, d in zip(reps, dynamic) if d])
    np.testing.assert_array_equal(out, np.tile(x, reps))


@given(shapes, st.data())
def test_repeat_type_matches_reference(shape, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    axis = data.draw(st.integers(0, len(shape) - 1))
    if data.draw(st.booleans()):
        repeats = np.asarray(data.draw(st.integers(0, 3)), dtype=np.int64)
    else:
        counts = st.lists(st.integers(0, 3), min_size=shape[axis], max_size=shape[axis])
        repeats = np.asarray(data.draw(counts), dtype=np.int64)
    expected_len = int(np.repeat(np.zeros(shape[axis]), repeats).shape[0])
    length = expected_len if data.draw(st.booleans()) else -1
    x = _strided(np.random.default_rng(4), dtype, shape, data)
    rtype = TensorType("int64", repeats.shape)
    result = _builder().op("tir.repeat", _free(dtype, shape, data), FreeValue(rtype), axis=axis,
                           length=length)
    (out,) = _run(result, [x, repeats])
    np.testing.assert_array_equal(out, np.repeat(x, repeats, axis=axis))


@given(shapes, st.data())
def test_specify_shape_type_matches_reference(shape, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    spec = tuple(data.draw(st.sampled_from([d, -1, None])) for d in shape)
    operands = [FreeValue(TensorType("int64", ())) for d in spec if d == -1]
    result = _builder().op("tir.specify_shape", _free(dtype, shape, data), *operands, shape=spec)
    for want, got in zip(spec, result.type.shape):
        assert got == (want if want is not None and want >= 0 else got)
    x = random_array(np.random.default_rng(5), dtype, shape)
    (out,) = _run(result, [x] + [np.int64(d) for d, s in zip(shape, spec) if s == -1])
    np.testing.assert_array_equal(out, x)


def test_shape_family_round_trip():
    func, block = make_func("f", [TensorType("float32", (None, 4)), TensorType("int64", ())])
    x, n = block.arguments
    b = Builder(block, track_location=False)
    joined = b.op("tir.join", x, x, axis=1)
    pieces = b.op("tir.split", joined, n, axis=0, sizes=(2, -1))
    alloc = b.op("tir.alloc", b.constant(np.float32(0)), n, shape=(-1, 3))
    rng = b.op("tir.arange", b.constant(np.int64(0)), n, b.constant(np.int64(2)), dtype="float32")
    eye = b.op("tir.eye", n, shape=(3, -1), k=-1, dtype="int32")
    tiled = b.op("tir.tile", x, n, reps=(2, -1, 1))
    rep = b.op("tir.repeat", x, b.constant(np.array([1, 2, 0, 1])), axis=1, length=4)
    spec = b.op("tir.specify_shape", x, n, shape=(-1, None))
    block.append(Operation(RETURN, [*pieces, alloc, rng, eye, tiled, rep, spec], []))
    text = assert_round_trip(func)
    assert re.search(r'%\w+:2 = "tir.split"', text), text


@pytest.mark.parametrize("build, message", [
    (lambda b, x: b.op("tir.join", x, FreeValue(TensorType("float64", (2,))), axis=0), "same rank"),
    (lambda b, x: b.op("tir.join", x, x, axis=2), "axis 2 is out of range"),
    (lambda b, x: b.op("tir.join", x, FreeValue(TensorType("float64", (3, 5))), axis=0), "differ in dim 1"),
    (lambda b, x: b.op("tir.split", x, axis=0, sizes=(1, 1)), "add up to 2"),
    (lambda b, x: b.op("tir.split", x, axis=0, sizes=(1, -1)), "run-time piece size operand"),
    (lambda b, x: b.op("tir.alloc", x, shape=(3, 5)), "cannot be broadcast"),
    (lambda b, x: b.op("tir.alloc", x, shape=(4,)), "more dims"),
    (lambda b, x: b.op("tir.tile", x, reps=(-3,)), "must be >= 0"),
    (lambda b, x: b.op("tir.repeat", x, b.constant(np.array([1, 2])), axis=0), "2 repeats for an axis of"),
    (lambda b, x: b.op("tir.repeat", x, b.constant(np.array([1.5])), axis=0), "integer scalar or vector"),
    (lambda b, x: b.op("tir.specify_shape", x, shape=(4, 5)), "dim 1 of"),
    (lambda b, x: b.op("tir.specify_shape", x, shape=(4,)), "has 1 dims"),
    (lambda b, x: b.op("tir.eye", x, shape=(-1, 2)), "integer scalar"),
])
def test_bad_operands_are_clear_errors(build, message):
    x = FreeValue(TensorType("float64", (4, 4)))
    with pytest.raises(IRError, match=message):
        build(_builder(), x)


@pytest.mark.parametrize("name, inputs, attrs, message", [
    ("tir.split", [np.zeros(5), np.int64(1)], {"axis": 0, "sizes": (2, -1)}, "add up to 3"),
    ("tir.alloc", [np.zeros(()), np.int64(-2)], {"shape": (-1,)}, "negative dimensions"),
    ("tir.arange", [np.int64(0), np.int64(3), np.int64(0)], {"dtype": "int64"}, "step must not be zero"),
    ("tir.specify_shape", [np.zeros((2, 3))], {"shape": (2, 4)}, "dim 1 of the value is 3, expected 4"),
])
def test_run_time_errors_name_the_problem(name, inputs, attrs, message):
    from tensorir.dialects.registry import OPS

    types = [TensorType(np.asarray(a).dtype.name, np.asarray(a).shape) for a in inputs]
    op = OPS[name]
    full = op.normalize_attributes(attrs)
    with pytest.raises(ValueError, match=message):
        op.reference(inputs, full, op.infer([t.with_shape([None] * t.ndim) for t in types], full))
