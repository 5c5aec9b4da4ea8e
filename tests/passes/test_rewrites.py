"""Numeric tests of every rewrite: the rewritten graph computes what the original does."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir.tensor as T
from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.interpret import run_function
from tensorir.dialects.ir import walk
from tensorir.frontend.variable import apply_values
from tensorir.passes.blas import BlasPass
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass
from tensorir.passes.dce import DCEPass
from tensorir.passes.fold import FoldPass
from tensorir.passes.fuse import FusePass
from tensorir.passes.memory import MemoryPass, plan_inplace
from tensorir.passes.pipelines import pipeline
from tensorir.passes.specialize import SpecializePass

from .support import build, compare, op_names, rewritten_copy

RNG = np.random.default_rng(7)
M = RNG.standard_normal((4, 3))
V = RNG.standard_normal(3)
POS = RNG.uniform(0.5, 2.0, (4, 3))


def test_canonicalize_identities() -> None:
    x, v = T.matrix("x"), T.vector("v")
    outs = [
        x * 1 + 0,
        (x + v) - (x + v),
        T.neg(T.neg(x)),
        T.log(T.exp(x)),
        x.T.T,
        T.cast(T.cast(x, "float64"), "float64"),
        x.reshape((12,)).reshape((3, 4)),
        x.dimshuffle(0, "x", 1).dimshuffle(0, 2),
        (x * 0 + 1).sum(),
        0 - x,
    ]
    new, _, _ = compare(build(outs, [x, v]), [CanonicalizePass(), DCEPass()], [M, V])
    assert "tir.neg" in op_names(new)  # 0 - x -> -x
    assert op_names(new).count("tir.dimshuffle") == 0


def test_exp_log_only_where_valid() -> None:
    x = T.matrix("x")
    func = build([T.exp(T.log(x)), T.exp(T.log(T.sqrt(x)))])
    new, before, after = compare(func, [CanonicalizePass(), DCEPass()], [POS])
    assert op_names(new).count("tir.log") == 1
    neg = -POS
    with np.errstate(all="ignore"):
        assert np.all(
            np.isnan(
                run_function(
                    new,
                    [
                        neg,
                    ],
                )[0]
            )
        )  # exp(log(x)) of negative x stays nan


def test_sum_to_and_broadcast_like() -> None:
    x = T.tensor3("x")
    b = T.constant(np.ones((4, 1)))
    s = T.scalar("s")
    g = apply_values("tir.sum_to", [x.value, b.value], {})
    bl = apply_values("tir.broadcast_like", [s.value, x.value], {})
    func = build([g, bl.sum(), bl.sum(keepdims=True)], [x, s])
    xv = RNG.standard_normal((2, 4, 3))
    new, _, _ = compare(func, [CanonicalizePass(), DCEPass()], [xv, np.asarray(1.5)])
    assert "tir.sum_to" not in op_names(new) and "tir.broadcast_like" not in op_names(new)


def test_static_shapes_fold() -> None:
    x = T.TensorType("float64", (None, 5))()
    func = build([x.shape[1] * 2 if hasattr(x.shape, "__getitem__") else x.sum()])
    new = rewritten_copy(func, [CanonicalizePass(), DCEPass()])
    assert all(
        op.name in ("func.func", "tir.constant", "func.return") for op in walk(new)
    ) or "tir.shape_i" not in op_names(new)


def test_fold_respects_size_limit() -> None:
    a = T.constant(np.arange(100.0))
    func = build([a * 2 + 1])
    small = rewritten_copy(func, [FoldPass(max_elements=10), DCEPass()])
    big = rewritten_copy(func, [FoldPass(), DCEPass()])
    assert "tir.mul" in op_names(small)
    assert [op.opdef is CONSTANT for op in walk(big)].count(True) == 1
    np.testing.assert_array_equal(run_function(big, [])[0], np.arange(100.0) * 2 + 1)


def test_cse_merges_duplicates() -> None:
    x, y = T.vector("x"), T.vector("y")
    func = build([(x + y) * 2, (x + y) * 2, T.exp(x + y)], [x, y])
    new, _, _ = compare(func, [CSEPass(), DCEPass()], [V, V[::-1].copy()])
    assert op_names(new).count("tir.add") == 1 and op_names(new).count("tir.mul") == 1


@pytest.mark.parametrize("power", [-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 5, 7, 16])
def test_specialize_powers(power: float) -> None:
    x = T.matrix("x")
    new, _, _ = compare(build([x**power]), [SpecializePass(), CanonicalizePass(), DCEPass()], [POS], rtol=1e-12)
    assert "tir.pow" not in op_names(new)


def test_specialize_keeps_large_and_fractional_powers() -> None:
    x = T.matrix("x")
    new, _, _ = compare(build([x**100, x**1.5]), [SpecializePass()], [POS])
    assert op_names(new).count("tir.pow") == 2


def test_dot_vector_to_gemv() -> None:
    a, v, w = T.matrix("a"), T.vector("v"), T.vector("w")
    func = build([T.dot(a, v), T.dot(w, a)], [a, v, w])
    new, _, _ = compare(func, [SpecializePass(), DCEPass()], [M, V, RNG.standard_normal(4)])
    assert op_names(new).count("tir.gemv") == 2


def test_blas_gemm_and_ger() -> None:
    a, b, c = T.matrix("a"), T.matrix("b"), T.matrix("c")
    alpha, beta = T.scalar("alpha"), T.scalar("beta")
    outs = [alpha * T.dot(a, b.T) + beta * c, None, -T.dot(a, b.T) + c]
    args = [
        RNG.standard_normal((4, 3)),
        RNG.standard_normal((5, 3)),
        RNG.standard_normal((4, 5)),
        RNG.standard_normal(4),
        RNG.standard_normal(5),
        np.asarray(0.3),
        np.asarray(-1.7),
    ]
    args[2] = RNG.standard_normal((4, 5))
    func = build([outs[0], outs[2]], [a, b, c, alpha, beta])
    new, _, _ = compare(
        func, [BlasPass(), CanonicalizePass(), DCEPass()], [args[0], args[1], args[2], args[5], args[6]]
    )
    assert op_names(new).count("tir.gemm") == 2 and "tir.dot" not in op_names(new)
    func = build([c - alpha * T.dot(a.T, a)], [a, c, alpha])
    new, _, _ = compare(
        func, [BlasPass(), CanonicalizePass(), DCEPass()], [args[0], RNG.standard_normal((3, 3)), args[5]]
    )
    assert op_names(new).count("tir.gemm") == 1 and "tir.sub" not in op_names(new)


def test_blas_transposed_product_swaps_operands() -> None:
    # (a @ b.T).T = b @ a.T, and c + (x.T @ y).T accumulates y.T @ x into c's gemm: no transpose left.
    a, b, x, y = T.matrix("a"), T.matrix("b"), T.matrix("x"), T.matrix("y")
    func = build([T.dot(a, b.T).T, T.dot(a, b.T) + T.dot(x.T, y).T], [a, b, x, y])
    args = [RNG.standard_normal((4, 3)), RNG.standard_normal((5, 3)), RNG.standard_normal((6, 5)),
            RNG.standard_normal((6, 4))]
    new, _, _ = compare(func, [BlasPass(), CanonicalizePass(), DCEPass()], args)
    assert "tir.dimshuffle" not in op_names(new) and op_names(new).count("tir.gemm") == 3


def test_fuse_groups_and_reductions() -> None:
    x, w, h = T.matrix("x"), T.vector("w"), T.matrix("h")
    t = T.tanh(x * w + h)
    func = build([t * T.exp(h), (T.exp(x) * 2).sum(axis=1), T.exp(x)], [x, w, h])
    new, _, _ = compare(func, [FusePass(), DCEPass()], [M, V, M[::-1].copy()], rtol=1e-14)
    fused = [op for op in walk(new) if op.name == "tir.fused"]
    assert len(fused) == 2
    assert any(op.attributes["reduce"] == "tir.sum" for op in fused)


def _fused_ops(func):  # noqa: ANN001, ANN202
    return [op for op in walk(func) if op.name == "tir.fused"]


def test_fuse_reads_shapes_of_members_from_the_fused_result() -> None:
    # A gradient asks for the shapes of forward values (``tir.shape``, ``sum_to``'s ``like``):
    # such a read must not split ``tanh(x * w + h)`` in two passes over memory.
    x, w, h, m = T.matrix("x"), T.vector("w"), T.matrix("h"), T.matrix("m")
    e = x * w + h
    args = [M, V, M[::-1].copy(), M * 3]
    new, _, _ = compare(build([T.tanh(e), e.shape], [x, w, h, m]), [FusePass(), DCEPass()], args, rtol=1e-14)
    (fused,) = _fused_ops(new)
    assert [op.name for op in fused.regions[0].block.operations] == ["tir.mul", "tir.add", "tir.tanh", "tir.yield"]
    shape = next(op for op in walk(new) if op.name == "tir.shape")
    assert shape.operands[0] is fused.results[0]
    # Not when the group's result may be larger (``m`` may broadcast it), nor when the read comes
    # first, nor into a reduction (no fused value has the shape): ``e`` is then its own group.
    for outs in ([T.tanh(e) + m, e.shape], [e.shape, T.tanh(e)], [T.tanh(e).sum(), e.shape]):
        new, _, _ = compare(build(outs, [x, w, h, m]), [FusePass(), DCEPass()], args, rtol=1e-14)
        shape = next(op for op in walk(new) if op.name == "tir.shape")
        read = shape.operands[0].owner
        assert [op.name for op in read.regions[0].block.operations] == ["tir.mul", "tir.add", "tir.yield"]


def test_fuse_respects_operand_limit() -> None:
    xs = [T.vector(f"x{i}") for i in range(6)]
    total = xs[0]
    for x in xs[1:]:
        total = total * x + 1
    func = build([total], xs)
    new, _, _ = compare(func, [FusePass(max_operands=3), DCEPass()], [V + i for i in range(6)])
    for op in walk(new):
        if op.name == "tir.fused":
            assert len(op.operands) <= 3


def test_memory_inplace_plan() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    e = T.exp(x) + y
    func = build([T.tanh(e) * 2, x], [x, y])
    new = rewritten_copy(func, [FusePass(), MemoryPass(), DCEPass()])
    # The inputs belong to the caller: nothing may run in place without donation.
    assert all(op.attributes.get("inplace") is None for op in walk(new) if op.name == "tir.fused")
    donated = rewritten_copy(func, [FusePass(), DCEPass(), MemoryPass(donated="1")])
    plan = plan_inplace(donated, [1])
    assert list(plan.values()) == [1]


def test_fast_run_pipeline_end_to_end() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    W, b = T.matrix("W"), T.vector("b")
    z = T.dot(x, W) + b
    e = T.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    cost = -T.mean(T.sum(y * T.log(p), axis=1)) + 0.01 * (W**2).sum()
    import tensorir as tr

    gW, gb = tr.grad(cost, [W, b])
    func = build([cost, W - 0.1 * gW, b - 0.1 * gb], [x, y, W, b])
    args = [
        RNG.standard_normal((8, 4)),
        np.eye(3)[RNG.integers(0, 3, 8)],
        RNG.standard_normal((4, 3)),
        RNG.standard_normal(3),
    ]
    new, _, _ = compare(func, pipeline("fast_run"), args, rtol=1e-10)
    names = op_names(new)
    assert "tir.gemm" in names and "tir.fused" in names and "tir.dot" not in names
    assert len(new.regions[0].block.operations) < len(func.regions[0].block.operations)
    compare(func, pipeline("fast_compile"), args, rtol=1e-10)


def test_deep_graph_is_rewritten_iteratively() -> None:
    x = T.vector("x")
    v = x
    for i in range(3000):
        v = T.tanh(v * 1.0001 + 0.5) if i % 2 else T.exp(-v * v)
    func = build([v.sum()], [x])
    new, _, _ = compare(func, pipeline("fast_run"), [V], rtol=1e-12)
    assert [op.name for op in new.regions[0].block.operations] == ["tir.fused", "func.return"]


def test_sum_of_increments_of_zeros_becomes_one_chain() -> None:
    # The gradient of slicing a matrix into four column blocks (an LSTM's gates).
    x = T.matrix("x")
    parts = [x[:, 3 * k:3 * k + 3] for k in range(4)]
    cost = sum((T.tanh(p) * (k + 1)).sum() for k, p in enumerate(parts))
    import tensorir as tr

    (g,) = tr.grad(cost, [x])
    wide = RNG.standard_normal((2, 12))
    new, _, _ = compare(build([g], [x]), [CanonicalizePass(), CSEPass(), DCEPass()], [wide])
    names = op_names(new)
    assert names.count("tir.inc_subtensor") == 4 and "tir.add" not in names
    writes = [op for op in walk(new) if op.name == "tir.inc_subtensor"]
    # One chain: every write but the first increments the previous one's result.
    assert sum(op.operands[0].owner in writes for op in writes) == 3


def test_increments_are_not_serialized_without_a_shape_proof() -> None:
    # ``q`` may be (2, 12) while ``a`` is (2, 1) at run time: moving the increment past the add
    # would index a broadcast result instead, so the add stays.
    a, q, b = T.matrix("a"), T.matrix("q"), T.matrix("b")
    out = T.inc_subtensor(a[:, :1], b) + q
    new, _, _ = compare(build([out], [a, q, b]), [CanonicalizePass()],
                        [RNG.standard_normal((2, 1)), RNG.standard_normal((2, 12)), RNG.standard_normal((2, 1))])
    assert "tir.add" in op_names(new)
