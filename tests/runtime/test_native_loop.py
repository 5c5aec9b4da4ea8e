"""Native loops: scans replayed from a recorded first step against the reference executor.

Each case runs the same function three ways: FAST_RUN with native loops, FAST_RUN with the
Python loop over the body (``native_loops=False``) and REFERENCE; and checks which loops were
actually replayed, so a body that silently fell back would fail the test.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import lstm_step

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.frontend.scan import scan, until
from tensorir.runtime.native_loop import NativeScan

RNG = np.random.default_rng(5)


def loops_of(fn) -> list[NativeScan]:  # noqa: ANN001
    """The NativeScan objects of a compiled function (loops in loop bodies included). ``type(o)``,
    not ``isinstance``: the heap may hold weak proxies to dead objects (PyTensor leaves some), and
    isinstance asks a proxy for its class, which raises ReferenceError."""
    return [o for o in gc.get_objects() if issubclass(type(o), NativeScan) and _belongs(o, fn)]


def _belongs(loop: NativeScan, fn) -> bool:  # noqa: ANN001
    ops = set()
    todo = [fn.executor]
    while todo:
        executor = todo.pop()
        ops.update(id(op) for op in executor.ops)
        todo.extend(getattr(executor, "_bodies", {}).values())
    return id(loop.op) in ops


def three_ways(inputs, outputs, args, *, replayed: int, rtol: float = 1e-10, **kwargs):  # noqa: ANN001, ANN003
    native = tr.function(inputs, outputs, **kwargs)
    with tr.change_flags(native_loops=False):
        python = tr.function(inputs, outputs, **kwargs)
    reference = tr.function(inputs, outputs, mode="REFERENCE", **kwargs)
    got = native(*args)
    for want in (python(*args), reference(*args)):
        for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)
    loops = loops_of(native)
    assert sum(loop.reason is None for loop in loops) == replayed, [loop.reason for loop in loops]
    return native, got




@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("view", ["columns", "reversed", "transposed", "every other"])
def test_a_step_result_that_is_a_strided_view_is_copied_into_its_row(dtype: str, view: str) -> None:
    # The step returns a view of an intermediate (no kernel makes a contiguous copy): the loop
    # copies its contiguous pieces into the row and stays native.
    h0, W = T.matrix("h0", dtype=dtype), T.matrix("W", dtype=dtype)
    views = {"columns": lambda p: p[:, :4], "reversed": lambda p: p[::-1, 4:], "transposed": lambda p: p[:, 2:6].T,
             "every other": lambda p: p[:, ::2]}

    def step(h, W):  # noqa: ANN001, ANN202
        return views[view](T.dot(h, W))

    h, _ = scan(step, outputs_info=h0, non_sequences=W, n_steps=5)
    w = RNG.standard_normal((4, 8)) * 0.5
    if view == "every other":
        w = w[:, :4].repeat(2, axis=1)
    args = [RNG.standard_normal((4, 4)).astype(dtype), w.astype(dtype)]
    three_ways([h0, W], h, args, replayed=1, rtol=1e-5 if dtype == "float32" else 1e-10)


def test_a_static_state_checked_against_an_open_step_result_stays_native() -> None:
    """T.zeros((2, 4)) for a step result of shape (2, ?): the body's shape check is a view step."""
    x = T.tensor3("x", dtype="float32")
    W = tr.shared(RNG.normal(size=(8, 4)).astype("float32"))
    U = tr.shared(RNG.normal(size=(4, 4)).astype("float32") * 0.5)
    h, _ = scan(lambda xt, hp: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x,
                outputs_info=T.zeros((2, 4), dtype="float32"))
    three_ways([x], h, [RNG.normal(size=(6, 2, 8)).astype("float32")], replayed=1, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_forward_and_backward_loops_run_natively(dtype: str) -> None:
    x = T.tensor3("x", dtype=dtype)
    h0, W, U = T.matrix("h0", dtype=dtype), T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    (h, c), _ = scan(lstm_step, sequences=x, outputs_info=[h0, h0], non_sequences=[W, U, b])
    cost = (h * h).sum() + c[-1].sum()
    grads = tr.grad(cost, [W, U, b, h0, x])
    args = [RNG.standard_normal((6, 3, 4)), RNG.standard_normal((3, 5)), RNG.standard_normal((4, 20)) * 0.4,
            RNG.standard_normal((5, 20)) * 0.4, RNG.standard_normal(20) * 0.1]
    args = [a.astype(dtype) for a in args]
    three_ways([x, h0, W, U, b], [cost, *grads], args, replayed=2, rtol=2e-4 if dtype == "float32" else 1e-10)


def test_rnn_with_taps_go_backwards_and_a_plain_output() -> None:
    x, h0, W = T.matrix("x"), T.matrix("h0"), T.matrix("W")

    def step(x_prev, x_next, h2, h1, W):  # noqa: ANN001, ANN202
        h = T.tanh(T.dot(h1, W) + T.dot(h2, W) * 0.5 + x_prev + x_next)
        return h, (h * h).sum()

    (hs, norms), _ = scan(step, sequences=dict(input=x, taps=[-1, 1]), outputs_info=[dict(initial=h0, taps=[-2, -1]),
                                                                                   None],
                          non_sequences=W, go_backwards=True)
    cost = hs.sum() + norms.sum()
    gW = tr.grad(cost, W)
    args = [RNG.standard_normal((9, 4)), RNG.standard_normal((2, 4)), RNG.standard_normal((4, 4)) * 0.5]
    three_ways([x, h0, W], [hs, norms, gW], args, replayed=2)


def test_a_reverse_loop_fills_its_plain_outputs_from_the_end() -> None:
    # A go_backwards loop's plain outputs are stacked in the result's order (step i at row
    # n - 1 - i), so the whole stack is the result: right for whole results, kept last values,
    # a loop stopped early by until, standalone and in a whole call's replay, over calls.
    x, h0 = T.matrix("x"), T.vector("h0")
    limit = T.scalar("limit")

    def step(xt, h, limit):  # noqa: ANN001, ANN202
        new = T.tanh(h * 0.9 + xt)
        return [new, new * 2.0, (new * new).sum()], until((abs(new) > limit).any())

    outs, _ = scan(step, sequences=x, outputs_info=[h0, None, None], non_sequences=limit, go_backwards=True)
    h, doubled, norms = outs
    cases = {"whole": [h, doubled, norms], "last": [doubled[-1], norms[-1] + h[-1].sum()]}
    for name, wanted in cases.items():
        for limit_value, steps in ((np.float64(2.0), 8), (np.float64(0.8), None)):
            args = [RNG.standard_normal((8, 3)), RNG.standard_normal(3), limit_value]
            native, got = three_ways([x, h0, limit], wanted, args, replayed=1)
            if steps is not None and name == "whole":
                assert len(got[0]) == steps
            for _ in range(2):  # replays, with new values
                args = [RNG.standard_normal((8, 3)), RNG.standard_normal(3), limit_value]
                want = tr.function([x, h0, limit], wanted, mode="REFERENCE")(*args)
                for g, w in zip(native(*args), want):
                    np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)


