"""PyTensor graphs compiled by tensorir: each converted op against NumPy, fallbacks reported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytensor = pytest.importorskip("pytensor")
import pytensor.tensor as pt  # noqa: E402
from pytensor.ifelse import ifelse as _ifelse  # noqa: E402

import tensorir.pytensor as tp  # noqa: E402

RNG = np.random.default_rng(0)


def _compile(inputs, outputs):  # noqa: ANN001, ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTensor's own BLAS warning on import
        return pytensor.function(inputs, outputs, mode=tp.mode())


# name -> (inputs as (ndim, kind) with kind 'f' float / 'p' positive / 'u' unit interval / 'i' int,
#          the PyTensor expression, the NumPy reference)
CASES = {
    "add_mul_sub_div": ([(2, "f"), (1, "f")], lambda a, b: (a + b) * a - a / (b * b + 1),
                        lambda a, b: (a + b) * a - a / (b * b + 1)),
    "exp_log_sqrt": ([(2, "p")], lambda a: pt.exp(a) + pt.log(a) + pt.sqrt(a), lambda a: np.exp(a) + np.log(a) +
                     np.sqrt(a)),
    "log1p_expm1_tanh": ([(1, "f")], lambda a: pt.log1p(pt.abs(a)) + pt.expm1(a) * pt.tanh(a),
                         lambda a: np.log1p(np.abs(a)) + np.expm1(a) * np.tanh(a)),
    "sigmoid_softplus_log1mexp": ([(1, "f")], lambda a: pt.sigmoid(a) + pt.softplus(a) + pt.log1mexp(-pt.abs(a) - 0.1),
                                  lambda a: 1 / (1 + np.exp(-a)) + np.logaddexp(0, a) +
                                  np.log(-np.expm1(-np.abs(a) - 0.1))),
    "pow_max_min_switch": ([(2, "p"), (2, "f")], lambda a, b: pt.switch(b > 0, a ** 1.5, pt.maximum(a, b)) +
                           pt.minimum(a, 0.5), lambda a, b: np.where(b > 0, a ** 1.5, np.maximum(a, b)) +
                           np.minimum(a, 0.5)),
    "erf_clip_sqr": ([(1, "f")], lambda a: pt.erf(a) + pt.clip(a, -0.5, 0.5) + pt.sqr(a),
                     lambda a: _erf(a) + np.clip(a, -0.5, 0.5) + a * a),
    "sum_prod_max_axes": ([(3, "u")], lambda a: [a.sum(axis=(0, 2)), a.prod(axis=1), a.max(axis=-1), a.min()],
                          lambda a: [a.sum(axis=(0, 2)), a.prod(axis=1), a.max(axis=-1), a.min()]),
    "argmax_mean": ([(2, "f")], lambda a: [pt.argmax(a, axis=1), a.mean(axis=0)],
                    lambda a: [np.argmax(a, axis=1), a.mean(axis=0)]),
    "dimshuffle_transpose": ([(2, "f"), (1, "f")], lambda a, b: a.T + b.dimshuffle(0, "x"),
                             lambda a, b: a.T + b[:, None]),
    "dot_matmul": ([(2, "f"), (2, "f")], lambda a, b: [pt.dot(a, b.T), a @ b.T @ a],
                   lambda a, b: [a @ b.T, a @ b.T @ a]),
    "subtensor": ([(2, "f")], lambda a: [a[1:, ::2], a[0], a[-1, 1:3]], lambda a: [a[1:, ::2], a[0], a[-1, 1:3]]),
    "inc_set_subtensor": ([(2, "f"), (1, "f")], lambda a, b: [pt.inc_subtensor(a[0, :], b),
                                                              pt.set_subtensor(a[1:2, :], b)],
                          lambda a, b: [_inc(a, 0, b), _set(a, slice(1, 2), b)]),
    "advanced_subtensor1": ([(2, "f")], lambda a: [a[np.array([2, 0, 2])], pt.inc_subtensor(a[[0, 0]], 1.0)],
                            lambda a: [a[[2, 0, 2]], _inc_dup(a)]),
    "alloc_join_reshape": ([(2, "f"), (1, "f")], lambda a, b: [pt.alloc(b, 2, b.shape[0]),
                                                               pt.concatenate([a, a], axis=1),
                                                               a.reshape((-1,)), pt.stack([b.sum(), b.max()])],
                           lambda a, b: [np.broadcast_to(b, (2, b.shape[0])), np.concatenate([a, a], axis=1),
                                         a.reshape(-1), np.array([b.sum(), b.max()])]),
    "softmax_logsoftmax": ([(2, "f")], lambda a: [pt.special.softmax(a, axis=-1), pt.special.log_softmax(a, axis=0)],
                           lambda a: [_softmax(a, -1), np.log(_softmax(a, 0))]),
    "softmax_vector": ([(1, "f")], lambda a: [pt.special.softmax(a, axis=0), pt.special.log_softmax(a, axis=-1)],
                       lambda a: [_softmax(a, 0), np.log(_softmax(a, 0))]),
    "softmax_grad": ([(2, "f"), (2, "f")], lambda a, b: pytensor.grad((pt.special.softmax(a, axis=-1) * b).sum(), a),
                     lambda a, b: (b - (b * _softmax(a, -1)).sum(axis=-1, keepdims=True)) * _softmax(a, -1)),
    "ifelse": ([(1, "f")], lambda a: _ifelse(a.sum() > 0, a * 2, a - 1),
               lambda a: a * 2 if a.sum() > 0 else a - 1),
    "comparisons_and_or": ([(1, "f"), (1, "f")], lambda a, b: pt.cast(((a > b) & (a < 1)) | pt.eq(a, b), "int64")
                           + pt.isnan(a), lambda a, b: (((a > b) & (a < 1)) | (a == b)).astype("int64") +
                           np.isnan(a)),
    "integer_ops": ([(1, "i"), (1, "i")], lambda a, b: [a // (pt.abs(b) + 1), a % (pt.abs(b) + 1), a * b - 3],
                    lambda a, b: [a // (np.abs(b) + 1), a % (np.abs(b) + 1), a * b - 3]),
    "grad_of_logp": ([(1, "f")], lambda a: pytensor.grad(-0.5 * (a ** 2).sum() + pt.log(pt.sigmoid(a)).sum(), a),
                     lambda a: -a + 1 - 1 / (1 + np.exp(-a))),
}


def _erf(a: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(a)


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _inc(a: np.ndarray, i: int, b: np.ndarray) -> np.ndarray:
    out = a.copy()
    out[i, :] += b
    return out


def _set(a: np.ndarray, i: slice, b: np.ndarray) -> np.ndarray:
    out = a.copy()
    out[i, :] = b
    return out


def _inc_dup(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    np.add.at(out, [0, 0], 1.0)
    return out


def _value(ndim: int, kind: str, dtype: str) -> np.ndarray:
    shape = {0: (), 1: (3,), 2: (4, 3), 3: (2, 3, 4)}[ndim]
    if kind == "i":
        return RNG.integers(-5, 6, shape).astype("int64")
    data = RNG.standard_normal(shape)
    if kind == "p":
        data = np.abs(data) + 0.1
    if kind == "u":
        data = RNG.uniform(0.5, 1.5, shape)
    return data.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_converts_and_matches_numpy(case: str, dtype: str) -> None:
    specs, build, reference = CASES[case]
    if dtype == "float32" and all(kind == "i" for _, kind in specs):
        pytest.skip("integer case: one dtype")
    with pytensor.config.change_flags(floatX=dtype):
        inputs = [pt.tensor(dtype="int64" if kind == "i" else dtype, shape=(None,) * ndim) for ndim, kind in specs]
        outputs = build(*inputs)
        fn = _compile(inputs, outputs)
    values = [_value(ndim, kind, dtype) for ndim, kind in specs]
    got = fn(*values)
    want = reference(*values)
    got, want = (got, want) if isinstance(want, list) else ([got], [want])
    assert tp.fallbacks(fn) == [], tp.fallbacks(fn)
    tol = 2e-5 if dtype == "float32" else 1e-11
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    declared = outputs if isinstance(outputs, list) else [outputs]
    assert [np.asarray(g).dtype.name for g in got] == [o.type.dtype for o in declared]


def test_scalar_graphs_and_symbolic_indices() -> None:
    import pytensor.scalar as ps

    a, b = ps.float64("a"), ps.float64("b")
    f = _compile([a, b], ps.exp(a) * b + 1)
    assert f(0.5, 3.0) == pytest.approx(np.exp(0.5) * 3 + 1, rel=1e-14)
    assert isinstance(f(0.5, 3.0), np.float64)
    x, i = pt.vector("x"), pt.lscalar("i")
    g = _compile([x, i], [x[i:], x[:i].sum(), pt.arange(i), pt.eye(i, 3, 1)])
    got = g(np.arange(5.0), 2)
    for value, want in zip(got, [np.arange(2.0, 5.0), 1.0, np.arange(2), np.eye(2, 3, 1)]):
        np.testing.assert_allclose(value, want)
    assert tp.fallbacks(f) == [] and tp.fallbacks(g) == []


def test_fallback_runs_pytensor_and_says_why() -> None:
    x = pt.vector("x")
    steps, _ = pytensor.scan(lambda v, acc: acc + v, sequences=[x], outputs_info=[pt.zeros(())])
    out = pt.exp(steps)[-1] * 2
    fn = _compile([x], out)
    data = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(fn(data), np.exp(np.cumsum(data))[-1] * 2, rtol=1e-12)
    report = tp.fallbacks(fn)
    assert [f.op for f in report] == ["Scan"]
    assert "Scan" in report[0].reason
    assert len(fn.maker.linker.functions) >= 1  # the exp and product still run in tensorir


def test_random_variable_falls_back_with_its_reason() -> None:
    srng = pytensor.shared(np.random.default_rng(3))
    draw = pt.random.normal(0.0, 1.0, size=(3,), rng=srng)
    fn = _compile([], pt.exp(draw))
    assert fn().shape == (3,)
    reasons = [f.reason for f in tp.fallbacks(fn)]
    assert any("Generator" in r for r in reasons), reasons


def test_warn_fallbacks_and_registered_mode_name() -> None:
    x = pt.vector("x")
    steps, _ = pytensor.scan(lambda v, acc: acc * v + 1, sequences=[x], outputs_info=[pt.ones(())])
    with pytest.warns(tp.FallbackWarning, match="Scan"):
        pytensor.function([x], steps, mode=tp.mode(warn_fallbacks=True))
    tp.register()
    fn = pytensor.function([x], x + 1, mode=tp.MODE_NAME)
    assert isinstance(fn.maker.linker, tp.TensorirLinker)
    np.testing.assert_allclose(fn(np.ones(2)), [2.0, 2.0])


def test_shared_variables_and_updates() -> None:
    w = pytensor.shared(np.ones(3), name="w")
    x = pt.vector("x")
    fn = pytensor.function([x], (w * x).sum(), updates=[(w, w - 0.5 * x)], mode=tp.mode())
    assert fn(np.array([1.0, 2.0, 3.0])) == pytest.approx(6.0)
    np.testing.assert_allclose(w.get_value(), [0.5, 0.0, -0.5])
    assert fn(np.ones(3)) == pytest.approx(0.0)


def test_fallbacks_needs_a_tensorir_function() -> None:
    x = pt.vector("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = pytensor.function([x], x + 1, mode="FAST_COMPILE")
    with pytest.raises(TypeError, match="not compiled with tensorir.pytensor.mode"):
        tp.fallbacks(fn)
