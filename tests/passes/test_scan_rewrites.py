"""Rewrites of ``tir.scan`` (passes/scan_*.py): what each changes in the IR, and that results do not.

Results are compared between mode ``REFERENCE`` (every rewrite, NumPy executor) and ``NONE`` (the
graph as built), and per pass on the interpreter (``support.compare``, which also prints and
parses the rewritten IR); the LSTM also runs natively.
"""

import numpy as np
import pytest
from tests.helpers import lstm_step

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.ir import Operation, walk
from tensorir.frontend import shape_ops
from tensorir.frontend.scan import scan, until
from tensorir.passes.autodiff import AutodiffPass
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass
from tensorir.passes.pipelines import pipeline
from tensorir.passes.registry import PASSES
from tensorir.passes.scan_hoist import ScanHoistPass
from tensorir.passes.scan_merge import ScanMergePass
from tensorir.passes.scan_prune import ScanPrunePass
from tensorir.passes.scan_push_accumulators import ScanPushOutAccumulatorsPass
from tensorir.passes.scan_push_sequences import ScanPushOutSequencesPass
from tensorir.passes.scan_reuse_forward import ScanReuseForwardPass
from tensorir.passes.scan_save_memory import ScanSaveMemoryPass

from .support import build, compare

RNG = np.random.default_rng(7)
SCAN_PASSES = ["scan-prune", "scan-hoist", "scan-reuse-forward", "scan-push-seq", "scan-push-acc",
               "scan-save-mem", "scan-merge"]


def both(inputs, outputs, args, rtol=1e-10):
    """Outputs of the rewritten function (REFERENCE) and of the graph as built (NONE), compared."""
    f = tr.function(inputs, outputs, mode="REFERENCE")
    got, want = f(*args), tr.function(inputs, outputs, mode="NONE")(*args)
    pairs = zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want])
    for i, (g, w) in enumerate(pairs):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12, err_msg=f"output {i} of\n{f.ir()}")
    return f, got


def scans(f) -> list[Operation]:
    return [op for op in f.func.regions[0].block.operations if op.name == "tir.scan"]


def body_names(op: Operation) -> list[str]:
    return [o.name for o in walk(op.regions[0]) if o.name not in ("tir.yield", "tir.constant")]


def products(op: Operation) -> int:
    return sum(n in ("tir.dot", "tir.gemm", "tir.gemv", "tir.ger") for n in body_names(op))


def test_passes_are_registered_and_run_in_fast_run_only():
    assert set(SCAN_PASSES) <= set(PASSES)
    fast_run = [p.name for p in pipeline("fast_run")]
    assert set(SCAN_PASSES) <= set(fast_run)
    assert fast_run.index("scan-push-seq") < fast_run.index("blas") < fast_run.index("fuse")
    assert not set(SCAN_PASSES) & {p.name for p in pipeline("fast_compile")}


# -- the tutorial loops ---------------------------------------------------------------------------------
def test_power_keeps_only_the_last_row():
    k, A = T.iscalar("k"), T.dvector("A")
    result, _ = scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    for n in (1, 2, 5):
        f, _ = both([A, k], result[-1], [np.arange(4.0), n])
    (loop,) = scans(f)
    assert loop.attributes["keep"] == (1,)
    assert loop.results[0].type.shape[0] == 1


def test_last_two_rows_of_a_plain_output():
    x = T.dvector("x")
    ys, _ = scan(lambda a: a * 3.0, sequences=x)
    f, (last, before) = both([x], [ys[-1], ys[-2]], [np.arange(5.0)])
    assert (last, before) == (12.0, 9.0)
    assert scans(f)[0].attributes["keep"] == (2,)
    fixed, _ = scan(lambda a: T.exp(a), sequences=x, n_steps=4)  # at least 3 steps: x[-3:] keeps 3 rows
    f, _ = both([x], fixed[-3:], [np.arange(5.0)])
    assert scans(f)[0].attributes["keep"] == (3,)


def test_polynomial_work_moves_before_the_loop():
    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    components, _ = scan(lambda c, power, x: c * (x ** power), sequences=[coefficients, shape_ops.arange(1000)],
                         non_sequences=x)
    f, value = both([coefficients, x], components.sum(), [np.asarray([1.0, 0.0, 2.0]), 3.0])
    assert value == 19.0
    assert all(not body_names(op) for op in scans(f))  # the loop only reads the computed rows


def test_fibonacci_taps_and_its_last_value():
    n, init = T.iscalar("n"), T.dvector("init")
    fib, _ = scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=n)
    _, (seq, last) = both([init, n], [fib, fib[-1]], [np.asarray([0.0, 1.0]), 8])
    np.testing.assert_allclose(seq, [1, 2, 3, 5, 8, 13, 21, 34])
    assert last == 34.0