def test_until_stops_the_native_loop() -> None:
    v = T.vector("v")
    limit = T.scalar("limit")

    def step(total, v, limit):  # noqa: ANN001, ANN202
        new = total * 1.5 + v
        return new, until((new > limit).all())

    out, _ = scan(step, outputs_info=v, non_sequences=[v, limit], n_steps=50)
    _, got = three_ways([v, limit], out, [np.ones(3), np.float64(100.0)], replayed=1)
    assert 2 < len(got) < 50


def test_index_sequence_and_integer_outputs() -> None:
    coefficients = T.vector("coefficients")
    x = T.scalar("x")
    powers = T.arange(coefficients.shape[0])

    def step(c, p, acc, x):  # noqa: ANN001, ANN202
        return acc + c * x ** p, p * 2

    (acc, twice), _ = scan(step, sequences=[coefficients, powers], outputs_info=[T.zeros(()), None],
                           non_sequences=x)
    three_ways([coefficients, x], [acc, twice], [np.arange(1.0, 6.0), np.float64(0.5)], replayed=1)


def test_loop_with_python_work_falls_back_and_says_why() -> None:
    # Advanced indexing runs its NumPy reference: the loop runs on the plan instead.
    x, h0 = T.matrix("x"), T.vector("h0")
    idx = T.lvector("idx")
    h, _ = scan(lambda xt, h, idx: T.tanh(h + xt[idx]), sequences=x, outputs_info=h0, non_sequences=idx)
    args = [RNG.standard_normal((5, 3)), RNG.standard_normal(2), np.array([2, 0])]
    native, _ = three_ways([x, h0, idx], h, args, replayed=0)
    (loop,) = loops_of(native)
    assert "advanced_subtensor" in loop.reason


