"""Philox-based random ops: known-answer vectors, bit layout, statistics, inferred types, text form."""

import numpy as np
import pytest
from tests.helpers import assert_round_trip, check_reference_type

from tensorir.dialects import Builder, make_func
from tensorir.dialects.builtin import RETURN
from tensorir.dialects.ir import Operation
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir import random
from tensorir.dialects.types import TensorType

OPS = {op.name: op for op in random.OPS}

# Random123 tests/kat_vectors, "philox4x32 10" lines: counter words, key words, expected output words.
KAT = [
    ("00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    ("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    ("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


def words(text):
    return [int(w, 16) for w in text.split()]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = random.philox4x32_10([np.uint32(c) for c in words(counter)], tuple(words(key)))
    assert [int(w) for w in out.ravel()] == words(expected)


def test_word_stream_layout_and_state_advance():
    state = np.array([7, 9, 0xFFFFFFFF, 0xFFFFFFFF], dtype=np.uint32)  # position 2**64 - 1
    stream, new_state = random.random_words(state, 6)
    block0 = random.philox4x32_10([np.uint32(0xFFFFFFFF)] * 2 + [np.uint32(0)] * 2, (7, 9)).ravel()
    block1 = random.philox4x32_10([np.uint32(0)] * 4, (7, 9)).ravel()  # the counter wraps mod 2**64
    np.testing.assert_array_equal(stream, np.concatenate([block0, block1[:2]]))
    np.testing.assert_array_equal(new_state, [7, 9, 1, 0])
    first, mid = random.random_words(state, 4)
    rest, _ = random.random_words(mid, 2)
    np.testing.assert_array_equal(np.concatenate([first, rest]), stream)


def test_seed_state_gives_distinct_streams():
    states = {tuple(random.seed_state(seed, stream)) for seed in (0, 1, 2**63) for stream in range(4)}
    assert len(states) == 12
    np.testing.assert_array_equal(random.seed_state(5, 1), random.seed_state(5, 1))
    assert random.seed_state(5, 1)[2:].tolist() == [0, 0]


def draw(name, *params, shape=(1000,), **attrs):
    opdef = OPS[name]
    state = random.seed_state(1234, 0)
    inputs = [state, np.asarray(shape, dtype=np.int64), *[np.asarray(p) for p in params]]
    attrs = opdef.normalize_attributes({"static_shape": tuple(shape), **attrs})
    types = opdef.infer([TensorType(x.dtype.name, x.shape) for x in inputs], attrs)
    outs = opdef.reference(inputs, attrs, types)
    check_reference_type(types, outs)
    again = opdef.reference(inputs, attrs, types)
    np.testing.assert_array_equal(outs[1], again[1])  # a pure function of the state
    return outs


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_uniform_is_open_exact_and_uniform(dtype):
    new_state, u = draw("tir.random_uniform", shape=(200, 100), dtype=dtype)
    assert u.dtype == dtype and u.shape == (200, 100)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.astype(float).mean() - 0.5) < 0.01 and abs(u.astype(float).var() - 1 / 12) < 0.005
    words_used = 20000 * (2 if dtype == "float64" else 1)
    assert int(new_state[2]) == words_used // 4
    # Exactness: (2m + 1) * 2**-p, so 2**p * u is an odd integer.
    bits = {"float16": 11, "float32": 24, "float64": 53}[dtype]
    scaled = u.astype(np.float64) * 2.0**bits
    np.testing.assert_array_equal(scaled % 2, 1)


def test_uniform_float64_uses_two_words_hi_lo():
    _, u = draw("tir.random_uniform", shape=(1,), dtype="float64")
    hi, lo = (int(w) for w in random.random_words(random.seed_state(1234, 0), 2)[0])
    assert u[0] == ((((hi >> 12) << 32) | lo) * 2 + 1) * 2.0**-53


def test_normal_statistics():
    _, z = draw("tir.random_normal", shape=(100001,), dtype="float64")
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(((z > 1.959964) | (z < -1.959964)).mean() - 0.05) < 0.005
    _, z32 = draw("tir.random_normal", shape=(3, 5), dtype="float32")
    assert z32.dtype == np.float32 and np.isfinite(z32).all()


def test_binomial_with_broadcast_p():
    p = np.array([0.0, 0.2, 0.9, 1.0])
    _, b = draw("tir.random_binomial", p, shape=(5000, 4), n=3)
    assert b.dtype == np.int64 and b.min() >= 0 and b.max() <= 3
    np.testing.assert_allclose(b.mean(axis=0), 3 * p, atol=0.06)
    assert (b[:, 0] == 0).all() and (b[:, 3] == 3).all()
    _, mask = draw("tir.random_binomial", np.float32(0.5), shape=(10,), dtype="float32")
    assert mask.dtype == np.float32 and set(mask.tolist()) <= {0.0, 1.0}


def test_choice_with_and_without_replacement():
    population = np.arange(10, 20)
    _, c = draw("tir.random_choice", population, shape=(5000,))
    assert set(c.tolist()) == set(population.tolist())
    p = np.array([0.5, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.25])
    _, c = draw("tir.random_choice", population, p, shape=(8000,))
    counts = np.bincount(c - 10, minlength=10) / 8000
    np.testing.assert_allclose(counts, p, atol=0.02)
    _, c = draw("tir.random_choice", population, shape=(2, 5), replace=False)
    assert sorted(c.ravel().tolist()) == population.tolist()
    _, c = draw("tir.random_choice", population, p, shape=(3,), replace=False)
    assert sorted(c.tolist()) == [10, 18, 19]
    with pytest.raises(IRError, match="without replacement"):
        draw("tir.random_choice", population, shape=(11,), replace=False)
    with pytest.raises(ValueError, match="fewer non-zero"):
        draw("tir.random_choice", population, p, shape=(4,), replace=False)


def test_permutation():
    _, perms = draw("tir.random_permutation", np.int64(6), shape=(300,))
    assert perms.shape == (300, 6)
    assert all(sorted(row) == list(range(6)) for row in perms.tolist())
    assert abs(perms[:, 0].mean() - 2.5) < 0.3
    _, one = draw("tir.random_permutation", np.int64(0), shape=())
    assert one.shape == (0,)


def test_types_and_errors():
    op = OPS["tir.random_uniform"]
    attrs = op.normalize_attributes({"static_shape": (-1, 3), "dtype": "float32"})
    state = TensorType("uint32", (None,))
    assert op.infer([state, TensorType("int64", (2,))], attrs) == [state, TensorType("float32", (None, 3))]
    with pytest.raises(IRError, match="uint32 vector of 4"):
        op.infer([TensorType("int64", (4,)), TensorType("int64", (2,))], attrs)
    with pytest.raises(IRError, match="length 2"):
        op.infer([state, TensorType("int64", (3,))], attrs)
    with pytest.raises(IRError, match="takes 2 operands"):
        op.check_arity(3)
    with pytest.raises(ValueError, match="does not match the static shape"):
        op.reference([random.seed_state(0), np.array([2, 4])], attrs, [state, TensorType("float32", (None, 3))])
    with pytest.raises(IRError, match="broadcast"):
        OPS["tir.random_binomial"].infer(
            [state, TensorType("int64", (2,)), TensorType("float64", (4,))],
            {"static_shape": (5, 3), "n": 1, "dtype": "int64"},
        )
    for opdef in random.OPS:
        assert not opdef.differentiable and opdef.pure


def test_random_ops_round_trip():
    func, block = make_func("f", [TensorType("uint32", (None,)), TensorType("int64", ())], ["state", "n"])
    b = Builder(block, track_location=False)
    state, n = block.arguments
    shape = b.constant(np.array([3, 2], dtype=np.int64))
    s1, u = b.op("tir.random_uniform", state, shape, static_shape=(3, 2), dtype="float32")
    s2, z = b.op("tir.random_normal", s1, shape, static_shape=(3, 2))
    s3, k = b.op("tir.random_binomial", s2, shape, b.constant(np.float64(0.3)), static_shape=(3, 2), n=4)
    population = b.constant(np.arange(5, dtype=np.int32))
    s4, c = b.op("tir.random_choice", s3, shape, population, b.constant(np.full(5, 0.2)), static_shape=(3, 2))
    s5, p = b.op("tir.random_permutation", s4, b.constant(np.zeros(0, dtype=np.int64)), n, static_shape=())
    block.append(Operation(RETURN, [s5, u, z, k, c, p], []))
    text = assert_round_trip(func)
    assert "tir.random_permutation" in text and "static_shape = array<i64: 3, 2>" in text
