"""Stability rewrites: exact where the naive graph overflows (logits of +-800), same values elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import tensorir.tensor as T
from tensorir.dialects.interpret import run_function
from tensorir.dialects.registry import OPS
from tensorir.frontend.variable import apply_op
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.dce import DCEPass
from tensorir.passes.pipelines import pipeline
from tensorir.passes.stabilize import StabilizePass

from .support import build, compare, op_names, rewritten_copy

PASSES = [StabilizePass(), CanonicalizePass(), DCEPass()]
X = np.array([-800.0, -30.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 30.0, 800.0])
MODERATE = np.array([-5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 5.0])  # where the naive forms are accurate


def _need(*names: str) -> None:
    missing = [n for n in names if n not in OPS]
    if missing:
        pytest.skip(f"ops not declared yet: {', '.join(missing)}")


def _stable(expr, x_value, expected, op, rtol=1e-12):  # noqa: ANN001, ANN201
    x = T.vector("x")
    func = build([expr(x)])
    with np.errstate(all="ignore"):
        naive = run_function(func, [x_value])[0]
    new = rewritten_copy(func, PASSES)
    assert op in op_names(new), op_names(new)
    got = run_function(new, [x_value])[0]
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-300)
    return naive


def test_log1p() -> None:
    x = np.array([1e-20, 1e-7, 0.5, 3.0])
    _stable(lambda v: T.log(1 + v), x, np.log1p(x), "tir.log1p")
    _stable(lambda v: T.log(1 - v), -x, np.log1p(x), "tir.log1p")


def test_expm1() -> None:
    x = np.array([1e-20, -1e-9, 0.5, 3.0])
    naive = _stable(lambda v: T.exp(v) - 1, x, np.expm1(x), "tir.expm1")
    assert naive[0] == 0.0  # the naive form loses the tiny value entirely


def test_softplus() -> None:
    naive = _stable(lambda v: T.log(1 + T.exp(v)), X, np.logaddexp(0, X), "tir.softplus")
    assert np.isinf(naive[-1])
    assert float(np.logaddexp(0, 800.0)) == 800.0


def test_log_sigmoid() -> None:
    naive = _stable(
        # The raw op: T.log itself already builds log(sigmoid) in the stable form.
        lambda v: apply_op("tir.log", _sigmoid(v)),
        X,
        -np.logaddexp(0, -X),
        "tir.softplus",
    )
    assert np.isneginf(naive[0])


def test_log_one_minus_sigmoid() -> None:
    naive = _stable(lambda v: T.log(1 - _sigmoid(v)), X, -np.logaddexp(0, X), "tir.softplus")
    assert np.isneginf(naive[-1])


def test_sigmoid_from_exp() -> None:
    _stable(lambda v: 1 / (1 + T.exp(-v)), X, scipy.special.expit(X), "tir.sigmoid")
    naive = _stable(lambda v: T.exp(v) / (1 + T.exp(v)), X, scipy.special.expit(X), "tir.sigmoid")
    assert np.isnan(naive[-1])


def test_logsumexp() -> None:
    _need("tir.logsumexp")
    m = T.matrix("m")
    func = build([T.log(T.sum(T.exp(m), axis=1))])
    value = np.array([[-800.0, 800.0], [-800.0, -805.0], [0.0, 1.0]])
    new = rewritten_copy(func, PASSES)
    assert "tir.logsumexp" in op_names(new)
    got = run_function(new, [value])[0]
    np.testing.assert_allclose(got, scipy.special.logsumexp(value, axis=1), rtol=1e-14)
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(run_function(func, [value])[0]))


def test_log_softmax_of_hand_written_softmax() -> None:
    _need("tir.softmax", "tir.log_softmax")
    m = T.matrix("m")
    e = T.exp(m)
    func = build([T.log(e / e.sum(axis=1, keepdims=True)), T.log(e / e.sum(axis=1).dimshuffle(0, "x"))])
    value = np.array([[-10.0, -10.0, 999.0], [999.0, 990.0, -10.0]])
    new = rewritten_copy(func, PASSES)
    assert op_names(new).count("tir.log_softmax") == 2 and "tir.exp" not in op_names(new)
    for got in run_function(new, [value]):
        np.testing.assert_allclose(got, scipy.special.log_softmax(value, axis=1), rtol=1e-14)


def test_softmax_crossentropy_fused() -> None:
    _need("tir.softmax", "tir.crossentropy_categorical", "tir.softmax_crossentropy")
    from tensorir.frontend.variable import apply_values

    z = T.matrix("z")
    y = T.ivector("y")
    sm = apply_values("tir.softmax", [z.value], {"axis": -1})
    loss = apply_values("tir.crossentropy_categorical", [sm.value, y.value], {})
    func = build([loss.mean()])
    zv = np.array([[800.0, -800.0, 0.0], [1.0, 2.0, 3.0]])
    yv = np.array([1, 2], dtype=np.int32)
    new = rewritten_copy(func, PASSES)
    assert "tir.softmax_crossentropy" in op_names(new) and "tir.softmax" not in op_names(new)
    got = run_function(new, [zv, yv])[0]
    expected = np.mean(scipy.special.logsumexp(zv, axis=1) - zv[[0, 1], yv])
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got > 0 and np.isfinite(got)


def test_binary_crossentropy_of_sigmoid() -> None:
    _need("tir.sigmoid_binary_crossentropy")
    x, t = T.vector("x"), T.vector("t")
    p = _sigmoid(x)
    func = build([-(t * T.log(p) + (1 - t) * T.log(1 - p))])
    xv = np.array([-800.0, -800.0, 800.0, 800.0, 0.3])
    tv = np.array([0.0, 1.0, 0.0, 1.0, 0.25])
    new = rewritten_copy(func, PASSES)
    assert "tir.sigmoid_binary_crossentropy" in op_names(new)
    got = run_function(new, [xv, tv])[0]
    expected = np.maximum(xv, 0) - xv * tv + np.log1p(np.exp(-np.abs(xv)))
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(run_function(func, [xv, tv])[0]))


@pytest.mark.parametrize(
    "expr",
    [
        lambda v: T.log(1 + v * v),
        lambda v: T.exp(v) - 1,
        lambda v: T.log(1 + T.exp(v)),
        lambda v: T.log(_sigmoid(v)) + T.log(1 - _sigmoid(v)),
        lambda v: 1 / (1 + T.exp(-v)),
    ],
)
def test_same_values_where_naive_is_finite(expr) -> None:  # noqa: ANN001
    x = T.vector("x")
    compare(build([expr(x)]), PASSES, [MODERATE], rtol=1e-9)


def test_full_pipeline_keeps_stability() -> None:
    x = T.vector("x")
    func = build([T.log(1 + T.exp(x)).sum(), T.log(_sigmoid(x))])
    new = rewritten_copy(func, pipeline("fast_run"))
    for got in run_function(new, [X]):
        assert np.all(np.isfinite(got))


def _sigmoid(v):  # noqa: ANN001, ANN202
    from tensorir.frontend.variable import apply_values

    return apply_values("tir.sigmoid", [v.value], {})


def test_tutorial_loss_with_advanced_indexing() -> None:
    """``-mean(log(softmax(z))[arange(y.shape[0]), y])`` becomes the fused stable op."""
    _need("tir.softmax", "tir.log_softmax", "tir.softmax_crossentropy", "tir.advanced_subtensor", "tir.arange")
    if not hasattr(T, "arange") or not hasattr(T.nnet, "softmax"):
        pytest.skip("T.arange / T.nnet.softmax not in the frontend yet")
    z, y = T.matrix("z"), T.ivector("y")
    # The raw log op: T.log itself already builds log(softmax) as log_softmax.
    loss = -T.mean(apply_op("tir.log", T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    func = build([loss], [z, y])
    zv = np.array([[800.0, -800.0, 0.0], [1.0, 2.0, 3.0]])
    yv = np.array([1, 2], dtype=np.int32)
    with np.errstate(all="ignore"):
        naive = run_function(func, [zv, yv])[0]
    new = rewritten_copy(func, pipeline("fast_run"))
    assert "tir.softmax_crossentropy" in op_names(new), op_names(new)
    got = run_function(new, [zv, yv])[0]
    expected = np.mean(scipy.special.logsumexp(zv, axis=1) - zv[[0, 1], yv])
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert not np.isfinite(naive)


def test_gradient_of_the_tutorial_loss_becomes_one_op() -> None:
    """The gradient of ``log_softmax(z)[arange(n), y]`` is ``softmax_crossentropy_grad``: no zeros,
    scatter or row sum over the scores are left, and the values are the naive graph's."""
    import tensorir as tr

    z, y = T.matrix("z"), T.ivector("y")
    loss = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    func = build([tr.grad(loss, z)], [z, y])
    rng = np.random.default_rng(3)
    zv, yv = rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5).astype(np.int32)
    before = run_function(func, [zv, yv])[0]
    new = rewritten_copy(func, pipeline("fast_run"))
    names = op_names(new)
    assert "tir.softmax_crossentropy_grad" in names, names
    assert "tir.advanced_inc_subtensor" not in names and "tir.log_softmax" not in names, names
    np.testing.assert_allclose(run_function(new, [zv, yv])[0], before, rtol=1e-12, atol=1e-15)
    expected = (scipy.special.softmax(zv, axis=1) - np.eye(4)[yv]) / 5
    np.testing.assert_allclose(before, expected, rtol=1e-12, atol=1e-15)