def test_means_in_the_body_are_replayed() -> None:
    x, h0 = T.tensor3("x"), T.matrix("h0")
    h, _ = scan(lambda xt, h: T.tanh(h * xt.mean(axis=1, keepdims=True) + xt.mean()), sequences=x,
                outputs_info=h0)
    g = tr.grad(h.sum(), h0)
    three_ways([x, h0], [h, g], [RNG.standard_normal((5, 2, 3)), RNG.standard_normal((2, 3))], replayed=2)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 7), st.integers(1, 4), st.booleans(), st.sampled_from(["float32", "float64"]))
def test_random_rnn_lengths_and_sizes(steps: int, width: int, backwards: bool, dtype: str) -> None:
    x, h0, W = T.matrix("x", dtype=dtype), T.vector("h0", dtype=dtype), T.matrix("W", dtype=dtype)
    h, _ = scan(lambda xt, h, W: T.tanh(T.dot(h, W) + xt), sequences=x, outputs_info=h0, non_sequences=W,
                go_backwards=backwards)
    g = tr.grad(h.sum(), [W, h0])
    rng = np.random.default_rng(steps * 10 + width)
    args = [rng.standard_normal((steps, width)), rng.standard_normal(width), rng.standard_normal((width, width)) * 0.5]
    three_ways([x, h0, W], [h, *g], [a.astype(dtype) for a in args], replayed=2,
               rtol=1e-4 if dtype == "float32" else 1e-10)


def test_shared_values_and_errors_survive_native_loops() -> None:
    W = tr.shared(np.eye(3) * 0.5, name="W")
    x, h0 = T.matrix("x"), T.vector("h0")
    h, _ = scan(lambda xt, h: T.tanh(T.dot(h, W) + xt), sequences=x, outputs_info=h0)
    f = tr.function([x, h0], h, updates=[(W, W + 1)])
    before = W.get_value().copy()
    with pytest.raises(EvaluationError, match="broadcast"):
        f(np.ones((4, 5)), np.zeros(3))  # rows of 5 cannot add to a state of 3
    np.testing.assert_array_equal(W.get_value(), before)
    out = f(np.ones((4, 3)), np.zeros(3))
    assert out.shape == (4, 3) and np.all(np.isfinite(out))


def test_truncated_gradient_loop_reads_the_step_index() -> None:
    # truncate_gradient makes the backward loop read its step index (a value the replay stores
    # into the index argument at every step).
    x, h0, W = T.tensor3("x"), T.matrix("h0"), T.matrix("W")
    h, _ = scan(lambda xt, h, W: T.tanh(T.dot(h, W) + xt), sequences=x, outputs_info=h0, non_sequences=W,
                truncate_gradient=3)
    grads = tr.grad(h[-1].sum() + h.sum(), [W, h0, x])
    args = [RNG.standard_normal((7, 2, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3)) * 0.5]
    native, _ = three_ways([x, h0, W], grads, args, replayed=2)
    assert any(loop.layout.with_index for loop in loops_of(native))


