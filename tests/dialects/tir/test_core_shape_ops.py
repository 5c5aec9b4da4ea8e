"""The core shape ops: dimshuffle, reshape (static and run-time shapes), shape, shape_i, make_vector."""

import numpy as np
import pytest
from tests.helpers import assert_round_trip

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.printing import graph_function


def test_dimshuffle_theano_semantics():
    x = T.TensorType("float64", (False, True, False))("x")
    y = x.dimshuffle(2, "x", 0)
    assert y.broadcastable == (False, True, False)
    f = tr.function([x], y, mode="REFERENCE")
    v = np.arange(6.0).reshape(2, 1, 3)
    np.testing.assert_array_equal(f(v), np.transpose(v[:, 0, :], (1, 0))[:, None, :])
    with pytest.raises(ValueError, match="only broadcastable"):
        T.matrix().dimshuffle(0)


def test_reshape_with_symbolic_dims_and_minus_one():
    x = T.tensor3("x")
    y = x.reshape((x.shape[0] * x.shape[1], -1))
    z = x.flatten(2)
    f = tr.function([x], [y, z, x.shape, x.shape[2]], mode="REFERENCE")
    v = np.random.default_rng(0).standard_normal((2, 3, 4))
    a, b, s, d = f(v)
    np.testing.assert_array_equal(a, v.reshape(6, 4))
    np.testing.assert_array_equal(b, v.reshape(2, 12))
    np.testing.assert_array_equal(s, [2, 3, 4])
    assert d == 4 and d.dtype == np.int64


def test_static_reshape_errors_early():
    x = T.TensorType("float64", shape=(2, 3))("x")
    with pytest.raises(ValueError, match="cannot reshape"):
        x.reshape((4, 2))


def test_run_time_reshape_error_names_the_op_and_line():
    x = T.matrix("x")
    n = T.lscalar("n")
    y = x.reshape((n, 5))
    f = tr.function([x, n], y, mode="REFERENCE")
    with pytest.raises(Exception, match=r"tir.reshape \(built at .*test_core_shape_ops.py:\d+\)"):
        f(np.zeros((3, 3)), 2)


def test_shape_ops_round_trip():
    x = T.tensor3("x")
    y = x.reshape((x.shape[0], -1)).dimshuffle(1, "x", 0)
    assert_round_trip(graph_function([y, x.shape, T.stack([x.shape[0], x.shape[1]])]))
