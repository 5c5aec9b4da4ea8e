"""Which examples each process reads: shards of every global minibatch, with agreed shuffles.

Global minibatch ``k`` of epoch ``e`` is ``order(e)[k*B:(k+1)*B]`` for every number of processes;
process ``r`` of ``N`` reads the ``r``-th ``B/N`` of it. So N processes with mean-allreduced
gradients take the same steps as one process with batch ``B`` (up to summation order), and a
position saved as (epoch, global batch) resumes with any N. The shuffle is a function of
``(seed, epoch)`` only, so every process computes the same one without talking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["ShardedBatches"]


@dataclass(frozen=True)
class ShardedBatches:
    """The minibatches of ``n_examples`` examples in global batches of ``global_batch``, as seen by
    process ``rank`` of ``size``. ``shuffle``: a new order each epoch from ``seed``; else in order.
    The last partial batch of an epoch is dropped (compiled shapes and equal shards need whole ones).
    """

    n_examples: int
    global_batch: int
    rank: int = 0
    size: int = 1
    seed: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"ShardedBatches: size must be at least 1, got {self.size}")
        if not 0 <= self.rank < self.size:
            raise ValueError(f"ShardedBatches: rank must be in 0..{self.size - 1}, got {self.rank}")
        if self.global_batch < 1 or self.global_batch % self.size:
            raise ValueError(f"ShardedBatches: global_batch must be a positive multiple of the {self.size} "
                             f"processes, got {self.global_batch}")
        if self.n_examples < self.global_batch:
            raise ValueError(f"ShardedBatches: n_examples ({self.n_examples}) must be at least one global batch "
                             f"({self.global_batch})")

    @classmethod
    def for_world(cls, world: object, n_examples: int, global_batch: int, seed: int = 0,
                  shuffle: bool = True) -> ShardedBatches:
        """The batches of ``world``'s process (anything with ``rank`` and ``size``)."""
        return cls(n_examples, global_batch, world.rank, world.size, seed, shuffle)  # type: ignore[attr-defined]

    @property
    def local_batch(self) -> int:
        """Examples per process per step."""
        return self.global_batch // self.size

    @property
    def batches_per_epoch(self) -> int:
        return self.n_examples // self.global_batch

    def order(self, epoch: int) -> np.ndarray:
        """Epoch ``epoch``'s order of all examples (the same on every process)."""
        if not self.shuffle:
            return np.arange(self.n_examples)
        # SeedSequence mixes (seed, epoch) into independent streams: epoch orders do not correlate.
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_examples)

    def indices(self, epoch: int, batch: int) -> np.ndarray:
        """This process's examples of global batch ``batch`` of ``epoch``."""
        if not 0 <= batch < self.batches_per_epoch:
            raise IndexError(f"batch must be in 0..{self.batches_per_epoch - 1}, got {batch}")
        start = batch * self.global_batch + self.rank * self.local_batch
        return self.order(epoch)[start:start + self.local_batch]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[np.ndarray]:
        """This process's example indices for each global batch of ``epoch`` from ``start``."""
        order = self.order(epoch)
        for batch in range(start, self.batches_per_epoch):
            first = batch * self.global_batch + self.rank * self.local_batch
            yield order[first:first + self.local_batch]

    def shard(self, array: np.ndarray, epoch: int = 0) -> np.ndarray:
        """This process's rows of ``array`` for a whole epoch, in step order: local batch ``k`` is
        rows ``k*local_batch`` to ``(k+1)*local_batch`` (for a shared data set indexed in the graph).
        Only these rows are read, so a memory-mapped file is read in part."""
        if len(array) != self.n_examples:
            raise ValueError(f"shard: the array has {len(array)} rows, the batches cover {self.n_examples}")
        rows = np.concatenate(list(self.epoch(epoch)))
        return np.asarray(array[rows])
