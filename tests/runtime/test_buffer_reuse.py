"""The plan's buffer-reuse decisions (runtime/buffer_reuse.py), on hand-made plans and on compiled
functions."""

from __future__ import annotations

import numpy as np

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.buffer_reuse import plan_buffer_reuse
from tensorir.runtime.step_traits import StepTraits

FRESH = StepTraits(fresh_outputs=True, reuses_dead_operands=True)
VIEW = StepTraits()  # an op's reference: its result may view its operands


def reuse(steps: list[tuple[StepTraits, tuple[int, ...], tuple[int, ...]]], protected: set[int],
          shape_only: dict[int, set[int]] | None = None) -> list[tuple[int, ...]]:
    shape_only = shape_only or {}
    reads = [frozenset(j for j in range(len(ins)) if j not in shape_only.get(k, set()))
             for k, (_, ins, _) in enumerate(steps)]
    return plan_buffer_reuse([t for t, _, _ in steps], [i for _, i, _ in steps], [o for _, _, o in steps], reads,
                             frozenset(protected))


def test_a_dead_intermediate_is_given_to_the_step_that_reads_it_last() -> None:
    # slot 0 argument; 1 = f(0); 2 = g(1); 3 = h(2, 1) (the result)
    steps = [(FRESH, (0,), (1,)), (FRESH, (1,), (2,)), (FRESH, (2, 1), (3,))]
    assert reuse(steps, {0, 3}) == [(), (), (0, 1)]


def test_arguments_constants_and_results_are_never_given() -> None:
    steps = [(FRESH, (0, 1), (2,)), (FRESH, (2,), (3,))]
    assert reuse(steps, {0, 1, 2, 3}) == [(), ()]


def test_an_operand_twice_in_one_step_is_not_given() -> None:
    steps = [(FRESH, (0,), (1,)), (FRESH, (1, 1), (2,))]
    assert reuse(steps, {0, 2}) == [(), ()]


def test_a_buffer_with_a_live_view_is_not_given() -> None:
    # 2 may view 1 (a reference step); 2 is read after 1's last read: 1 must survive.
    steps = [(FRESH, (0,), (1,)), (VIEW, (1,), (2,)), (FRESH, (1,), (3,)), (FRESH, (2,), (4,))]
    # ... and the view itself (step 3's operand) is never given: it may be another value's buffer.
    assert reuse(steps, {0, 3, 4}) == [(), (), (), ()]


def test_a_view_read_before_the_last_use_does_not_block_it() -> None:
    steps = [(FRESH, (0,), (1,)), (VIEW, (1,), (2,)), (FRESH, (2,), (3,)), (FRESH, (1,), (4,))]
    assert reuse(steps, {0, 3, 4}) == [(), (), (), (0,)]


def test_a_later_read_of_the_shape_only_does_not_keep_the_buffer() -> None:
    # step 2 reads slot 1 only for its shape (a gradient asks for a forward value's shape).
    steps = [(FRESH, (0,), (1,)), (FRESH, (1,), (2,)), (VIEW, (2, 1), (3,))]
    assert reuse(steps, {0, 3}, shape_only={2: {1}}) == [(), (0,), ()]
    assert reuse(steps, {0, 3}) == [(), (), ()]


def test_a_step_that_declares_no_reuse_is_given_nothing() -> None:
    steps = [(FRESH, (0,), (1,)), (StepTraits(fresh_outputs=True), (1,), (2,))]
    assert reuse(steps, {0, 2}) == [(), ()]


def test_a_chain_of_elementwise_steps_writes_one_buffer() -> None:
    x = T.vector("x")
    y = T.exp(x * 2.0)
    z = T.sqrt(T.abs(y - 1.0)) + 3.0
    w = T.log(z) * z.sum()  # z is read twice: only its last reader may take its buffer
    f = tr.function([x], [w], mode="FAST_RUN")
    frees = [entry.free for entry in f.executor.steps]
    assert any(frees), frees
    xv = np.linspace(-2, 2, 1000)
    yv = np.exp(xv * 2.0)
    zv = np.sqrt(np.abs(yv - 1.0)) + 3.0
    for _ in range(4):  # the plan, the recording, replays
        np.testing.assert_allclose(f(xv)[0], np.log(zv) * zv.sum(), rtol=1e-12)
    np.testing.assert_array_equal(xv, np.linspace(-2, 2, 1000))


def test_an_intermediate_that_is_also_returned_is_never_written_over() -> None:
    x = T.matrix("x")
    h = T.tanh(x * 3.0)
    g = tr.function([x], [h, T.exp(h) + 1.0, (h * 2.0)[:, :1] + 0])
    xv = np.random.default_rng(0).standard_normal((5, 4))
    want = np.tanh(xv * 3.0)
    for _ in range(4):
        out = g(xv)
        np.testing.assert_allclose(out[0], want, rtol=1e-12)
        np.testing.assert_allclose(out[1], np.exp(want) + 1.0, rtol=1e-12)
        np.testing.assert_allclose(out[2], want[:, :1] * 2.0, rtol=1e-12)


def _in_place_disagreements(executor) -> list[str]:  # noqa: ANN001 - a NativeExecutor
    """Ops the memory pass marks to write over an intermediate (its ``inplace`` attribute) that
    the plan does not give that buffer, except where the intermediate comes from a step that may
    return a view (the pass only knows the graph's declared views)."""
    from tensorir.runtime.step_traits import traits_of

    producer = {slot: entry for entry in executor.steps for slot in entry.outs}
    out = []
    for entry, op in zip(executor.steps, executor.ops):
        k = op.attributes.get("inplace") if "inplace" in op.opdef.attributes else None
        if k is None or entry.ins[k] < executor.n_args:
            continue
        made_by = producer.get(entry.ins[k])
        if k not in entry.free and made_by is not None and traits_of(made_by.step).fresh_outputs:
            out.append(f"{op.name} operand {k}: the pass writes over it, the plan gives {entry.free}")
    for body in executor.__dict__.get("_bodies", {}).values():
        out += _in_place_disagreements(body)
    return out


def test_the_plan_gives_every_buffer_the_memory_pass_writes_over() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "codegen" / "cpu"))
    try:
        from test_step_table import _training_functions
    finally:
        sys.path.pop(0)
    functions = _training_functions()
    x = T.matrix("x")
    h = T.nnet.sigmoid(T.dot(x, np.ones((3, 5))))
    functions["mlp-like"] = tr.function([x], [T.tanh(h * 2.0 + 1.0) - h.sum(), T.exp(h)])
    for name, f in functions.items():
        assert _in_place_disagreements(f.executor) == [], name