def test_gradient_rewrite_needs_the_rows_arange() -> None:
    """With rows picked by another index vector (here reversed), the rewrite must not apply."""
    z, y, r = T.matrix("z"), T.ivector("y"), T.lvector("r")
    import tensorir as tr

    loss = -T.sum(T.log(T.nnet.softmax(z))[r, y])
    func = build([tr.grad(loss, z)], [z, y, r])
    new = rewritten_copy(func, pipeline("fast_run"))
    assert "tir.softmax_crossentropy_grad" not in op_names(new)
    zv = np.random.default_rng(0).standard_normal((3, 4))
    yv, rv = np.array([1, 0, 3], np.int32), np.array([2, 1, 0])
    np.testing.assert_allclose(run_function(new, [zv, yv, rv])[0], run_function(func, [zv, yv, rv])[0], rtol=1e-12)


@pytest.mark.parametrize("rows, fires", [(np.arange(6), True), (np.arange(6)[::-1].copy(), False),
                                         (np.array([0, 1, 2, 3, 5, 4]), False)])
def test_a_folded_arange_of_static_rows_counts_as_arange(rows: np.ndarray, fires: bool) -> None:
    """With a static row count, ``arange(n)`` folds to a constant before the rewrite sees it (the
    char-LSTM's ``arange(S * B)``): the constant 0..n-1 still selects one entry per row; any other
    constant does not."""
    import tensorir as tr

    z, y = T.matrix("z"), T.ivector("y")
    zs = z.reshape((6, 4))
    loss = -T.mean(T.log(T.nnet.softmax(zs))[T.constant(rows), y])
    func = build([loss, tr.grad(loss, z)], [z, y])
    new = rewritten_copy(func, pipeline("fast_run"))
    names = op_names(new)
    assert ("tir.softmax_crossentropy" in names and "tir.softmax_crossentropy_grad" in names) == fires, names
    assert ("tir.advanced_subtensor" not in names) == fires, names
    rng = np.random.default_rng(4)
    zv, yv = rng.standard_normal((6, 4)), rng.integers(0, 4, 6).astype(np.int32)
    for got, want in zip(run_function(new, [zv, yv]), run_function(func, [zv, yv])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
