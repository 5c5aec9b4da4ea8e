"""Bad input gets a clear Python exception that names the input or the op and the user's line."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.frontend.config import ConfigError, load_config


def test_wrong_number_of_arguments():
    x = T.dvector("x")
    f = tr.function([x], x * 2, mode="REFERENCE")
    with pytest.raises(TypeError, match="takes 1 argument"):
        f([1.0], [2.0])
    with pytest.raises(TypeError, match="missing argument 'x'"):
        f()
    with pytest.raises(TypeError, match="no input named 'y'"):
        f(y=[1.0])


def test_wrong_rank_names_the_input():
    x = T.dmatrix("x")
    f = tr.function([x], x.sum(), mode="REFERENCE")
    with pytest.raises(TypeError, match=r'input "x" \(index 0\).*expected 2, got 1'):
        f(np.zeros(3))


def test_downcast_needs_permission():
    x = T.fvector("x")
    f = tr.function([x], x * 2, mode="REFERENCE")
    with pytest.raises(TypeError, match="float32 tensor cannot store a value of dtype float64"):
        f(np.zeros(3))
    assert f([1.5, 2.5]).dtype == np.float32  # Python floats may be downcast (Theano's rule)
    g = tr.function([x], x * 2, allow_input_downcast=True, mode="REFERENCE")
    np.testing.assert_array_equal(g(np.ones(2)), [2, 2])


def test_shape_mismatch_at_run_time_names_op_and_line_and_keeps_shared_values():
    x = T.dvector("x")
    acc = tr.shared(np.zeros(3), "acc")
    y = x + acc
    line = y.owner._op.location.line
    f = tr.function([x], y, updates=[(acc, acc + 1)], mode="REFERENCE")
    f(np.ones(3))
    before = acc.get_value()
    with pytest.raises(EvaluationError) as info:
        f(np.ones(4))
    assert "tir.add" in str(info.value) and f"test_errors.py:{line}" in str(info.value)
    np.testing.assert_array_equal(acc.get_value(), before)


def test_graph_construction_errors_name_the_users_line():
    a = T.TensorType("float64", shape=(3,))("a")
    b = T.TensorType("float64", shape=(4,))("b")
    with pytest.raises(ValueError, match=r"test_errors.py:\d+: shapes of tir.add operands cannot be broadcast"):
        a + b


def test_missing_and_unused_inputs():
    x, y = T.dvectors("x", "y")
    with pytest.raises(ValueError, match="depend on input 'y'"):
        tr.function([x], x + y)
    with pytest.raises(ValueError, match="not used"):
        tr.function([x, y], x * 2)
    with pytest.warns(UserWarning, match="not used"):
        tr.function([x, y], x * 2, on_unused_input="warn")
    tr.function([x, y], x * 2, on_unused_input="ignore")


def test_update_type_must_match():
    s = tr.shared(np.zeros(3, dtype="float32"))
    with pytest.raises(TypeError, match="same type as the shared variable"):
        tr.function([], [], updates=[(s, s * np.float64(2.0))])
    with pytest.raises(TypeError, match="not a shared variable"):
        tr.function([], [], updates=[(T.dvector(), s)])


def test_symbolic_variables_have_no_truth_value():
    with pytest.raises(TypeError, match="no truth value"):
        if T.dscalar() > 0:
            pass


def test_config_flags():
    cfg = load_config({"TENSORIR_FLAGS": "floatX=float32,mode=FAST_COMPILE", "TENSORIRRC": "/nonexistent"})
    assert cfg.floatX == "float32" and cfg.mode == "FAST_COMPILE"
    with pytest.raises(ConfigError, match="unknown flag 'floatx'"):
        load_config({"TENSORIR_FLAGS": "floatx=float32", "TENSORIRRC": "/nonexistent"})
    with pytest.raises(ConfigError, match="does not accept 'float8'"):
        load_config({"TENSORIR_FLAGS": "floatX=float8", "TENSORIRRC": "/nonexistent"})
    with pytest.raises(AttributeError, match="no flag"):
        tr.config.nope  # noqa: B018


def test_config_file(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("[global]\nfloatX = float32\ndevice = cpu\n")
    cfg = load_config({"TENSORIRRC": str(rc)})
    assert cfg.floatX == "float32"
    rc.write_text("[global]\nfloatX = float99\n")
    with pytest.raises(ConfigError, match="config file"):
        load_config({"TENSORIRRC": str(rc)})


def test_variables_are_truthy_but_comparisons_are_not():
    W = T.dmatrix("W")
    assert W  # Theano's `if not W:` idiom for "not given"
    with pytest.raises(TypeError, match="is None"):
        bool(T.eq(W, 0))
    a, b, c = T.dscalars("a", "b", "c")
    with pytest.raises(TypeError, match="no truth value"):
        a < b < c  # noqa: B015 - Python evaluates (a < b) and (b < c)


def test_lossless_python_values_into_float32():
    s = tr.shared(np.zeros(2, dtype="float32"))
    s.set_value([1.0, 2.5])
    assert s.get_value().dtype == np.float32
    s0 = tr.shared(np.float32(0))
    s0.set_value(1.0)
    assert s0.get_value() == 1.0
    with pytest.raises(TypeError, match="cast it explicitly"):
        s.set_value(np.array([1.0, 2.0]))  # an ndarray of another dtype is never converted silently
    v = T.fvector("v")
    double = tr.function([v], v * 2)
    np.testing.assert_allclose(double([1, 2, 3]), [2, 4, 6])  # Python ints convert exactly
    with pytest.raises(TypeError, match="loss of precision"):
        double([2**25 + 1])  # not exactly representable in float32
