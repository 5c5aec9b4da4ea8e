"""``RandomStreams``: statistics, reproducibility, state updates and symbolic sizes."""

import subprocess
import sys

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.tensor.random import MRG_RandomStreams, RandomStreams


def test_statistics_and_bounds():
    rs = RandomStreams(7)
    u = rs.uniform((200, 100), low=-2.0, high=3.0)
    z = rs.normal((20000,), avg=1.0, std=2.0)
    b = rs.binomial((20000,), n=5, p=0.3)
    uv, zv, bv = tr.function([], [u, z, b])()
    assert uv.dtype == tr.config.floatX and uv.shape == (200, 100)
    assert -2 <= uv.min() and uv.max() <= 3 and abs(uv.mean() - 0.5) < 0.05 and abs(uv.var() - 25 / 12) < 0.1
    assert abs(zv.mean() - 1) < 0.05 and abs(zv.std() - 2) < 0.05
    assert bv.dtype == np.int64 and bv.min() >= 0 and bv.max() <= 5 and abs(bv.mean() - 1.5) < 0.05


def test_same_seed_same_numbers_across_functions_and_processes():
    def sample(seed):
        rs = RandomStreams(seed)
        return tr.function([], [rs.uniform((4,)), rs.normal((3,), dtype="float32")])()

    a, b, c = sample(123), sample(123), sample(124)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    code = (
        "import tensorir as tr; from tensorir.tensor.random import RandomStreams; rs = RandomStreams(123); "
        "print(repr(tr.function([], rs.uniform((4,)))().tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert eval(out.stdout.strip()) == a[0].tolist()


def test_state_advances_unless_no_default_updates():
    rs = RandomStreams(1)
    u = rs.uniform((3,))
    f = tr.function([], u)
    first, second = f(), f()
    assert not np.array_equal(first, second)
    frozen = tr.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    ((state, new_state),) = rs.updates()
    assert state.default_update is new_state and state.get_value().dtype == np.uint32
    rs.seed(1)
    np.testing.assert_array_equal(f(), first)
    rs.seed(2)
    assert not np.array_equal(f(), first)


def test_two_draws_are_independent_streams():
    rs = MRG_RandomStreams()
    u1, u2 = rs.uniform((5,)), rs.uniform((5,))
    a, b = tr.function([], [u1, u2])()
    assert not np.array_equal(a, b)
    a2 = tr.function([], MRG_RandomStreams(12345).uniform((5,)))()
    np.testing.assert_array_equal(a, a2)


def test_symbolic_sizes():
    rs = RandomStreams(3)
    x = T.matrix("x")
    n = T.lscalar("n")
    like = rs.binomial(x.shape, p=0.5, dtype=x.dtype)
    vec = rs.normal((n, 2))
    assert like.ndim == 2 and vec.static_shape == (None, 2)
    out = tr.function([x, n], [like, vec])(np.zeros((3, 4)), 5)
    assert out[0].shape == (3, 4) and out[0].dtype == x.dtype and out[1].shape == (5, 2)
    fixed = rs.uniform(T.tensor(dtype="float64", shape=(2, 3)).shape)
    assert fixed.static_shape == (2, 3)
    p = T.vector("p")
    bern = rs.binomial(p=p)  # size None: the parameters' shape
    assert tr.function([p], bern)(np.array([0.0, 1.0, 1.0])).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="ndim"):
        rs.uniform((2, 3), ndim=3)


def test_choice_and_permutation():
    rs = RandomStreams(5)
    c = rs.choice(size=(6,), a=6, replace=False)
    perm = rs.permutation(size=(2,), n=4)
    weighted = rs.choice(size=(1000,), a=np.array([10, 20, 30]), p=np.array([0.0, 0.5, 0.5]))
    cv, pv, wv = tr.function([], [c, perm, weighted])()
    assert sorted(cv.tolist()) == list(range(6))
    assert pv.shape == (2, 4) and all(sorted(row) == [0, 1, 2, 3] for row in pv.tolist())
    assert set(wv.tolist()) == {20, 30}


def test_dropout_and_floatx():
    x = T.matrix("x")
    with tr.change_flags(floatX="float32"):
        rs = RandomStreams(0)
        assert rs.uniform((2,)).dtype == "float32" and rs.normal((2,)).dtype == "float32"
    dropped = T.nnet.dropout(x, p=0.25, srng=RandomStreams(9))
    out = tr.function([x], dropped)(np.ones((100, 100)))
    assert set(np.unique(out).tolist()) <= {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.03
    assert T.nnet.dropout(x, p=0.5, deterministic=True) is x


def test_sample_rng_saves_and_restores_its_stream():
    # Theano's per-variable .rng: the shared state of the sample's stream.
    streams = T.shared_randomstreams.RandomStreams(234)
    u = streams.uniform((2, 2))
    n = streams.normal((2, 2), avg=1.0, std=2.0)
    draw = tr.function([], u)
    saved = u.rng.get_value()
    first, second = draw(), draw()
    u.rng.set_value(saved)
    np.testing.assert_array_equal(draw(), first)
    assert not np.array_equal(first, second) and n.rng is not u.rng
    with pytest.raises(AttributeError, match="2 random streams"):
        (u + n).rng  # noqa: B018
    assert not hasattr(T.dvector("x"), "rng")
