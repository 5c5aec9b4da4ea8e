"""Data-parallel training across processes and machines (the optional extra ``[distributed]``).

Processes start with ``mpirun``/``mpiexec``; ``init()`` joins them. Synchronous data
parallelism puts the gradients' sum into the compiled function (``World.allreduce``, a
``tir.allreduce`` op); :class:`ElasticAveraging` is EASGD; :class:`ShardedBatches` says which
examples each process reads; checkpoints are written by rank 0 and resume with any number of
processes. mpi4py is imported only by ``init()``, so the rest works without it.
"""

from tensorir.distributed.checkpoint import load_checkpoint, save_checkpoint
from tensorir.distributed.easgd import ElasticAveraging
from tensorir.distributed.errors import DistributedError
from tensorir.distributed.sharding import ShardedBatches
from tensorir.distributed.world import BACKENDS, World, init

__all__ = [
    "BACKENDS",
    "DistributedError",
    "ElasticAveraging",
    "ShardedBatches",
    "World",
    "init",
    "load_checkpoint",
    "save_checkpoint",
]