def test_sequence_taps_line_up_when_pushed_out():
    x = T.dvector("x")
    (o, counts), _ = scan(lambda a, b, c, count: (T.exp(a) + 10 * b + 100 * c, count + 1),
                          sequences=dict(input=x, taps=[-1, 0, 2]), outputs_info=[None, T.constant(np.int64(0))])
    f, _ = both([x], [o, counts], [RNG.normal(size=7)])
    (loop,) = scans(f)
    assert "tir.exp" not in body_names(loop) and "tir.mul" not in body_names(loop)



def test_elementwise_work_that_only_the_loop_reads_stays_inside():
    """tanh(x_t) read by the recurrence fuses there; x_t * 2 feeding x_t W moves out with the product."""
    x, W = T.dmatrix("x"), T.dmatrix("W")
    step = lambda xt, h, W: h * 0.5 + T.tanh(xt) + T.dot(xt * 2.0, W)  # noqa: E731
    out, _ = scan(step, sequences=x, outputs_info=T.zeros((3,), "float64"), non_sequences=W)
    f, _ = both([x, W], [out, T.grad(out.sum(), W)], [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 3))])
    forward = next(op for op in scans(f) if not op.attributes["reverse"])
    assert "tir.tanh" in body_names(forward) and products(forward) == 0
    outside = [op.name for op in f.func.regions[0].block.operations]
    assert "tir.tanh" not in outside  # not a whole-sequence tanh written out and read back


@pytest.mark.parametrize("backwards", [False, True])
def test_fewer_steps_than_rows_and_go_backwards(backwards):
    x, W, n = T.dmatrix("x"), T.dmatrix("W"), T.iscalar("n")
    step = lambda xt, h, W: T.tanh(T.dot(xt, W) + h)  # noqa: E731
    fixed, _ = scan(step, sequences=x, outputs_info=T.zeros((3,), "float64"), non_sequences=W, n_steps=3,
                    go_backwards=backwards)
    symbolic, _ = scan(step, sequences=x, outputs_info=T.zeros((3,), "float64"), non_sequences=W, n_steps=n,
                       go_backwards=backwards)
    cost = fixed.sum() + symbolic[-1].sum()
    f, _ = both([x, W, n], [fixed, symbolic, cost, T.grad(cost, W)],
                [RNG.normal(size=(6, 2)), RNG.normal(size=(2, 3)), 4])
    assert all(products(op) <= 1 for op in scans(f))  # x_t W runs before the loops


def test_until_loops_keep_their_sequence_work_inside():
    x = T.dvector("x")

    def step(a, total):
        new = total + T.exp(a)
        return new, until(new > 3.0)

    out, _ = scan(step, sequences=x, outputs_info=T.constant(np.float64(0.0)))
    f, value = both([x], out, [np.linspace(0.0, 1.0, 20)])
    assert len(value) < 20 and "tir.exp" in body_names(scans(f)[0])


# -- gradients: back-propagation through time ----------------------------------------------------------
def _rnn(x, h0, W, U, **kw):
    h, _ = scan(lambda xt, hp, W, U: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x, outputs_info=h0,
                non_sequences=[W, U], **kw)
    return h




def _lstm_inputs(dtype="float64", last=True):
    x, h0, W, U, b = (T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype), T.matrix("W", dtype=dtype),
                      T.matrix("U", dtype=dtype), T.vector("b", dtype=dtype))
    (h, c), _ = scan(lstm_step, sequences=x, outputs_info=[h0, h0], non_sequences=[W, U, b])
    cost = (h ** 2).sum() + (c[-1] if last else c).sum()
    values = [RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 16)) * 0.5,
              RNG.normal(size=(4, 16)) * 0.5, RNG.normal(size=16) * 0.1]
    return [x, h0, W, U, b], cost, [v.astype(dtype) for v in values]


def test_lstm_gradient_loops_keep_one_product_per_step():
    inputs, cost, values = _lstm_inputs()
    f, _ = both(inputs, [cost, *T.grad(cost, inputs[2:])], values)
    forward, backward = scans(f)
    # x_t W before the loops, h_{t-1} U stored by the forward loop, the weight gradients one
    # product each after the backward loop; dx is not asked for: only g_t U^T stays.
    assert products(forward) == 1 and products(backward) == 1
    assert len(backward.attributes["state_taps"]) == 2  # the two carried cotangents, no sums


