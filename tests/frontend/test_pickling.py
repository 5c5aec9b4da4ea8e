"""Pickling as Theano users checkpoint: shared variables, graphs and compiled functions."""

from __future__ import annotations

import pickle

import numpy as np

import tensorir as tr
import tensorir.tensor as T


def test_graph_with_elementwise_ops_pickles():
    x = T.dvector("x")
    y = T.tanh(T.exp(-x)) + T.log1p(x * x)
    x2, y2 = pickle.loads(pickle.dumps((x, y)))
    value = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(tr.function([x2], y2)(value), tr.function([x], y)(value))


def test_function_pickles_and_keeps_shared_identity():
    s = tr.shared(np.ones(2), name="s")
    x = T.dvector("x")
    f = tr.function([x], x + s, updates=[(s, s * 2)])
    g = tr.function([], s.sum())
    f2, g2, s2 = pickle.loads(pickle.dumps((f, g, s)))
    assert np.allclose(f2(np.zeros(2)), [1, 1])
    assert np.allclose(s2.get_value(), [2, 2]) and g2() == 4.0  # one shared variable for both functions
    assert np.allclose(s.get_value(), [1, 1])  # the original is untouched
