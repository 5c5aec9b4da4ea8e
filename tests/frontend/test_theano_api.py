"""Theano API details legacy code relies on: Function.copy's options, fgraph nodes, typed constructors."""

from __future__ import annotations

import numpy as np

import tensorir as tr
import tensorir.tensor as T


def test_copy_swaps_shared_variables_and_deletes_updates():
    s = tr.shared(np.ones(2), name="s")
    other = tr.shared(np.full(2, 5.0), name="other")
    x = T.dvector("x")
    f = tr.function([x], x + s, updates=[(s, s * 2)])
    swapped = f.copy(swap={s: other})
    np.testing.assert_allclose(swapped(np.zeros(2)), [5, 5])
    np.testing.assert_allclose(other.get_value(), [10, 10])
    np.testing.assert_allclose(s.get_value(), [1, 1])
    frozen = f.copy(delete_updates=True)
    frozen(np.zeros(2))
    np.testing.assert_allclose(s.get_value(), [1, 1])
    plain = f.copy(share_memory=True)
    plain(np.zeros(2))
    np.testing.assert_allclose(s.get_value(), [2, 2])


def test_fgraph_nodes_have_op_inputs_outputs():
    x = T.dvector("x")
    f = tr.function([x], T.exp(x) * 2)
    nodes = f.maker.fgraph.toposort()
    assert nodes and all(hasattr(n, "op") and isinstance(n.inputs, list) and n.outputs for n in nodes)
    assert f.maker.fgraph.inputs and f.maker.fgraph.outputs


def test_prefixed_constructors_are_tensor_types():
    assert isinstance(T.dscalar, T.TensorType) and T.dscalar.dtype == "float64"
    m = T.fmatrix("m")
    assert m.type == T.fmatrix and m.name == "m" and m.dtype == "float32"
    assert T.drow("r").broadcastable == (True, False)
    assert T.dvector(shape=(3,)).type.shape == (3,) and T.fvector(dtype="float64").dtype == "float64"
    a, b = T.dscalars("a", "b")
    assert (a.name, b.name) == ("a", "b")
