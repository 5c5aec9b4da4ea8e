"""Property test: random graphs through the whole FAST_RUN pipeline match the unrewritten graph.

Graphs mix elementwise ops (with broadcasting), constants that trigger identities, reductions,
dimshuffles, dots and powers, evaluated by the reference interpreter before and after.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorir.tensor as T
from tensorir.dialects.interpret import run_function
from tensorir.passes.pipelines import pipeline

from .support import build, rewritten_copy

K = 4
UNARY = [
    T.exp,
    T.tanh,
    T.neg,
    lambda v: T.log(1 + v * v),
    lambda v: v**2,
    lambda v: v**3,
    T.abs,
    lambda v: T.exp(T.log(T.exp(v))),
    lambda v: T.neg(T.neg(v)),
    lambda v: v * 1 + 0,
    lambda v: T.sqrt(v * v + 1),
    lambda v: 1 / (1 + T.exp(-v)),
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: T.maximum(a, b),
    lambda a, b: a - a + b,
    lambda a, b: a * 2.5 - b / 4,
]


@st.composite
def graphs(draw: st.DrawFn):  # noqa: ANN201
    x, w, v = T.matrix("x"), T.matrix("w"), T.vector("v")
    pool = [x, w, v, T.dot(x, w)]
    for _ in range(draw(st.integers(2, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "shuffle", "dot"]))
        a = draw(st.sampled_from(pool))
        if kind == "unary":
            pool.append(draw(st.sampled_from(UNARY))(a))
        elif kind == "binary":
            b = draw(st.sampled_from(pool))
            if a.ndim == 2 and b.ndim == 2 or a.ndim <= 1 or b.ndim <= 1:
                pool.append(draw(st.sampled_from(BINARY))(a, b))
        elif kind == "reduce" and a.ndim == 2:
            axis = draw(st.sampled_from([0, 1, None]))
            red = draw(st.sampled_from([T.sum, T.max, T.mean]))
            pool.append(red(a, axis=axis, keepdims=draw(st.booleans())) if axis is not None else red(a))
        elif kind == "shuffle" and a.ndim == 2:
            pool.append(a.T.T.T)
        elif kind == "dot" and a.ndim == 2 and not a.broadcastable[1]:
            # (A keepdims reduction has a static size-1 column: no valid product with w or v.)
            pool.append(T.dot(a, w) * 0.5 + x if draw(st.booleans()) else T.dot(a, v))
    outs = draw(st.lists(st.sampled_from(pool[3:]), min_size=1, max_size=3))
    return outs, [x, w, v]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(0, 2**31 - 1))
def test_fast_run_matches_unrewritten(graph, seed: int) -> None:  # noqa: ANN001
    outs, inputs = graph
    func = build(outs, inputs)
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1, 1, (K, K)), rng.uniform(-1, 1, (K, K)), rng.uniform(-1, 1, K)]
    with np.errstate(all="ignore"):
        expected = run_function(func, args)
    for level in ("fast_run", "fast_compile"):
        new = rewritten_copy(func, pipeline(level))
        with np.errstate(all="ignore"):
            got = run_function(new, args)
        for e, g in zip(expected, got):
            assert e.dtype == g.dtype and e.shape == g.shape
            finite = np.isfinite(e)
            np.testing.assert_allclose(g[finite], e[finite], rtol=1e-9, atol=1e-9)
