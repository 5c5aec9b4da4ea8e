"""The collective step: bucket plans, one transfer per bucket per call inside compiled functions."""

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.variable import apply_op
from tensorir.runtime.collectives import FIRST_BUCKET_BYTES, Exchange, bind_group, plan_buckets, unbind_group


class _Done:
    def wait(self):
        pass


class TwinCommunicator:
    """A group of ``size`` processes that all hold the same values: a sum multiplies by ``size``."""

    rank = 0

    def __init__(self, size=2, bucket_bytes=64):
        self.size, self.bucket_bytes = size, bucket_bytes
        self.messages = []

    def start_allreduce(self, buffer):
        self.messages.append(buffer.nbytes)
        buffer *= self.size
        return _Done()


@pytest.fixture
def group():
    comm = TwinCommunicator()
    bind_group("test-group", comm)
    yield comm
    unbind_group("test-group")


def test_buckets_follow_operand_order_split_by_size_and_dtype():
    f8, f4 = np.dtype("float64"), np.dtype("float32")
    buckets = plan_buckets([(3,), (2, 2), (100,), (1,), (4,)], [f8, f8, f8, f4, f8], bucket_bytes=64)
    assert [(b.dtype, b.size, b.parts) for b in buckets] == [
        (f8, 7, ((0, 0, 3), (1, 3, 4))),  # 56 bytes: the next one does not fit
        (f8, 100, ((2, 0, 100),)),  # larger than a bucket: alone
        (f4, 1, ((3, 0, 1),)),
        (f8, 4, ((4, 0, 4),)),
    ]


def test_bucket_size_must_be_positive():
    with pytest.raises(ValueError, match="bucket_bytes must be positive"):
        plan_buckets([(1,)], [np.dtype("float64")], 0)


@pytest.mark.parametrize("overlap", [True, False], ids=["split", "one-step"])
def test_a_compiled_function_sends_each_bucket_once_per_call(group, overlap):
    x, y = T.vector("x"), T.matrix("y")
    W = tr.shared(np.ones((2, 3)), name="W")
    cost = (T.dot(y, W).sum(axis=1) * x).sum() + (W**2).sum()
    gW, gx = apply_op("tir.allreduce", *tr.grad(cost, [W, x]), reduce="mean", group="test-group", group_size=2,
                      overlap=overlap)
    f = tr.function([x, y], [gW, gx], updates=[(W, W - 0.1 * gW)])
    names = ["tir.allreduce_start", "tir.allreduce_wait"] if overlap else ["tir.allreduce"]
    assert all((name, "collective") in f.executor.step_kinds for name in names)
    xv, yv = np.array([1.0, 2.0]), np.arange(4.0).reshape(2, 2)
    for call in range(5):
        W0 = W.get_value()
        outs = f(xv, yv)
        expected = yv.T @ np.outer(xv, np.ones(3)) + 2 * W0  # the mean of equal values is the value
        np.testing.assert_allclose(outs[0], expected)
        np.testing.assert_allclose(W.get_value(), W0 - 0.1 * expected)
        # W's 6 and x's 2 float64 values: 64 bytes fit one bucket. Every call (recorded, replayed
        # or not) sends exactly one message: a second one would deadlock a real group.
        assert group.messages == [64] * (call + 1)


def test_one_process_without_a_communicator_gets_copies_of_its_values():
    x = T.vector("x")
    f = tr.function([x], apply_op("tir.allreduce", x * 1, x, reduce="sum"))
    value = np.array([1.0, 2.0])
    doubled, same = f(value)
    np.testing.assert_array_equal(same, value)
    assert not np.shares_memory(same, value)


def test_a_group_without_a_communicator_is_an_error():
    x = T.vector("x")
    f = tr.function([x], apply_op("tir.allreduce", x, group="nobody", group_size=2))
    with pytest.raises(RuntimeError, match="no communicator is bound to group 'nobody'.*distributed.init"):
        f(np.ones(2))


def test_a_function_built_for_another_group_size_is_an_error(group):
    x = T.vector("x")
    f = tr.function([x], apply_op("tir.allreduce", x, group="test-group", group_size=3))
    with pytest.raises(RuntimeError, match="built for 3 processes.*has 2"):
        f(np.ones(2))


def test_an_exchange_buckets_operands_in_the_order_they_start(group):
    group.bucket_bytes = 4 * FIRST_BUCKET_BYTES
    exchange = Exchange("test-group", 2, mean=True, count=4)
    exchange.begin()
    values = [np.arange(100_000.0), np.full((250, 200), 2.0), np.ones(1000, np.float32), np.arange(6.0).reshape(2, 3)]
    exchange.add(0, values[0])  # 0.8 MB: the bucket stays open
    assert exchange.messages == []
    exchange.add(1, values[1])  # 1.2 MB: the first bucket closes at 1 MiB (DDP's rule)
    assert exchange.messages == [(1_200_000, (0, 1))]
    exchange.add(2, values[2])  # another dtype, another bucket; still open
    # A wait on an open bucket starts it; then the last operand starts what is left.
    np.testing.assert_array_equal(exchange.result(2), values[2])
    exchange.add(3, values[3])
    assert exchange.messages == [(1_200_000, (0, 1)), (4000, (2,)), (48, (3,))]
    for k, value in enumerate(values):  # the mean of equal values is the value, in its shape
        result = exchange.result(k)
        assert result.shape == value.shape and result.dtype == value.dtype
        np.testing.assert_array_equal(result, value)
