"""eval_intermediate: any intermediate's value for a call's inputs."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_value_of_a_fused_away_intermediate(dtype):
    x = T.vector("x", dtype=dtype)
    w = tr.shared(np.array([1.0, 2.0, 3.0], dtype=dtype), name="w")
    hidden = T.exp(x * w)
    f = tr.function([x], T.sum(hidden + 1.0))
    data = np.array([0.1, 0.2, 0.3], dtype=dtype)
    expected = np.exp(data * w.get_value())
    np.testing.assert_allclose(tr.eval_intermediate(f, [data], hidden), expected, rtol=1e-6)
    np.testing.assert_allclose(tr.eval_intermediate(f, {"x": data}, hidden), expected, rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(TypeError, match="compiled Function"):
        tr.eval_intermediate(lambda: None, [], T.vector("x"))
