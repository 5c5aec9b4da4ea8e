"""The per-call fast paths keep every promise of the slow ones: argument checks, fresh outputs,
shared variables untouched by failed calls, and plans cached per shape that never go stale."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.runtime.arguments import InputError


def test_bad_arguments_still_raise_after_fast_calls() -> None:
    x = T.vector("x", dtype="float32")
    f = tr.function([x], x + 1)
    good = np.ones(3, np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(f(good), good + 1)
    with pytest.raises(InputError, match='input "x"'):
        f(np.ones(3, np.float64))  # a lossy cast needs allow_input_downcast
    with pytest.raises(InputError, match="number of dimensions"):
        f(np.ones((3, 1), np.float32))
    with pytest.raises(TypeError):
        f(good, good)
    np.testing.assert_array_equal(f([1.0, 2.0]), [2.0, 3.0])  # Python floats may be stored in float32
    np.testing.assert_array_equal(f(good.astype(">f4")), good + 1)  # other byte order: converted


def test_static_shapes_are_checked() -> None:
    x = T.tensor(dtype="float64", shape=(None, 3), name="x")
    f = tr.function([x], x * 2)
    np.testing.assert_array_equal(f(np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="static shape"):
        f(np.ones((2, 4)))


def test_outputs_are_fresh_arrays_the_user_owns() -> None:
    x = T.vector("x")
    f = tr.function([x], [x, x * 2, x * 2, T.constant(np.arange(3.0))])
    a = np.arange(3.0)
    same, doubled, again, constant = f(a)
    assert same is not a and not np.shares_memory(same, a)
    assert not np.shares_memory(doubled, again)
    constant[0] = 99.0  # writable, and the next call still sees the constant
    np.testing.assert_array_equal(f(a)[3], np.arange(3.0))
    assert f(a)[1] is not f(a)[1]


def test_an_update_never_aliases_an_output() -> None:
    x = T.vector("x")
    s = tr.shared(np.zeros(3), name="s")
    f = tr.function([x], x * 2, updates={s: x * 2})
    out = f(np.ones(3))
    out[0] = 42.0
    np.testing.assert_array_equal(s.get_value(), np.full(3, 2.0))


def test_failed_call_leaves_shared_variables_unchanged() -> None:
    x = T.vector("x")
    s = tr.shared(np.ones(3), name="s")
    f = tr.function([x], s + x, updates={s: s * 2 + x})
    f(np.ones(3))
    np.testing.assert_array_equal(s.get_value(), np.full(3, 3.0))
    with pytest.raises(EvaluationError, match="broadcast"):
        f(np.ones(4))
    np.testing.assert_array_equal(s.get_value(), np.full(3, 3.0))


def test_plans_follow_shapes_and_layouts() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    f = tr.function([x, y], T.exp(x) * y + 1)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    cases = [(a, b), (a, b[:1]), (a[:, :1], b), (np.asfortranarray(a), b), (a.T, b.T), (a[:0], b[:0]),
             (a[::2], b[1::2]), (a, b)]
    for u, v in cases:
        np.testing.assert_allclose(f(u, v), np.exp(u) * v + 1, rtol=1e-12)
    with pytest.raises(EvaluationError, match="broadcast"):
        f(a, b[:3])
    np.testing.assert_allclose(f(a, b), np.exp(a) * b + 1, rtol=1e-12)  # still right after the error


def test_reused_buffers_never_touch_arguments() -> None:
    x = T.matrix("x")
    f = tr.function([x], T.tanh(T.exp(x) * 2 + 1) - x)
    a = np.random.default_rng(1).standard_normal((50, 40))
    before = a.copy()
    for _ in range(3):
        np.testing.assert_allclose(f(a), np.tanh(np.exp(before) * 2 + 1) - before, rtol=1e-12)
    np.testing.assert_array_equal(a, before)


def test_steps_convert_numpy_scalars_and_python_numbers() -> None:
    x, y = T.vector("x"), T.scalar("y")
    f = tr.function([x, y], x * y)
    step = f.executor.steps[-1][0]
    for scalar in (np.float64(3.0), 3.0, np.array(3.0)):
        (out,) = step([np.ones(2), scalar])
        np.testing.assert_array_equal(out, [3.0, 3.0])


def test_a_one_step_plan_is_called_directly_and_says_which_op_failed() -> None:
    x = T.vector("x", dtype="float32")
    f = tr.function([x], x + 1)
    executor = f.executor
    assert len(executor.steps) == 1
    assert executor.run is not executor.run_plan  # the step is called without the slot table
    np.testing.assert_array_equal(f(np.arange(3, dtype=np.float32)), np.arange(3, dtype=np.float32) + 1)
    y = T.vector("y", dtype="float32")
    g = tr.function([x, y], x * y)
    with pytest.raises(EvaluationError, match="tir.mul") as info:
        g(np.ones(2, np.float32), np.ones(3, np.float32))
    assert "test_call_path.py" in str(info.value)  # the user's line
