"""Whole calls replayed as one native call (runtime/native_function.py) against the plan and REFERENCE.

Each case calls a function several times with new values of one signature: the first calls
run the plan and record, the later ones replay. Results must match the plan's
(``native_calls=False``) and REFERENCE's on every call, the results of one call must not change
when the next runs (their buffers were handed out), and the test checks that replays happened,
so a function that silently stayed on the plan would fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import EvaluationError
from tensorir.runtime.native_function import RECORD_AFTER

RNG = np.random.default_rng(11)


def three_ways(inputs, outputs, calls, *, replays: bool = True, rtol: float = 1e-6, **kwargs):  # noqa: ANN001, ANN003
    """Run ``calls`` (argument tuples) through the replaying function, the plan and REFERENCE."""
    native = tr.function(inputs, outputs, **kwargs)
    with tr.change_flags(native_calls=False):
        plan = tr.function(inputs, outputs, **kwargs)
    reference = tr.function(inputs, outputs, mode="REFERENCE", **kwargs)
    kept = []
    for args in calls:
        got = _as_list(native(*args))
        kept.append(([g.copy() for g in got], got))
        for want in (_as_list(plan(*args)), _as_list(reference(*args))):
            for g, w in zip(got, want):
                assert g.shape == w.shape and g.dtype == w.dtype
                np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)
    for copies, handed in kept:  # later calls did not write into earlier results
        for c, h in zip(copies, handed):
            np.testing.assert_array_equal(c, h)
    replay = native.executor.function_replay
    if replays:
        assert replay.reason is None, replay.reason
        assert replay.replayed == len(calls) - RECORD_AFTER
    return native


def _as_list(x):  # noqa: ANN001, ANN202
    return x if isinstance(x, list) else [x]


def _calls(n: int, *shapes_dtypes) -> list[tuple]:  # noqa: ANN002
    return [tuple(RNG.standard_normal(s).astype(d) for s, d in shapes_dtypes) for _ in range(n)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logistic_regression_step_replays_with_updates(dtype: str) -> None:
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    w = tr.shared(np.zeros((7, 3), dtype), name="w")
    b = tr.shared(np.zeros(3, dtype), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = tr.grad(cost, [w, b])
    train = tr.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    # The same training with the plan only and with REFERENCE, from the same start.
    with tr.change_flags(native_calls=False):
        w2, b2 = tr.shared(np.zeros((7, 3), dtype)), tr.shared(np.zeros(3, dtype))
        p2 = T.nnet.softmax(T.dot(x, w2) + b2)
        c2 = -T.mean(T.log(p2)[T.arange(y.shape[0]), y])
        g2 = tr.grad(c2, [w2, b2])
        train2 = tr.function([x, y], c2, updates=[(w2, w2 - 0.5 * g2[0]), (b2, b2 - 0.5 * g2[1])])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for _ in range(6):
        xv = RNG.standard_normal((20, 7)).astype(dtype)
        yv = RNG.integers(0, 3, 20).astype("int32")
        np.testing.assert_allclose(train(xv, yv), train2(xv, yv), rtol=tol)
        np.testing.assert_allclose(w.get_value(), w2.get_value(), rtol=tol, atol=tol)
        np.testing.assert_allclose(b.get_value(), b2.get_value(), rtol=tol, atol=tol)
    replay = train.executor.function_replay
    assert replay.reason is None and replay.replayed == 6 - RECORD_AFTER


def test_a_bad_label_in_a_replayed_call_raises_and_keeps_shared_values() -> None:
    x = T.matrix("x")
    y = T.ivector("y")
    w = tr.shared(RNG.standard_normal((4, 5)), name="w")
    cost = T.mean(T.nnet.crossentropy_softmax_1hot(T.dot(x, w), y)[0])
    train = tr.function([x, y], cost, updates=[(w, w - 0.1 * tr.grad(cost, w))])
    xv = RNG.standard_normal((6, 4))
    for _ in range(RECORD_AFTER + 1):
        train(xv, RNG.integers(0, 5, 6).astype("int32"))
    assert train.executor.function_replay.replayed == 1
    before = w.get_value().copy()
    with pytest.raises(EvaluationError, match="class label 5 out of range"):
        train(xv, np.array([0, 1, 5, 2, 3, 4], "int32"))
    np.testing.assert_array_equal(w.get_value(), before)
    train(xv, RNG.integers(0, 5, 6).astype("int32"))  # and the function still works
    assert train.executor.function_replay.replayed == 2


def test_results_that_are_inputs_or_their_views_are_copies() -> None:
    x = T.matrix("x")
    v = T.vector("v")
    outs = [x, x.T, x[1:], x * 2 + v, T.exp(x).sum(axis=0)]
    calls = _calls(5, ((4, 3), "float64"), ((3,), "float64"))
    native = three_ways([x, v], outs, calls)
    args = calls[0]
    got = native(*args)
    for result in got:  # never the caller's array, nor a view of it
        assert not np.shares_memory(result, args[0]) and not np.shares_memory(result, args[1])


def test_a_softmax_over_the_first_axis_follows_the_arguments() -> None:
    x = T.matrix("x")
    outs = [T.nnet.softmax(x.T).T * 2, T.exp(x) + 1]
    three_ways([x], outs, _calls(5, ((5, 4), "float64")), replays=False)


def test_a_new_signature_records_again() -> None:
    x = T.matrix("x")
    y = T.matrix("y")
    fn = tr.function([x, y], [T.tanh(x) * y + 1, (x * y).sum(axis=1), T.dot(x, y.T)])
    ref = tr.function([x, y], [T.tanh(x) * y + 1, (x * y).sum(axis=1), T.dot(x, y.T)], mode="REFERENCE")
    for shape in [(3, 4), (5, 2), (3, 4), (5, 2)] * 3:
        args = (RNG.standard_normal(shape), RNG.standard_normal(shape))
        for g, w in zip(fn(*args), ref(*args)):
            np.testing.assert_allclose(g, w, rtol=1e-12)
    assert fn.executor.function_replay.replayed == 12 - 2 * RECORD_AFTER
    # Strides are part of the signature: a transposed view of the same shape records anew.
    a, b = RNG.standard_normal((4, 3)).T, RNG.standard_normal((3, 4))
    for g, w in zip(fn(a, b), ref(a, b)):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_flag_off_keeps_the_plan() -> None:
    x = T.vector("x")
    with tr.change_flags(native_calls=False):
        fn = tr.function([x], [T.exp(x) + 1, T.tanh(x) * 2, x.sum()])
    for _ in range(4):
        fn(RNG.standard_normal(5))
    assert fn.executor.function_replay is None


def test_big_kernels_are_split_over_the_threads_in_a_replay() -> None:
    # On two cores a big kernel is a split entry (this thread and the loop helper) inside the
    # native call; with more threads it runs on the pool between native stretches.
    from tensorir.codegen.cpu.lower_replay import KINDS

    x = T.vector("x", dtype="float32")
    y = T.matrix("y", dtype="float32")
    w = T.matrix("w", dtype="float32")
    outs = [T.exp(x) + 1, T.tanh(x) * 2, x.sum(), T.dot(T.tanh(y), w), T.dot(y, w).sum(axis=0)]
    calls = _calls(5, ((1 << 20,), "float32"), ((300, 200), "float32"), ((200, 150), "float32"))
    native = three_ways([x, y, w], outs, calls, rtol=2e-5)
    parts = native.executor.function_replay._traces.popitem()[1].parts
    threads = native.executor.num_threads
    splits = sum(int(row[0] == KINDS["split"]) for p in parts if hasattr(p, "table") for row in p.table)
    if threads == 2:
        assert splits >= 3 and not any(isinstance(p, tuple) for p in parts)
    elif threads > 2:
        assert any(isinstance(p, tuple) for p in parts)  # a pool call


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_bias_gradient_over_axes_0_2_3_is_two_native_sums(dtype: str) -> None:
    # A conv bias's gradient sums axes 0, 2 and 3: a trailing sum then a leading one, both
    # replayed, with the intermediate kept alive for the replays (they write and read it).
    x = T.tensor4("x", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    cost = (T.tanh(x + b.dimshuffle("x", 0, "x", "x")) ** 2).sum()
    calls = _calls(6, ((5, 4, 6, 7), dtype), ((4,), dtype))
    native = three_ways([x, b], [tr.grad(cost, b), cost], calls, rtol=1e-4 if dtype == "float32" else 1e-10)
    trace = native.executor.function_replay._traces.popitem()[1]
    assert not any(type(p).__name__ == "_Island" for p in trace.parts)


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(0, 9), cols=st.integers(1, 9), dtype=st.sampled_from(["float32", "float64"]))
def test_hypothesis_dense_layer_with_softmax(rows: int, cols: int, dtype: str) -> None:
    x = T.matrix("x", dtype=dtype)
    w = T.matrix("w", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    h = T.tanh(T.dot(x, w) + b)
    outs = [T.nnet.softmax(h), h.sum(axis=0), T.mean(h)]
    calls = _calls(4, ((rows, 5), dtype), ((5, cols), dtype), ((cols,), dtype))
    tol = 1e-5 if dtype == "float32" else 1e-12
    with np.errstate(all="ignore"):
        three_ways([x, w, b], outs, calls, rtol=tol, replays=rows > 0)


def test_an_update_that_is_also_an_output_does_not_alias() -> None:
    x = T.vector("x")
    s = tr.shared(np.zeros(4), name="s")
    new = T.tanh(s + x) * 2 + 1
    fn = tr.function([x], [new, new.sum(), T.exp(x).max()], updates=[(s, new)])
    outs = []
    for _ in range(RECORD_AFTER + 3):
        outs.append(fn(RNG.standard_normal(4))[0])
        assert not np.shares_memory(outs[-1], s.get_value(borrow=True))
    assert fn.executor.function_replay.replayed == 3
    np.testing.assert_array_equal(outs[-1], s.get_value())
    assert len({id(o) for o in outs}) == len(outs)


def test_recordings_stay_under_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorir.runtime.native_function as native_function

    x = T.matrix("x")
    fn = tr.function([x], [T.exp(x) + 1, T.tanh(x).sum(axis=0), (x * 2).max()])
    replay = fn.executor.function_replay
    for _ in range(RECORD_AFTER):
        fn(RNG.standard_normal((10, 10)))
    (first,) = replay._traces.values()
    # Room for one such recording, not two: the second signature's replaces the first's.
    monkeypatch.setattr(native_function, "TRACE_BYTES_LIMIT", first.held * 3 // 2)
    for _ in range(RECORD_AFTER):
        fn(RNG.standard_normal((10, 12)))
    assert len(replay._traces) == 1 and replay.reason is None
    for _ in range(RECORD_AFTER):
        fn(RNG.standard_normal((40, 40)))
    assert "MB of intermediates" in replay.reason


def test_steps_in_python_run_as_islands_between_native_stretches() -> None:
    """A scan, advanced indexing and a random draw read the call's values: the replay runs them
    in Python and writes their results where the native calls after them read."""
    from tensorir.frontend.scan import scan

    x = T.matrix("x")
    idx = T.lvector("idx")
    h0 = T.vector("h0")
    h, _ = scan(lambda xt, h: T.tanh(h * 0.5 + xt), sequences=x, outputs_info=h0)
    picked = x[idx] * 2 + 1
    outs = [T.exp(h).sum(axis=1) + 1, picked.sum(axis=0) * h[-1], (h * 3).max()]
    calls = [(RNG.standard_normal((6, 3)), RNG.integers(0, 6, 4), RNG.standard_normal(3)) for _ in range(5)]
    native = three_ways([x, idx, h0], outs, calls)
    assert any(type(p).__name__ == "_Island" for p in native.executor.function_replay._traces.popitem()[1].parts)


def test_an_island_whose_result_changes_shape_sends_the_call_to_the_plan() -> None:
    x = T.vector("x")
    positive = x[(x > 0).nonzero()]
    outs = [T.exp(positive) + 1, positive.sum() * 2, T.tanh(x) * 3]
    native = tr.function([x], outs)
    reference = tr.function([x], outs, mode="REFERENCE")
    for k in range(6):
        v = RNG.standard_normal(8)
        v[: k + 1] = np.abs(v[: k + 1]) + 0.1  # a different number of positive values each call
        for g, w in zip(native(v), reference(v)):
            np.testing.assert_allclose(g, w, rtol=1e-12)


# -- loops inside the one native call (NativeScan.record_inline) ---------------------------------
def _parts(fn) -> list[str]:  # noqa: ANN001
    """The kinds of the parts of a function's only recording."""
    (trace,) = fn.executor.function_replay._traces.values()
    return [type(p).__name__ for p in trace.parts]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_rnn_value_and_gradient_is_one_native_call(dtype: str) -> None:
    """Forward scan, its backward (reverse) scan and the pads between them: a single stretch,
    with the weights as non-sequences given by the call."""
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    W, U = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    h, _ = tr.scan(lambda xt, hp, W, U: T.tanh(T.dot(xt, W) + T.dot(hp, U)), sequences=x, outputs_info=h0,
                   non_sequences=[W, U])
    cost = (h[-1] ** 2).sum() + h.mean()
    calls = _calls(5, ((7, 3, 4), dtype), ((3, 5), dtype), ((4, 5), dtype), ((5, 5), dtype))
    native = three_ways([x, h0, W, U], [cost, h, *tr.grad(cost, [W, U, x])], calls,
                        rtol=1e-4 if dtype == "float32" else 1e-10)
    assert _parts(native) == ["_Stretch"]