def _split_entries(loop: NativeScan) -> int:
    from tensorir.codegen.cpu.lower_replay import KINDS

    return sum(kind == KINDS["split"] for trace in loop._traces.values() for kind, _, _ in trace.recorder.entries)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_loop_on_two_threads_splits_its_kernels_with_the_helper(dtype: str) -> None:
    # Per step: 160,000 elements (beyond what the pool splits), 6,400 (a loop still splits it:
    # the helper is waiting) and 400 (too little to hand over). The kernel with the broadcast
    # ``b`` runs over rows (its strided form), so the split is between rows.
    x, h0, b = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype), T.vector("b", dtype=dtype)
    h, _ = scan(lambda xt, h, b: T.tanh(h * 0.5 + xt) * b, sequences=x, outputs_info=h0, non_sequences=b)
    rtol = 1e-5 if dtype == "float32" else 1e-10
    with tr.change_flags(threads=2):
        for rows in (400, 16, 1):
            args = [RNG.standard_normal((3, rows, 400)).astype(dtype), RNG.standard_normal((rows, 400)).astype(dtype),
                    RNG.standard_normal(400).astype(dtype)]
            native, _ = three_ways([x, h0, b], h, args, replayed=1, rtol=rtol)
            (loop,) = loops_of(native)
            assert _split_entries(loop) == (rows > 1)


def test_loop_with_kernels_big_enough_for_more_threads_keeps_the_threaded_plan() -> None:
    # The helper is one thread: where the function runs on four, the pool's split is the one used.
    x, h0 = T.tensor3("x"), T.matrix("h0")
    h, _ = scan(lambda xt, h: T.tanh(h * 0.5 + xt), sequences=x, outputs_info=h0)
    args = [RNG.standard_normal((3, 400, 400)), RNG.standard_normal((400, 400))]
    with tr.change_flags(threads=4):
        native, _ = three_ways([x, h0], h, args, replayed=0)
    (loop,) = loops_of(native)
    assert "threads" in loop.reason


def test_softmax_inside_the_body_is_replayed() -> None:
    # An attention-like step: scores against a memory, softmax over the last axis, weighted sum.
    x, h0, M = T.tensor3("x"), T.matrix("h0"), T.matrix("M")

    def step(xt, h, M):  # noqa: ANN001, ANN202
        weights = T.nnet.softmax(T.dot(h, M.T))
        return T.tanh(T.dot(weights, M) + xt)

    h, _ = scan(step, sequences=x, outputs_info=h0, non_sequences=M)
    g = tr.grad(h.sum(), [M, h0])
    args = [RNG.standard_normal((6, 2, 4)), RNG.standard_normal((2, 4)), RNG.standard_normal((5, 4))]
    three_ways([x, h0, M], [h, *g], args, replayed=2)


