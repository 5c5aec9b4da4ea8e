"""Theano's stability guarantee, for the cost and its gradient: every stability rewrite's pattern,
compiled in FAST_RUN and FAST_COMPILE, in float32 and float64, gives a finite cost and gradient on
inputs where the naive form overflows, equal to a float64 reference computed stably.

The table is keyed by the ``stabilize`` pattern each case exercises; a test checks that every
pattern has a case, so a new rewrite comes with its gradient guarantee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.special as sp

import tensorir as tr
import tensorir.tensor as T
from tensorir.passes.stabilize import stabilization_patterns

X = np.array([-800.0, -100.0, -3.0, 0.0, 3.0, 100.0, 800.0])  # exp overflows float32 and float64 at the ends
TINY = np.array([-1e-20, 1e-30, 0.0, 0.5])
Z = np.array([[800.0, -800.0, 0.0], [-800.0, 800.0, 5.0], [1.0, 2.0, 3.0]])
Y = np.array([1, 1, 2], dtype="int32")
W = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [0.25, 0.25, 0.5]])
T01 = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0])


def _softmax(z: np.ndarray) -> np.ndarray:
    return sp.softmax(z, axis=-1)


def _onehot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[y]


@dataclass(frozen=True)
class Case:
    """``cost(x)`` on ``x``, with its float64 reference value and gradient as functions of ``x``."""

    pattern: str
    name: str
    cost: Callable[[Any], Any]
    x: np.ndarray
    ref_cost: Callable[[np.ndarray], float]
    ref_grad: Callable[[np.ndarray], np.ndarray]


CASES = [
    Case("Log1p", "log(1 + x)", lambda x: T.log(1 + x).sum(), TINY,
         lambda x: np.log1p(x).sum(), lambda x: 1 / (1 + x)),
    Case("Expm1", "exp(x) - 1", lambda x: (T.exp(x) - 1).sum(), TINY,
         lambda x: np.expm1(x).sum(), np.exp),
    Case("Softplus", "log(1 + exp(x))", lambda x: T.log(1 + T.exp(x)).sum(), X,
         lambda x: np.logaddexp(0, x).sum(), sp.expit),
    Case("Softplus", "log1p(exp(x))", lambda x: T.log1p(T.exp(x)).sum(), X,
         lambda x: np.logaddexp(0, x).sum(), sp.expit),
    Case("LogSigmoid", "log(sigmoid(x))", lambda x: T.log(T.nnet.sigmoid(x)).sum(), X,
         lambda x: sp.log_expit(x).sum(), lambda x: sp.expit(-x)),
    Case("LogSigmoid", "log1p(-sigmoid(x))", lambda x: T.log1p(-T.nnet.sigmoid(x)).sum(), X,
         lambda x: sp.log_expit(-x).sum(), lambda x: -sp.expit(x)),
    Case("OneMinusSigmoid", "log(1 - sigmoid(x))", lambda x: T.log(1 - T.nnet.sigmoid(x)).sum(), X,
         lambda x: sp.log_expit(-x).sum(), lambda x: -sp.expit(x)),
    Case("SigmoidFromExp", "1 / (1 + exp(-x))", lambda x: (1 / (1 + T.exp(-x))).sum(), X,
         lambda x: sp.expit(x).sum(), lambda x: sp.expit(x) * sp.expit(-x)),
    Case("SigmoidFromExp", "exp(x) / (1 + exp(x))", lambda x: (T.exp(x) / (1 + T.exp(x))).sum(), X,
         lambda x: sp.expit(x).sum(), lambda x: sp.expit(x) * sp.expit(-x)),
    Case("LogSumExp", "log(sum(exp(x)))", lambda x: T.log(T.sum(T.exp(x))), X,
         sp.logsumexp, lambda x: sp.softmax(x)),
    Case("RecognizeSoftmax", "sum(softmax_graph(z) * w)", lambda z: (T.nnet.softmax_graph(z) * W).sum(), Z,
         lambda z: (_softmax(z) * W).sum(),
         lambda z: _softmax(z) * (W - (W * _softmax(z)).sum(-1, keepdims=True))),
    Case("LogSoftmax", "sum(log(softmax(z)) * w)", lambda z: (T.log(T.nnet.softmax(z)) * W).sum(), Z,
         lambda z: (sp.log_softmax(z, axis=-1) * W).sum(),
         lambda z: W - _softmax(z) * W.sum(-1, keepdims=True)),
    Case("SoftmaxCrossentropy", "mean(crossentropy(softmax(z), y))",
         lambda z: T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(z), Y)), Z,
         lambda z: -np.mean(sp.log_softmax(z, axis=-1)[np.arange(3), Y]),
         lambda z: (_softmax(z) - _onehot(Y, 3)) / 3),
    Case("SoftmaxCrossentropy", "mean(crossentropy(softmax_graph(z), onehot))",
         lambda z: T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax_graph(z), _onehot(Y, 3))), Z,
         lambda z: -np.mean(sp.log_softmax(z, axis=-1)[np.arange(3), Y]),
         lambda z: (_softmax(z) - _onehot(Y, 3)) / 3),
    Case("IndexedCrossentropy", "-mean(log(softmax(z))[arange(n), y])",
         lambda z: -T.mean(T.log(T.nnet.softmax(z))[T.arange(Y.shape[0]), Y]), Z,
         lambda z: -np.mean(sp.log_softmax(z, axis=-1)[np.arange(3), Y]),
         lambda z: (_softmax(z) - _onehot(Y, 3)) / 3),
    Case("SigmoidBinaryCrossentropy", "sum(binary_crossentropy(sigmoid(x), t))",
         lambda x: T.sum(T.nnet.binary_crossentropy(T.nnet.sigmoid(x), T01)), X,
         lambda x: (np.logaddexp(0, x) - x * T01).sum(), lambda x: sp.expit(x) - T01),
]

# Patterns with no case of their own: the gradient-side rewrite is exercised by the indexed
# cross-entropy case, and double negation only tidies what the others leave.
NO_CASE = {"IndexedCrossentropyGrad", "DoubleNegation"}


def test_every_stability_rewrite_has_a_case():
    patterns = {type(p).__name__ for p in stabilization_patterns()}
    covered = {c.pattern for c in CASES} | NO_CASE
    assert patterns <= covered, f"stability rewrites without a gradient case: {sorted(patterns - covered)}"


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cost_and_gradient_finite_and_exact(case: Case, dtype: str, mode: str):
    x = T.TensorType(dtype, shape=(None,) * case.x.ndim)("x")
    cost = case.cost(x)
    f = tr.function([x], [cost, T.grad(cost, x)], mode=mode)
    value = case.x.astype(dtype)
    got_cost, got_grad = f(value)
    assert np.isfinite(got_cost), f"{case.name}: cost {got_cost} at {value}"
    assert np.all(np.isfinite(got_grad)), f"{case.name}: gradient {got_grad} at {value}"
    x64 = value.astype("float64")
    tol = 1e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got_cost, case.ref_cost(x64), rtol=tol, atol=tol, err_msg=case.name)
    np.testing.assert_allclose(got_grad, case.ref_grad(x64), rtol=tol, atol=tol, err_msg=case.name)


def test_values_inside_a_pattern_keep_their_own_gradient():
    # Differentiating with respect to exp(x) itself needs the naive path: the rule steps aside.
    x = T.dvector("x")
    e = T.exp(x)
    cost = T.log(1 + e).sum()
    g_e = tr.function([x], T.grad(cost, e))(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_allclose(g_e, 1 / (1 + np.exp([-2.0, 0.0, 3.0])), rtol=1e-12)


def test_consider_constant_inside_a_pattern_is_respected():
    x = T.dvector("x")
    e = T.exp(x)
    cost = T.log(1 + e).sum()
    g = tr.function([x], T.grad(cost, x, consider_constant=[e], disconnected_inputs="ignore"))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, [0.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_inside_a_loop_body_is_stable(dtype: str):
    # Back-propagation through scan differentiates the body with the same table.
    x = T.TensorType(dtype, shape=(None, None))("x")
    out, _ = tr.scan(lambda row, acc: acc + T.log(1 + T.exp(row)).sum(), sequences=x,
                     outputs_info=[T.constant(np.zeros((), dtype=dtype))])
    cost = out[-1]
    value = np.array([[800.0, -800.0], [100.0, 0.0]], dtype=dtype)
    got_cost, got_grad = tr.function([x], [cost, T.grad(cost, x)])(value)
    np.testing.assert_allclose(got_cost, np.logaddexp(0, value.astype("float64")).sum(), rtol=1e-6)
    np.testing.assert_allclose(got_grad, sp.expit(value.astype("float64")), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_mode_is_stable_too(case: Case, dtype: str):
    # For a scalar cost, Rop(cost, x, v) = <grad, v>: forward mode takes the same stable forms.
    x = T.TensorType(dtype, shape=(None,) * case.x.ndim)("x")
    v = T.TensorType(dtype, shape=(None,) * case.x.ndim)("v")
    direction = np.linspace(-1.0, 1.0, case.x.size).reshape(case.x.shape)
    value = case.x.astype(dtype)
    got = tr.function([x, v], T.Rop(case.cost(x), x, v))(value, direction.astype(dtype))
    assert np.isfinite(got), f"{case.name}: Rop {got} at {value}"
    tol = 1e-5 if dtype == "float32" else 1e-10
    expected = (case.ref_grad(value.astype("float64")) * direction).sum()
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=case.name)