def test_taps_reverse_keep_and_plain_outputs_inside_one_call() -> None:
    """Fibonacci-like taps [-2, -1] backwards with a plain output, and a ``reduce`` (keeps its
    last row): the state buffers start from the call's initial values every call."""
    x, init, v0 = T.matrix("x"), T.matrix("init"), T.vector("v0")

    def step(xt, a, b):  # noqa: ANN001, ANN202
        new = T.tanh(a * 0.3 + b * 0.6 + xt)
        return new, new.sum() * 2

    (fib, plain), _ = tr.scan(step, sequences=x, outputs_info=[dict(initial=init, taps=[-2, -1]), None],
                              go_backwards=True)
    last, _ = tr.reduce(lambda xt, acc: acc * 0.9 + T.exp(-xt), sequences=x, outputs_info=v0)
    outs = [fib * 1.5, plain + 1, last * 2]
    calls = [(RNG.standard_normal((6, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(3)) for _ in range(5)]
    native = three_ways([x, init, v0], outs, calls, rtol=1e-12)
    assert "_Island" not in _parts(native)


def test_a_loop_updating_a_shared_variable_inside_one_call() -> None:
    """The tutorial's accumulator: the update comes back from scan and is applied after the call."""
    acc = tr.shared(np.float64(0.0), name="acc")
    k = T.vector("k")
    values, updates = tr.scan(lambda v: {acc: acc + v}, sequences=k * 2 + 1)
    add = tr.function([k], (k * 3).sum(), updates=updates)
    total = 0.0
    for _ in range(5):
        kv = RNG.standard_normal(4)
        add(kv)
        total += float((kv * 2 + 1).sum())
        np.testing.assert_allclose(acc.get_value(), total, rtol=1e-12)
    assert add.executor.function_replay.replayed == 5 - RECORD_AFTER


def test_a_step_count_from_the_call_keeps_the_loop_an_island() -> None:
    """Same shapes, another ``n_steps`` value: the recording must not bake the step count in (the
    island's results change shape, so such calls go back to the plan)."""
    n = T.lscalar("n")
    x, h0 = T.matrix("x"), T.vector("h0")
    h, _ = tr.scan(lambda xt, h: T.tanh(h + xt), sequences=x, outputs_info=h0, n_steps=n)
    calls = [(np.int64(s), RNG.standard_normal((8, 3)), RNG.standard_normal(3)) for s in (5, 3, 7, 2, 8, 4)]
    native = three_ways([n, x, h0], [T.exp(h).sum(axis=1) * 2, h[-1] + 1], calls, replays=False)
    assert "_Island" in _parts(native)


def test_an_until_loop_stays_an_island() -> None:
    x0 = T.vector("x0")
    xs, _ = tr.scan(lambda v: (v * 1.5, tr.scan_module.until(T.max(v) > 10)), outputs_info=x0, n_steps=20)
    start = np.array([0.7, 1.1, 0.9])  # max(v) passes 10 at the 6th step, for every scale below
    calls = [(start * s,) for s in (1.0, 1.01, 1.02, 1.03, 1.04)]  # the same number of steps each call
    native = three_ways([x0], [(xs * 2).sum(), T.exp(xs).max()], calls)
    assert "_Island" in _parts(native)


def test_single_elements_follow_each_call() -> None:
    # ``v[-1]`` or ``m[1, 2]`` index every axis with an int: the step gives a 0-d view (NumPy's
    # scalar would be a copy the replay never updates), after native stretches and after islands.
    v, m = T.vector("v"), T.matrix("m")
    kept, _ = tr.scan(lambda a, total: (total + a, tr.scan_module.until(total > 1e9)), sequences=v,
                      outputs_info=T.zeros_like(v[0]))
    outputs = [(v * 2.0)[-1], T.exp(m)[1, 2] + v[0], kept[-1]]
    three_ways([v, m], outputs, _calls(5, ((6,), "float64"), ((3, 4), "float64")))


def test_islands_see_the_blas_thread_count_the_native_stretches_left() -> None:
    """A conv step (an island) gives BLAS one thread for its per-thread products, skipping the
    call when it believes the count is already right; native stretches before it set the count
    for their own products, so the replay must tell Python what they left (a stale belief had a
    conv gradient's products run two BLAS threads on each of two pool threads, 4x slower)."""
    import tensorir.runtime.native_conv as native_conv
    from tensorir.runtime.blas import get_blas_num_threads
    from tensorir.runtime.native_blas import _blas_threads_now

    if get_blas_num_threads() is None:
        pytest.skip("BLAS's thread count cannot be read here")
    seen: list[tuple] = []
    original = native_conv.configure_blas_threads

    def checked(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        seen.append((_blas_threads_now[0], get_blas_num_threads()))
        original(*args, **kwargs)

    x, a, b = T.tensor4("x"), T.matrix("a"), T.matrix("b")
    w = tr.shared(RNG.standard_normal((8, 3, 5, 5)), name="w")
    # conv (one BLAS thread per slot), a product wanting every thread, conv again.
    first = T.nnet.conv2d(x, w).sum()
    big = T.dot(a * first, b)
    second = T.nnet.conv2d(x * big.sum(), w)
    fn = tr.function([x, a, b], [second.sum(), big.sum()])
    args = (RNG.standard_normal((16, 3, 32, 32)), RNG.standard_normal((300, 300)), RNG.standard_normal((300, 300)))
    native_conv.configure_blas_threads = checked
    try:
        for _ in range(RECORD_AFTER + 3):
            fn(*args)
    finally:
        native_conv.configure_blas_threads = original
    assert fn.executor.function_replay.replayed == 3
    assert seen and all(believed == actual for believed, actual in seen if believed is not None), seen


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_pool_islands_write_into_the_recorded_results(dtype: str) -> None:
    """A replay hands a conv or pool island the arrays it recorded: the step writes there (no new
    pages at the first replay, no buffer swap), and values follow every call's arguments."""
    from tensorir.tensor.signal import pool

    x = T.tensor4("x", dtype=dtype)
    w = tr.shared(RNG.standard_normal((4, 2, 3, 3)).astype(dtype), name="w")
    c = T.nnet.conv2d(x, w)
    p = pool.pool_2d(T.tanh(c), ws=(2, 2), ignore_border=True)
    cost = (p * p).sum()
    outs = [cost, tr.grad(cost, w), tr.grad(cost, x)]
    calls = [(RNG.standard_normal((6, 2, 12, 12)).astype(dtype),) for _ in range(RECORD_AFTER + 3)]
    native = three_ways([x], outs, calls, rtol=1e-4 if dtype == "float32" else 1e-9)
    (trace,) = native.executor.function_replay._traces.values()
    islands = [part for part in trace.parts if type(part).__name__ == "_Island"]
    if not islands:
        pytest.skip("no conv or pool step ran as an island here (one thread)")
    filled = [part for part in islands if part.fill]
    assert filled, [type(part.step).__name__ for part in islands]
    before = [[r.__array_interface__["data"][0] for r in part.results] for part in filled]
    native(*calls[0])
    assert [[r.__array_interface__["data"][0] for r in part.results] for part in filled] == before


def test_replay_reason_names_the_first_reason_in_one_place() -> None:
    from tensorir.runtime.native_function import MIN_STEPS, TRACE_BYTES_LIMIT, replay_reason
    from tensorir.runtime.recording import Recorder

    assert replay_reason(MIN_STEPS - 1) == f"a plan of fewer than {MIN_STEPS} steps"
    assert replay_reason(MIN_STEPS) is None
    recorder = Recorder()
    assert replay_reason(MIN_STEPS, recorder) is None
    assert "MB of intermediates" in replay_reason(MIN_STEPS, recorder, TRACE_BYTES_LIMIT + 1)
    recorder.not_reusable = "x reads an operand of the call in Python"
    assert replay_reason(MIN_STEPS, recorder, TRACE_BYTES_LIMIT + 1) == recorder.not_reusable
    recorder.invalidate("a broadcast copy")
    assert replay_reason(MIN_STEPS, recorder) == "a broadcast copy"  # the first Python work comes first
