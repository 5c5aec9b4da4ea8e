"""branch-reuse: tir.if branches read values computed outside instead of recomputing them."""

from __future__ import annotations

import numpy as np
import pytest
from tests.passes.support import build, compare, op_names

import tensorir
import tensorir.tensor as T
from tensorir.ifelse import ifelse
from tensorir.passes.branch_reuse import BranchReusePass


def _gemms(func) -> int:  # noqa: ANN001
    return sum(name in ("tir.gemm", "tir.dot") for name in op_names(func))


@pytest.mark.parametrize("cond", [1.0, -1.0])
def test_value_used_inside_and_outside_is_computed_once(cond: float) -> None:
    c, x, w = T.scalar("c"), T.matrix("x"), T.matrix("w")
    e = T.dot(x, w)
    r = ifelse(T.gt(c, 0), T.tanh(e), T.zeros_like(e))
    func = build([r, e.sum()], [c, x, w])
    assert _gemms(func) == 3  # outside, and cloned into each branch
    rng = np.random.default_rng(0)
    args = [np.asarray(cond), rng.standard_normal((3, 4)), rng.standard_normal((4, 5))]
    new, _, _ = compare(func, [BranchReusePass()], args)
    assert _gemms(new) == 1
    if_op = next(op for op in new.regions[0].block.operations if op.name == "tir.if")
    # x and w are no longer read by the branches: only the product is passed in.
    assert len(if_op.operands) == 2


def test_chains_match_and_unrelated_values_stay() -> None:
    c, x = T.scalar("c"), T.vector("x")
    inner = T.exp(x) * 2
    r = ifelse(T.gt(c, 0), inner + 1, T.log1p(T.abs(x)))
    func = build([r, inner.sum()], [c, x])
    args = [np.asarray(1.0), np.linspace(-1, 1, 7)]
    new, _, _ = compare(func, [BranchReusePass()], args)
    names = op_names(new)
    assert names.count("tir.exp") == 1 and names.count("tir.log1p") == 1


def test_no_outer_match_changes_nothing() -> None:
    c, x = T.scalar("c"), T.vector("x")
    r = ifelse(T.gt(c, 0), T.exp(x), T.log1p(T.abs(x)))
    func = build([r], [c, x])
    assert not BranchReusePass().run(func)


def test_value_depending_on_the_if_is_not_captured() -> None:
    # y = r + exp(x) reads the if's result; exp(x) outside is still fine to capture, y is not.
    c, x = T.scalar("c"), T.vector("x")
    r = ifelse(T.gt(c, 0), T.exp(x), x)
    y = r + T.exp(x)
    func = build([y], [c, x])
    for cond in (1.0, -1.0):
        compare(func, [BranchReusePass()], [np.asarray(cond), np.linspace(0, 1, 5)])


def test_compiled_function_agrees_with_reference() -> None:
    c, x, w = T.scalar("c"), T.matrix("x"), T.matrix("w")
    e = T.dot(x, w)
    r = ifelse(T.gt(c, 0), T.tanh(e), T.zeros_like(e))
    fast = tensorir.function([c, x, w], [r, e.sum()])
    ref = tensorir.function([c, x, w], [r, e.sum()], mode="REFERENCE")
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    for cond in (1.0, 0.0):
        for a, b in zip(fast(cond, xv, wv), ref(cond, xv, wv)):
            np.testing.assert_allclose(a, b, rtol=1e-12)
