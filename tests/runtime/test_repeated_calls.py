"""Every op family called again and again: a compiled function runs its first calls through the
plan, records the next and replays the rest as one native call (runtime/native_function.py), and
loops record their first step (runtime/native_loop.py). Each graph here is called six times with
new values of the same shapes, so every stage runs: each result against REFERENCE, and results
handed out earlier keep their values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.ifelse import ifelse
from tensorir.runtime.native_function import RECORD_AFTER
from tensorir.scan_module import until

CALLS = RECORD_AFTER + 4
#: Cases whose calls stay in the plan, and why (each of the others must replay its calls).
PLANNED = {"run_time_index": "reads a per-step operand in Python"}

x, y = T.matrix("x"), T.matrix("y")
v = T.vector("v")
i = T.iscalar("i")
idx = T.ivector("idx")
labels = T.ivector("labels")
images = T.tensor4("images")
filters = T.tensor4("filters")


def _mlp_grads() -> list:
    hidden = T.tanh(T.dot(x, y) + v)
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(hidden), labels).mean()
    return [cost, *tr.grad(cost, [y, v])]


def _rnn() -> list:
    hs, _ = tr.scan(lambda row, h, w: T.tanh(T.dot(h, w) + row), sequences=x, outputs_info=v[:7],
                    non_sequences=y[:7])
    return [hs, hs[-1].sum(), tr.grad((hs * hs).sum(), y)]


def _backwards_with_until() -> list:
    def step(row, total):  # noqa: ANN001, ANN202
        new = total * 0.5 + row
        return [new, new.sum()], until(new.sum() > 1e6)

    (totals, sums), _ = tr.scan(step, sequences=x, outputs_info=[v, None], go_backwards=True)
    return [totals, sums[-1], sums]


def _loop_forms() -> list:
    fib, _ = tr.scan(lambda a, b: a + b * 0.5, outputs_info=dict(initial=x[:2, 0], taps=[-2, -1]), n_steps=6)
    mapped, _ = tr.map(lambda row, w: T.tanh(T.dot(row, w)), sequences=x, non_sequences=y)
    total, _ = tr.reduce(lambda row, acc: acc + row * row, sequences=x, outputs_info=v)
    left, _ = tr.foldl(lambda row, acc: acc * 0.5 + row, sequences=x, outputs_info=v)
    right, _ = tr.foldr(lambda row, acc: acc * 0.5 + row, sequences=x, outputs_info=v)
    pairs, _ = tr.scan(lambda prev, now, nxt: prev + 2.0 * now - nxt, sequences=dict(input=x, taps=[-1, 0, 1]))
    return [fib, mapped, total, left, right, pairs]


def _rnn_float32() -> list:
    x32, y32, v32 = (T.cast(a, "float32") for a in (x, y, v))
    hs, _ = tr.scan(lambda row, h, w: T.tanh(T.dot(h, w) + row), sequences=x32, outputs_info=v32[:7],
                    non_sequences=y32[:7])
    return [hs, tr.grad((hs * hs).sum(), y)]


#: name -> (inputs, outputs, argument shapes and dtypes); ``x``: 5 x 7, ``y``: 7 x 7, ``v``: 7.
CASES: dict[str, tuple[list, Callable[[], list], dict[str, tuple]]] = {
    "elements": ([x, v], lambda: [x[1, 2] + v[-1], (x * 2.0)[-1, -1], x[0, 3]], {}),
    "views": ([x], lambda: [x[:, ::-1][1:] * 2.0, x.T[2], x.dimshuffle(1, "x", 0).flatten()], {}),
    "run_time_index": ([x, i], lambda: [x[i], x[i:, i] + 1.0, x[-i - 1]], {}),
    "advanced_index": ([x, idx], lambda: [x[idx], x[idx, idx] * 3.0, x[:, idx].sum(axis=0)], {}),
    "writes": ([x, v, idx], lambda: [T.set_subtensor(x[1:3], v), T.inc_subtensor(x[idx], v * 2.0),
                                     T.set_subtensor(x[2, 3], v[0])], {}),
    "reductions": ([x], lambda: [x.sum(), x.sum(axis=0), x.max(axis=1), x.mean(axis=0), T.argmax(x, axis=1),
                                 x.min(axis=None), (x > 0).any(axis=1)], {}),
    "rows": ([x], lambda: [T.nnet.softmax(x), T.nnet.logsoftmax(x), T.nnet.logsumexp(x, axis=1)], {}),
    "blas": ([x, y, v], lambda: [T.dot(x, y), T.dot(x, v), T.dot(v, y), T.outer(v, v), T.dot(x, x.T)], {}),
    "shapes": ([x, v], lambda: [T.concatenate([x, x * 2.0]), T.stack([v, v + 1.0]), x.reshape((7, 5)),
                                T.switch(x > 0, x, 0.0), T.clip(x, -0.5, 0.5)], {}),
    "integers": ([idx], lambda: [idx * 3 + 1, T.int_div(idx, 3), T.mod(idx, 4), idx.sum(), idx.max()], {}),
    "ifelse": ([x, v, i], lambda: [ifelse(T.lt(i, 3), x * 2.0, x - 1.0), ifelse(T.gt(i, 2), v.sum(), v.max())],
               {}),
    "mlp_grads": ([x, y, v, labels], _mlp_grads, {}),
    "rnn": ([x, y, v], _rnn, {}),
    "backwards_until": ([x, v], _backwards_with_until, {}),
    "loop_forms": ([x, y, v], _loop_forms, {}),
    "rnn_float32": ([x, y, v], _rnn_float32, {}),
    "conv": ([images, filters], lambda: [T.nnet.conv2d(images, filters),
                                         *tr.grad((T.nnet.conv2d(images, filters) ** 2).sum(), [images, filters])],
             {"images": ((2, 3, 8, 8), "float64"), "filters": ((4, 3, 3, 3), "float64")}),
}


def _arguments(inputs: list, shapes: dict[str, tuple], rng: np.random.Generator) -> list:
    args = []
    for var in inputs:
        name = var.name
        if name in shapes:
            shape, dtype = shapes[name]
            args.append(rng.standard_normal(shape).astype(dtype))
        elif name == "x":
            args.append(rng.standard_normal((5, 7)))
        elif name == "y":
            args.append(rng.standard_normal((7, 7)) * 0.5)
        elif name == "v":
            args.append(rng.standard_normal(7))
        elif name == "i":
            args.append(np.int32(rng.integers(0, 5)))
        elif name == "idx":
            args.append(rng.integers(0, 5, size=4).astype(np.int32))
        elif name == "labels":
            args.append(rng.integers(0, 7, size=5).astype(np.int32))
        else:
            raise AssertionError(f"no values for {name}")
    return args


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_call_gives_this_calls_values(case: str) -> None:
    inputs, build, shapes = CASES[case]
    outputs = build()
    native = tr.function(inputs, outputs, on_unused_input="ignore")
    reference = tr.function(inputs, outputs, mode="REFERENCE", on_unused_input="ignore")
    rng = np.random.default_rng(sorted(CASES).index(case))
    handed: list[tuple[list, list]] = []
    for call in range(CALLS):
        args = _arguments(inputs, shapes, rng)
        got, want = native(*args), reference(*args)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape and g.dtype == w.dtype, f"call {call}, output {k}"
            # The float32 case's float64 gradient was computed in float32 too.
            rtol, atol = (2e-5, 1e-6) if "float32" in case else (1e-9, 1e-12)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"call {call}, output {k}")
        handed.append((got, [g.copy() for g in got]))
    replay = native.executor.function_replay
    if case in PLANNED:
        assert PLANNED[case] in (replay.reason or ""), replay.reason
    else:
        assert replay.reason is None and replay.replayed == CALLS - RECORD_AFTER, replay.reason
    for call, (got, copies) in enumerate(handed):
        for k, (g, c) in enumerate(zip(got, copies)):
            np.testing.assert_array_equal(g, c, err_msg=f"call {call}'s output {k} changed later")


def test_shared_updates_follow_a_numpy_model_over_calls() -> None:
    # SGD on a shared weight (written in place by replays) and a loop accumulating into a shared
    # counter: six calls against the same steps in NumPy.
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((7, 3))
    w = tr.shared(w0.copy(), name="w")
    count = tr.shared(np.float64(0.0), name="count")
    cost = ((T.dot(x, w) - 1.0) ** 2).mean()
    doubled, loop_updates = tr.scan(lambda row: (row * 2.0, {count: count + row.sum()}), sequences=x[:, 0])
    step = tr.function([x], [cost, doubled.sum()], updates=[(w, w - 0.1 * tr.grad(cost, w)), *loop_updates.items()])
    model, counted = w0.copy(), 0.0
    for call in range(CALLS):
        data = rng.standard_normal((5, 7))
        want = ((data @ model - 1.0) ** 2).mean()
        got_cost, got_doubled = step(data)
        np.testing.assert_allclose(got_cost, want, rtol=1e-10, err_msg=f"call {call}")
        np.testing.assert_allclose(got_doubled, 2.0 * data[:, 0].sum(), rtol=1e-10)
        model -= 0.1 * (2.0 / (5 * 3)) * data.T @ (data @ model - 1.0)
        counted += data[:, 0].sum()
        np.testing.assert_allclose(w.get_value(), model, rtol=1e-10, err_msg=f"call {call}")
        np.testing.assert_allclose(count.get_value(), counted, rtol=1e-10)