def test_later_calls_replay_the_recording_with_their_own_values() -> None:
    # Same shapes: the second and third calls replay every step from the first call's recording
    # with new sequences, initial states and non-sequences (weights) of the same layout.
    x, h0, W, U = T.tensor3("x"), T.matrix("h0"), T.matrix("W"), T.matrix("U")
    h, _ = scan(lambda xt, h, W, U: T.tanh(T.dot(xt, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                non_sequences=[W, U])
    outs = [h, *tr.grad((h[-1] ** 2).sum(), [W, U, h0])]
    native = tr.function([x, h0, W, U], outs)
    reference = tr.function([x, h0, W, U], outs, mode="REFERENCE")
    rng = np.random.default_rng(3)
    for call in range(3):
        args = [rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((3, 4)) * 0.5,
                rng.standard_normal((4, 4)) * 0.5]
        for g, w in zip(native(*args), reference(*args)):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"call {call}")
    loops = loops_of(native)
    assert all(loop._traces for loop in loops), [loop.reason for loop in loops]
    # Another length is another signature: recorded again, and still right.
    args = [rng.standard_normal((7, 2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((3, 4)) * 0.5,
            rng.standard_normal((4, 4)) * 0.5]
    for g, w in zip(native(*args), reference(*args)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    assert all(len(loop._traces) == 2 for loop in loops)


def test_a_reused_recording_does_not_keep_the_callers_arrays_alive() -> None:
    import weakref

    x, h0 = T.matrix("x"), T.vector("h0")
    h, _ = scan(lambda xt, h: T.tanh(h + xt), sequences=x, outputs_info=h0)
    f = tr.function([x, h0], h)
    xv = np.ones((4, 3))
    f(xv, np.zeros(3))
    ref = weakref.ref(xv)
    del xv
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("first_chunk", [1, 3])
def test_a_loop_replayed_in_chunks_gives_the_same_results(first_chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Long loops run in chunks so Python regains control between them (Ctrl-C works); chunk
    # boundaries must not change anything, including where ``until`` stops.
    import tensorir.runtime.native_loop as native_loop

    monkeypatch.setattr(native_loop, "FIRST_CHUNK", first_chunk)
    monkeypatch.setattr(native_loop, "CHUNK_SECONDS", 1e-9)  # every later chunk: one step
    v, limit = T.vector("v"), T.scalar("limit")

    def step(total, v, limit):  # noqa: ANN001, ANN202
        new = total * 1.5 + v
        return new, until((new > limit).all())

    out, _ = scan(step, outputs_info=v, non_sequences=[v, limit], n_steps=50)
    x, h0, W = T.tensor3("x"), T.matrix("h0"), T.matrix("W")
    h, _ = scan(lambda xt, h, W: T.tanh(T.dot(h, W) + xt), sequences=x, outputs_info=h0, non_sequences=W)
    args = [np.ones(3), np.float64(100.0)]
    three_ways([v, limit], out, args, replayed=1)
    rnn_args = [RNG.standard_normal((9, 2, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3)) * 0.5]
    three_ways([x, h0, W], [h, *tr.grad(h.sum(), [W, h0])], rnn_args, replayed=2)


def _ring(monkeypatch: pytest.MonkeyPatch, limit: int, ring_bytes: int) -> list:
    """Small ring limits; returns the list of the ring capacities the loops ran with."""
    import tensorir.runtime.native_loop as native_loop

    monkeypatch.setattr(native_loop, "KEPT_STACK_LIMIT", limit)
    monkeypatch.setattr(native_loop, "RING_BYTES", ring_bytes)
    capacities: list = []
    original = native_loop._States.__init__

    def spy(self, *args) -> None:  # noqa: ANN001, ANN002
        original(self, *args)
        capacities.append(self.capacity)

    monkeypatch.setattr(native_loop._States, "__init__", spy)
    return capacities


def test_a_long_loop_that_keeps_only_its_last_state_holds_a_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    """``reduce`` over a long sequence: the state keeps a few rows and moves them between chunks."""
    capacities = _ring(monkeypatch, 1000, 5 * 24)  # bytes: chunks of 5 steps of 3 doubles
    x, h0 = T.matrix("x"), T.vector("h0")
    last, _ = tr.reduce(lambda xt, acc: T.tanh(acc * 0.5 + xt), sequences=x, outputs_info=h0)
    native = tr.function([x, h0], last)
    reference = tr.function([x, h0], last, mode="REFERENCE")
    for steps in (5, 100, 101, 100):  # short: the whole trajectory; long: a ring (the last replayed)
        args = [RNG.standard_normal((steps, 3)), RNG.standard_normal(3)]
        np.testing.assert_allclose(native(*args), reference(*args), rtol=1e-12)
    assert capacities == [None, 5, 5, 5]
    (loop,) = loops_of(native)
    assert loop.reason is None and len(loop._traces) == 3


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("taps", [(-2, -1), (-1,)])
def test_ring_with_taps_and_keep(monkeypatch: pytest.MonkeyPatch, go_backwards: bool, taps: tuple) -> None:
    """A state read two steps back or one, results keeping its last 2 rows (more than the window
    of one), a plain output, and chunks of 1 and 4 steps (rows moved before every step, or every 4)."""
    for ring_bytes in (32, 4 * 32):
        capacities = _ring(monkeypatch, 100, ring_bytes)  # 4 doubles a row
        x = T.matrix("x")
        a0 = T.matrix("a0") if len(taps) == 2 else T.vector("a0")

        def step(xt, *prev):  # noqa: ANN001, ANN002, ANN202
            new = T.tanh(0.6 * prev[-1] - 0.3 * prev[0] + xt)
            return [new, new.sum()]

        (a, total), _ = tr.scan(step, sequences=x, outputs_info=[dict(initial=a0, taps=list(taps)), None],
                                go_backwards=go_backwards)
        outs = [a[-1], a[-2], total]
        init = RNG.standard_normal((2, 4) if len(taps) == 2 else 4)
        native, _ = three_ways([x, a0], outs, [RNG.standard_normal((40, 4)), init], replayed=1)
        args = [RNG.standard_normal((40, 4)), init + 1]  # replays the recording
        reference = tr.function([x, a0], outs, mode="REFERENCE")
        for g, w in zip(native(*args), reference(*args)):
            np.testing.assert_allclose(g, w, rtol=1e-12)
        assert capacities and all(c == ring_bytes // 32 for c in capacities), capacities


def _row_homes() -> list:
    from tensorir.runtime.native_loop import _RowHomes

    gc.collect()
    return [o for o in gc.get_objects() if type(o) is _RowHomes]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_step_results_are_computed_straight_into_their_rows(dtype: str) -> None:
    # The LSTM's states (and the backward loop's gradients) are written by the step's kernels
    # into their rows of the loop's stacks: no copy after each step. Standalone loops (the plan)
    # and loops inside a whole call's replay both, over calls with new values; between calls
    # every such result points at its own buffer again.
    before = {id(o) for o in _row_homes()}
    x = T.tensor3("x", dtype=dtype)
    h0, W, U = T.matrix("h0", dtype=dtype), T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    (h, c), _ = scan(lstm_step, sequences=x, outputs_info=[h0, h0], non_sequences=[W, U, b])
    outs = [h, c, *tr.grad((h * h).sum() + c[-1].sum(), [W, U, b, h0, x])]
    native = tr.function([x, h0, W, U, b], outs)
    reference = tr.function([x, h0, W, U, b], outs, mode="REFERENCE")
    rtol = 2e-4 if dtype == "float32" else 1e-10
    for call in range(5):
        args = [RNG.standard_normal((6, 3, 4)), RNG.standard_normal((3, 5)), RNG.standard_normal((4, 20)) * 0.4,
                RNG.standard_normal((5, 20)) * 0.4, RNG.standard_normal(20) * 0.1]
        args = [a.astype(dtype) for a in args]
        for g, w in zip(native(*args), reference(*args)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=f"call {call}")
    assert native.executor.function_replay.replayed >= 2
    homes = [o for o in _row_homes() if id(o) not in before]
    assert any(o.direct for o in homes), "no step result was written into its row"
    for o in homes:
        for out, address in o.homes:
            assert out.ctypes.data == address


def test_results_a_step_does_not_compute_in_place_are_copied_into_their_rows() -> None:
    # A result returned twice, one that views another value (a reshape) and one that only a
    # Python-made constant holds cannot be pointed at rows: they are copied, and still right.
    x, h0 = T.matrix("x"), T.vector("h0")

    def step(xt, h):  # noqa: ANN001, ANN202
        new = T.tanh(h * 0.5 + xt)
        flat = (new * 2.0).reshape((1, -1)).reshape((-1,))
        return new, new, flat, T.ones_like(h).sum() * 0 + 3.0

    outs, _ = scan(step, sequences=x, outputs_info=[h0, None, None, None])
    args = [RNG.standard_normal((7, 3)), RNG.standard_normal(3)]
    native, _ = three_ways([x, h0], list(outs), args, replayed=1)
    for _ in range(3):
        args = [RNG.standard_normal((7, 3)), RNG.standard_normal(3)]
        want = tr.function([x, h0], list(outs), mode="REFERENCE")(*args)
        for g, w in zip(native(*args), want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_a_result_left_pointing_at_a_row_gets_its_own_buffer_back_before_it_is_freed() -> None:
    # A replay that stops early (a refused BLAS call) leaves results pointing at rows of the
    # loop's stacks; NumPy would free those rows' addresses. Dropping the recording points them
    # back first.
    from tensorir.runtime.array_pointers import set_data
    from tensorir.runtime.native_loop import _RowHomes

    out, stack = np.arange(4.0), np.zeros((3, 4))
    home = out.ctypes.data
    homes = _RowHomes({0}, [(out, home)])
    set_data(out, stack[1].ctypes.data)
    out[...] = 7.0
    assert stack[1].tolist() == [7.0] * 4
    del homes
    gc.collect()
    assert out.ctypes.data == home and out.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_outputs_the_step_gives_as_one_array_share_one_stack() -> None:
    # A body that yields one array twice (here directly; in gradients through an identity
    # sum_to) fills one stack for both outputs; what the caller gets is still two arrays.
    from tensorir.runtime.native_loop import _Trace

    x, h0 = T.matrix("x"), T.vector("h0")

    def step(xt, h):  # noqa: ANN001, ANN202
        new = T.tanh(h * 0.5 + xt)
        y = new * 3.0
        return new, y, y

    outs, _ = scan(step, sequences=x, outputs_info=[h0, None, None])
    args = [RNG.standard_normal((6, 3)), RNG.standard_normal(3)]
    native, _ = three_ways([x, h0], [outs[1], outs[2][::-1] + 1.0], args, replayed=1)
    f = tr.function([x, h0], [outs[1], outs[2]])
    with tr.change_flags(native_calls=False):  # the loop's own replays, not the whole call's
        g = tr.function([x, h0], [outs[1], outs[2]])
    reference = tr.function([x, h0], [outs[1], outs[2]], mode="REFERENCE")
    for _ in range(4):
        # New values every call: a stale stack would hold the last call's.
        args = [RNG.standard_normal((6, 3)), RNG.standard_normal(3)]
        want = reference(*args)
        for fn in (f, g):
            b, c = fn(*args)
            assert not np.shares_memory(b, c)
            np.testing.assert_allclose(b, want[0], rtol=1e-12)
            np.testing.assert_allclose(c, want[1], rtol=1e-12)
    gc.collect()
    assert any(t.twins == {1: 0} for t in gc.get_objects() if type(t) is _Trace)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_result_built_through_views_is_written_into_its_row_with_its_views(dtype: str) -> None:
    # A gradient that fills a zeros buffer slice by slice (an LSTM's gate gradients) writes
    # through views of the result: they move to the row with it.
    x, z, h0 = T.tensor3("x", dtype=dtype), T.tensor3("z", dtype=dtype), T.matrix("h0", dtype=dtype)

    def step(xt, zt, h):  # noqa: ANN001, ANN202
        new = T.tanh(h * 0.5 + xt)
        out = T.zeros_like(zt)  # a fill kernel at every step, as autodiff's zeros are
        out = T.inc_subtensor(out[:, :4], new)
        out = T.inc_subtensor(out[:, 4:], new * new - zt[:, 4:])
        return new, out

    (hs, outs), _ = scan(step, sequences=[x, z], outputs_info=[h0, None])
    native = tr.function([x, z, h0], [hs, outs])
    reference = tr.function([x, z, h0], [hs, outs], mode="REFERENCE")
    before = {id(o) for o in _row_homes()}
    for call in range(4):
        args = [RNG.standard_normal((7, 3, 4)).astype(dtype), RNG.standard_normal((7, 3, 8)).astype(dtype),
                RNG.standard_normal((3, 4)).astype(dtype)]
        for got, want in zip(native(*args), reference(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"call {call}")
    homes = [o for o in _row_homes() if id(o) not in before]
    assert any(any(o.followers.values()) for o in homes), "no view followed its result into the row"
    for o in homes:
        for array, address in o.homes:
            assert array.ctypes.data == address
