"""``config.compute_test_value``: ops evaluated on test values as they are built (Theano's debugging aid)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.config import change_flags
from tensorir.frontend.eager_values import TestValueError


def test_results_carry_test_values():
    with change_flags(compute_test_value="raise"):
        x = T.dmatrix("x")
        x.tag.test_value = np.ones((2, 3))
        W = tr.shared(np.full((3, 4), 2.0))
        y = T.tanh(T.dot(x, W) + 1)
    np.testing.assert_allclose(y.tag.test_value, np.tanh(np.full((2, 4), 7.0)))


def test_shape_mismatch_fails_at_the_building_line():
    with change_flags(compute_test_value="warn"):
        x, z = T.dmatrices("x", "z")
        x.tag.test_value = np.ones((2, 3))
        z.tag.test_value = np.ones((5, 5))
        with pytest.raises(TestValueError, match=r"test_eager_values.py:\d+: tir.add fails on the test values"):
            x + z  # noqa: B018


def test_missing_test_values_by_mode():
    x, q = T.dvectors("x", "q")
    x.tag.test_value = np.ones(2)
    with change_flags(compute_test_value="raise"), pytest.raises(TestValueError, match="operand 1 .q."):
        x + q  # noqa: B018
    with change_flags(compute_test_value="warn"), pytest.warns(UserWarning, match="no test value"):
        x + q  # noqa: B018
    with change_flags(compute_test_value="ignore"):
        assert not hasattr((x + q).tag, "test_value")
    assert not hasattr((x * 2).tag, "test_value")  # 'off' (the default) computes nothing