def test_rnn_gradients_with_truncation_and_unused_input():
    x, h0, W, U = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U")
    values = [RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 4)) * 0.5,
              RNG.normal(size=(4, 4)) * 0.5]
    for kw in ({}, {"truncate_gradient": 2}):
        h = _rnn(x, h0, W, U, **kw)
        cost = (h[-1] ** 2).sum() + h.sum()
        f, _ = both([x, h0, W, U], [cost, *T.grad(cost, [W, U, h0])], values)
        assert products(scans(f)[-1]) == 1  # g_t U^T; dx_t = g_t W^T is not computed


def test_gradient_through_taps_and_until():
    x, w = T.dvector("x"), T.dscalar("w")
    o, _ = scan(lambda a, b, c, w: a * b * w + c, sequences=dict(input=x, taps=[-1, 0, 2]), non_sequences=w)
    both([x, w], [o.sum(), *T.grad(o.sum(), [x, w])], [RNG.normal(size=7), 0.7])
    s = T.dscalar("s")

    def step(prev, s):
        nxt = prev * s
        return nxt, until(nxt > 20)

    o2, _ = scan(step, outputs_info=T.constant(np.float64(1.0)), non_sequences=s, n_steps=50)
    both([s], [o2[-1], T.grad(o2[-1], s)], [3.0])


def test_nested_loops_and_their_gradient():
    X, w = T.dmatrix("X"), T.dvector("w")

    def row(x_row, acc, w):
        inner, _ = scan(lambda a, h, w: T.tanh(a * w + h), sequences=x_row, outputs_info=T.zeros_like(w),
                        non_sequences=w)
        return acc + inner[-1]

    out, _ = scan(row, sequences=X, outputs_info=T.zeros((3,), "float64"), non_sequences=w)
    cost = (out[-1] ** 2).sum()
    both([X, w], [cost, T.grad(cost, w)], [RNG.normal(size=(3, 4)), RNG.normal(size=3)])


@pytest.mark.parametrize("steps", [0, 1])
def test_loops_of_zero_and_one_step(steps):
    inputs, cost, values = _lstm_inputs(last=False)  # c[-1] of no step is an error
    values[0] = values[0][:steps]
    both(inputs, [cost, *T.grad(cost, inputs[1:])], values)


def test_lstm_native_matches_the_graph_as_built():
    inputs, cost, values = _lstm_inputs("float32")
    outputs = [cost, *T.grad(cost, inputs[2:])]
    got = tr.function(inputs, outputs, mode="FAST_RUN")(*values)
    want = tr.function(inputs, outputs, mode="NONE")(*values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-5)


# -- merging ---------------------------------------------------------------------------------------------
def test_independent_loops_over_one_sequence_merge():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    doubled, _ = scan(lambda a, h: T.tanh(a + h), sequences=x, outputs_info=T.zeros((2,), "float64"))
    summed, _ = scan(lambda a, s, W: s + T.dot(a, W), sequences=x, outputs_info=T.zeros((3,), "float64"),
                     non_sequences=W)
    f, _ = both([x, W], [doubled, summed], [RNG.normal(size=(6, 2)), RNG.normal(size=(2, 3))])
    (loop,) = scans(f)
    assert len(loop.results) == 2


def test_dependent_loops_do_not_merge():
    x = T.dvector("x")
    first, _ = scan(lambda a, h: T.tanh(a + h), sequences=x, outputs_info=T.constant(np.float64(0.0)))
    second, _ = scan(lambda a, h, s: h * s + a, sequences=x, outputs_info=T.constant(np.float64(0.0)),
                     non_sequences=first[-1])
    f, _ = both([x], second, [RNG.normal(size=5)])
    assert len(scans(f)) == 2


# -- each pass on its own (interpreter; the rewritten IR also prints and parses) --------------------------
def _rnn_graph():
    x, h0, W, U = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U")
    h = _rnn(x, h0, W * 2.0, U)
    cost = (h ** 2).sum()
    func = build([cost, *T.grad(cost, [W, U, h0])], [x, h0, W, U])
    values = [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(3, 4)) * 0.5,
              RNG.normal(size=(4, 4)) * 0.5]
    return func, values


@pytest.mark.parametrize("rewrite", [ScanPrunePass, ScanHoistPass, ScanReuseForwardPass, ScanPushOutSequencesPass,
                                     ScanPushOutAccumulatorsPass, ScanSaveMemoryPass, ScanMergePass])
def test_each_pass_keeps_the_results(rewrite):
    func, values = _rnn_graph()
    new, _, _ = compare(func, [AutodiffPass(), CanonicalizePass(), CSEPass(), rewrite()], values, rtol=1e-10)
    assert any(op.name == "tir.scan" for op in walk(new))
