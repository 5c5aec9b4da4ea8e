"""Compiling under the assumption that dynamic argument dims meeting in an elementwise op are equal
(passes/assumed_shapes.py), the guard it leaves, and the general plan for calls that break it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import run_function
from tensorir.dialects.ir import Module
from tensorir.dialects.parser import parse_module
from tensorir.dialects.printer import print_module
from tensorir.frontend.config import config
from tensorir.passes.assumed_shapes import AssumedShapes, ShapeGuard, assuming
from tensorir.passes.pass_manager import PassManager
from tensorir.passes.pipelines import pipeline
from tensorir.runtime.guarded_executor import GuardedExecutor

from .support import build, op_names

K = 3


def _rewritten_assuming(func):  # noqa: ANN001, ANN202
    module = parse_module(print_module(Module([func])))
    with assuming(module.functions[0]) as facts:
        PassManager(pipeline("fast_run"), verify_each=True).run(module)
    return module.functions[0], facts.guard()


def _gradient_graph():  # noqa: ANN202
    x, y = T.matrix("x"), T.matrix("y")
    loss = T.sum(T.exp(x * y) + T.log(1 + (x - y) ** 2))
    return [loss, *tr.grad(loss, [x, y])], [x, y]


def test_gradient_sums_to_shapes_go_under_the_assumption() -> None:
    outs, ins = _gradient_graph()
    plain = build(outs, ins)
    general = parse_module(print_module(Module([plain])))
    PassManager(pipeline("fast_run")).run(general)
    assumed, guard = _rewritten_assuming(build(outs, ins))
    assert "tir.sum_to" in op_names(general.functions[0])
    assert "tir.sum_to" not in op_names(assumed)
    # x (argument 0) and y (argument 1) agree on both axes
    assert guard == ShapeGuard(((((0, 0), (1, 0)), None), (((0, 1), (1, 1)), None)))
    assert guard.source() == "a[0].shape[0] == a[1].shape[0] and a[0].shape[1] == a[1].shape[1]"


def test_static_sizes_enter_the_guard() -> None:
    x = T.tensor(dtype="float64", shape=(None, 4), name="x")
    y = T.matrix("y")
    loss = T.sum(x * y)
    _, guard = _rewritten_assuming(build([tr.grad(loss, y)], [x, y]))
    assert guard is not None
    assert guard.holds([np.zeros((2, 4)), np.zeros((2, 4))])
    assert not guard.holds([np.zeros((2, 4)), np.zeros((2, 1))])
    assert not guard.holds([np.zeros((2, 4)), np.zeros((1, 4))])


def test_nothing_assumed_without_a_proof_that_needs_it() -> None:
    x = T.matrix("x")
    _, guard = _rewritten_assuming(build([T.exp(x) * 2], [x]))
    assert guard is None


# -- soundness: random graphs, random size-1 dims -------------------------------------------------

UNARY = [T.exp, T.tanh, lambda v: v * v, lambda v: T.log(1 + v * v), lambda v: v * 1 + 0]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b * 0.5, T.maximum]


@st.composite
def gradient_graphs(draw: st.DrawFn):  # noqa: ANN201
    x, y, v = T.matrix("x"), T.matrix("y"), T.vector("v")
    pool = [x, y, v]
    for _ in range(draw(st.integers(1, 6))):
        a = draw(st.sampled_from(pool))
        if draw(st.booleans()):
            pool.append(draw(st.sampled_from(UNARY))(a))
        else:
            pool.append(draw(st.sampled_from(BINARY))(a, draw(st.sampled_from(pool))))
    loss = T.sum(pool[-1]) + T.sum(draw(st.sampled_from(pool)))
    wrt = [w for w in (x, y, v) if draw(st.booleans())] or [x]
    grads = tr.grad(loss, wrt, disconnected_inputs="ignore")
    return [loss, *grads], [x, y, v]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gradient_graphs(), st.lists(st.sampled_from([1, K]), min_size=5, max_size=5), st.integers(0, 2**31 - 1))
def test_assumed_rewrites_match_where_the_guard_holds(graph, dims: list[int], seed: int) -> None:  # noqa: ANN001
    outs, ins = graph
    func = build(outs, ins)
    assumed, guard = _rewritten_assuming(build(outs, ins))
    rng = np.random.default_rng(seed)
    shapes = [(dims[0], dims[1]), (dims[2], dims[3]), (dims[4],)]
    args = [rng.uniform(-1, 1, s) for s in shapes]
    try:
        with np.errstate(all="ignore"):
            expected = run_function(func, args)
    except ValueError:
        return  # shapes that do not broadcast: no call of this kind runs
    # arguments of one size everywhere never break the guard
    assert guard is None or guard.holds([rng.uniform(-1, 1, (K,) * len(s)) for s in shapes])
    if guard is not None and not guard.holds(args):
        return
    with np.errstate(all="ignore"):
        got = run_function(assumed, args)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        finite = np.isfinite(e)
        np.testing.assert_allclose(g[finite], e[finite], rtol=1e-9, atol=1e-9)


# -- through tr.function: the guarded executor ----------------------------------------------------

def _grad_function(**kwargs):  # noqa: ANN003, ANN202
    outs, ins = _gradient_graph()
    return tr.function(ins, outs, **kwargs)


def _expected(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    xb, yb = np.broadcast_arrays(x, y)
    e = np.exp(xb * yb)
    d = 2 * (xb - yb) / (1 + (xb - yb) ** 2)
    gx, gy = e * yb + d, e * xb - d

    def sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True) if axes else g

    loss = np.sum(e + np.log(1 + (xb - yb) ** 2))
    return [np.asarray(loss), sum_to(gx, x.shape), sum_to(gy, y.shape)]


def test_a_call_breaking_the_guard_runs_the_general_plan() -> None:
    f = _grad_function()
    assert isinstance(f.executor, GuardedExecutor)
    assert "sum_to" not in f.ir()
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (4, 5)), rng.uniform(-1, 1, (4, 5))
    for got, want in zip(f(x, y), _expected(x, y)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert f.executor._general is None  # compiled only when a call needs it
    row = rng.uniform(-1, 1, (1, 5))
    for got, want in zip(f(x, row), _expected(x, row)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
        assert got.shape == want.shape
    assert f.executor._general is not None
    for got, want in zip(f(x, y), _expected(x, y)):  # and back
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_shared_updates_under_the_general_plan() -> None:
    w = tr.shared(np.ones((1, 3)), name="w")
    x = T.matrix("x")
    loss = T.sum((x * w) ** 2)
    f = tr.function([x], loss, updates=[(w, w - 0.1 * tr.grad(loss, w))])
    assert isinstance(f.executor, GuardedExecutor)
    x_val = np.arange(6.0).reshape(2, 3)
    loss_val = f(x_val)  # w (1, 3) broadcast against x (2, 3): the general plan
    np.testing.assert_allclose(loss_val, np.sum(x_val**2))
    np.testing.assert_allclose(w.get_value(), 1 - 0.1 * np.sum(2 * x_val**2, axis=0, keepdims=True))


def test_the_flag_turns_it_off() -> None:
    old = config.assume_shapes
    config.assume_shapes = False
    try:
        f = _grad_function()
    finally:
        config.assume_shapes = old
    assert not isinstance(f.executor, GuardedExecutor)
    assert "sum_to" in f.ir()


def test_profiled_functions_run_the_assumed_plan_too() -> None:
    f = _grad_function(profile=True)
    assert "sum_to" not in f.ir()
    x = np.ones((2, 3))
    for got, want in zip(f(x, x), _expected(x, x)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert f.profile.calls == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bad_shapes_still_raise_a_clear_error(dtype: str) -> None:
    f = _grad_function()
    x = np.ones((2, 3), dtype)
    with pytest.raises(ValueError):
        f(x, np.ones((4, 3), dtype))


def test_a_class_meeting_two_static_sizes_is_never_trusted() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    three = T.tensor(dtype="float64", shape=(None, 3), name="three")
    four = T.tensor(dtype="float64", shape=(None, 4), name="four")
    func = build([x * y, x * three, y * four], [x, y, three, four])
    facts = AssumedShapes(func)
    xy, x3, y4 = func.regions[0].block.terminator.operands
    assert facts.same_shape(xy, func.regions[0].block.arguments[0])  # x and y: one class per axis
    facts.dims(x3)
    facts.dims(y4)  # their columns then meet a static 3 and a static 4
    guard = facts.guard()
    assert guard is not None and guard.never and guard.source() == "False"
    assert not guard.holds([np.ones((2, 3))] * 4)
