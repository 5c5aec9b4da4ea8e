"""ShardedBatches: shards of each global batch, epoch shuffles that agree, independent of N."""

import numpy as np
import pytest

from tensorir.distributed import ShardedBatches


def test_shards_of_n_processes_make_up_the_one_process_batch():
    one = ShardedBatches(100, 12, seed=5)
    for size in (2, 3, 4):
        shards = [ShardedBatches(100, 12, rank, size, seed=5) for rank in range(size)]
        for epoch in (0, 1):
            for batch in range(one.batches_per_epoch):
                np.testing.assert_array_equal(np.concatenate([s.indices(epoch, batch) for s in shards]),
                                              one.indices(epoch, batch))


def test_epochs_shuffle_differently_and_reproducibly():
    a, b = ShardedBatches(50, 10, seed=1), ShardedBatches(50, 10, seed=1)
    np.testing.assert_array_equal(a.order(3), b.order(3))
    assert not np.array_equal(a.order(0), a.order(1))
    assert sorted(a.order(2)) == list(range(50))
    np.testing.assert_array_equal(ShardedBatches(50, 10, shuffle=False).order(4), np.arange(50))


def test_epoch_iterates_from_a_start_and_shard_reads_rows_in_step_order():
    s = ShardedBatches(20, 4, rank=1, size=2, seed=0)
    batches = list(s.epoch(0, start=2))
    assert len(batches) == 3 and all(len(b) == 2 for b in batches)
    np.testing.assert_array_equal(batches[0], s.indices(0, 2))
    data = np.arange(20) * 10
    np.testing.assert_array_equal(s.shard(data)[4:6], data[s.indices(0, 2)])


@pytest.mark.parametrize("args,message", [
    ((10, 3, 0, 2), "global_batch must be a positive multiple of the 2 processes"),
    ((10, 4, 2, 2), "rank must be in 0..1"),
    ((10, 4, 0, 0), "size must be at least 1"),
    ((3, 4, 0, 1), "n_examples .3. must be at least one global batch"),
])
def test_bad_arguments_say_what_is_allowed(args, message):
    with pytest.raises(ValueError, match=message):
        ShardedBatches(*args)


def test_a_batch_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match="batch must be in 0..4"):
        ShardedBatches(10, 2).indices(0, 5)
