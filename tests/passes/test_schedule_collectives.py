"""schedule-collectives: allreduces split into starts placed early and waits placed late."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.variable import apply_op
from tensorir.runtime.collectives import bind_group, unbind_group

COLLECTIVE_HALVES = ("tir.allreduce_start", "tir.allreduce_wait")


def _mlp_step(overlap: bool = True, group: str = "schedule-test", group_size: int = 2):
    """A two-layer MLP's training step with mean-allreduced gradients over a group of 2."""
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.ivector("y")
    W0, b0 = tr.shared(rng.normal(size=(6, 5)), name="W0"), tr.shared(np.zeros(5), name="b0")
    W1, b1 = tr.shared(rng.normal(size=(5, 3)), name="W1"), tr.shared(np.zeros(3), name="b1")
    params = [W0, b0, W1, b1]
    h = T.tanh(T.dot(x, W0) + b0)
    p = T.nnet.softmax(T.dot(h, W1) + b1)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    grads = apply_op("tir.allreduce", *tr.grad(cost, params), reduce="mean", group=group,
                     group_size=group_size, overlap=overlap)
    f = tr.function([x, y], cost, updates=[(q, q - 0.1 * g) for q, g in zip(params, grads)])
    return f, params


def _plan(f):
    return [(op.name, op) for op in f.executor.ops]


def test_starts_and_waits_have_the_backward_pass_between_them():
    f, _ = _mlp_step()
    plan = _plan(f)
    names = [name for name, _ in plan]
    assert "tir.allreduce" not in names
    starts = [k for k, name in enumerate(names) if name == "tir.allreduce_start"]
    waits = [k for k, name in enumerate(names) if name == "tir.allreduce_wait"]
    assert len(starts) == len(waits) == 4
    # Compute steps (kernels, products) run between the first start and the last start, and
    # every wait comes after the last start: the transfers have the backward pass to hide behind.
    between = [names[k] for k in range(starts[0] + 1, starts[-1]) if names[k] not in COLLECTIVE_HALVES]
    assert any(name in ("tir.gemm", "tir.dot", "tir.fused") for name in between), names
    assert min(waits) > max(starts)
    # A wait runs only where nothing else can: between it and the first step that reads its
    # result there are only other waits and steps that read what those give.
    reduced = {id(plan[k][1].results[0]) for k in waits}
    for k in waits:
        wait = plan[k][1]
        first_user = min(i for i, (_, op) in enumerate(plan) if any(v is wait.results[0] for v in op.operands))
        for j in range(k + 1, first_user):
            assert names[j] == "tir.allreduce_wait" or any(id(v) in reduced for v in plan[j][1].operands), \
                names[k:first_user + 1]


class _Recording:
    """Two processes holding the same values: a sum doubles; records each message's bytes."""

    rank, size = 0, 2

    def __init__(self, bucket_bytes):
        self.bucket_bytes = bucket_bytes
        self.messages = []

    def start_allreduce(self, buffer):
        self.messages.append(buffer.nbytes)
        buffer *= 2
        return self

    def wait(self):
        pass


@pytest.mark.parametrize("bucket_bytes", [1, 1 << 20])
def test_gradients_leave_in_the_order_they_are_produced(bucket_bytes):
    comm = _Recording(bucket_bytes)
    bind_group("schedule-test", comm)
    try:
        f, params = _mlp_step()
        starts = [op for name, op in _plan(f) if name == "tir.allreduce_start"]
        assert [op.attributes["index"] for op in starts] == [0, 1, 2, 3]
        x, y = np.random.default_rng(1).normal(size=(4, 6)), np.array([0, 1, 2, 0], np.int32)
        for _ in range(3):  # planned, recorded, replayed
            f(x, y)
        assert f.executor.function_replay.replayed == 1  # starts and waits run as islands of a replay
    finally:
        unbind_group("schedule-test")
    if bucket_bytes == 1:
        # One message per gradient, the last layer's first (the reverse of the forward order):
        # b1 (3 float64), W1 (5x3), b0 (5), W0 (6x5), with the backward pass between them.
        assert sorted(comm.messages[:2]) == [24, 120] and sorted(comm.messages[2:4]) == [40, 240]
        assert len(comm.messages) == 3 * 4
    else:
        assert comm.messages == [424] * 3  # all four in one bucket, once per call
    # The mean of equal values is the value: the steps are those of one process.
    alone, params1 = _mlp_step(group="alone", group_size=1)
    for _ in range(3):
        alone(x, y)
    for q, q1 in zip(params, params1):
        np.testing.assert_allclose(q.get_value(), q1.get_value(), rtol=1e-12)


def test_overlap_off_keeps_one_step():
    f, _ = _mlp_step(overlap=False)
    names = [name for name, _ in _plan(f)]
    assert "tir.allreduce" in names and not any(n in COLLECTIVE_HALVES for n in names)


def test_the_split_text_round_trips():
    from tensorir.dialects import Builder, make_func
    from tensorir.dialects.builtin import RETURN
    from tensorir.dialects.ir import Module, Operation
    from tensorir.dialects.parser import parse_module
    from tensorir.dialects.printer import print_module
    from tensorir.dialects.types import TensorType
    from tensorir.passes.schedule_collectives import ScheduleCollectivesPass

    func, block = make_func("f", [TensorType("float64", (None, 3)), TensorType("float32", ())], ["a", "b"])
    b = Builder(block, track_location=False)
    doubled = b.op("tir.add", block.arguments[0], block.arguments[0])
    ra, rb = b.op("tir.allreduce", doubled, block.arguments[1], reduce="sum", group_size=2)
    block.append(Operation(RETURN, [ra, rb], []))
    assert ScheduleCollectivesPass().run(func)
    text = print_module(Module([func]))
    assert text.count('"tir.allreduce_start"') == 2 and text.count('"tir.allreduce_wait"') == 2
    assert print_module(parse_module(text)) == text


class _Failing:
    rank, size, bucket_bytes = 0, 2, 1 << 20

    def start_allreduce(self, buffer):
        raise RuntimeError("the network is gone")


@pytest.mark.parametrize("overlap", [True, False], ids=["split", "one-step"])
def test_errors_of_collective_steps_name_the_users_line(overlap):
    bind_group("failing-group", _Failing())
    try:
        f, _ = _mlp_step(overlap=overlap, group="failing-group")
        with pytest.raises(RuntimeError, match=r"tir.allreduce\w* \(built at .*test_schedule_collectives.py:\d+\) "
                                               r"failed: RuntimeError: the network is gone"):
            f(np.ones((4, 6)), np.zeros(4, np.int32))
    finally:
        unbind_group("failing-group")


def test_a_group_of_another_size_names_the_users_line():
    f, _ = _mlp_step(group="unbound-group")
    with pytest.raises(RuntimeError, match=r"\(built at .*test_schedule_collectives.py:\d+\).*no communicator"):
        f(np.ones((4, 6)), np.zeros(4, np.int32))
