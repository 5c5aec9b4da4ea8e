"""``init()`` and the ``World``: who this process is, and the collectives a training script calls.

    import tensorir.distributed as dist
    world = dist.init()                       # under mpirun -n N
    world.broadcast_shared(params)            # every process starts from rank 0's values
    grads = world.allreduce(tr.grad(cost, params), op="mean")   # symbolic: part of the function

``allreduce`` adds a ``tir.allreduce`` op to the graph, so the sum over processes runs inside the
compiled function, as one of its steps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorir.dialects.tir.collective import REDUCTIONS
from tensorir.distributed.errors import DistributedError
from tensorir.frontend.shared import SharedVariable
from tensorir.frontend.variable import TensorVariable, apply_op
from tensorir.runtime.collectives import bind_group

__all__ = ["BACKENDS", "World", "init"]


def _mpi(timeout_s: float, bucket_bytes: int | None, progress: str = "thread") -> Any:
    from tensorir.distributed.mpi import MpiCommunicator

    return MpiCommunicator(timeout_s=timeout_s, bucket_bytes=bucket_bytes, progress=progress)


def _nccl(timeout_s: float, bucket_bytes: int | None, progress: str = "thread") -> Any:
    # NCCL fits the same Communicator interface (start an in-place sum on a device buffer, on a
    # side stream; wait on its event), with MPI carrying the NCCL unique id to every process.
    raise NotImplementedError(
        "backend 'nccl' needs tensorir's GPU runtime, which does not exist yet; use backend='mpi'"
    )


#: Transports by name: a factory ``(timeout_s, bucket_bytes, progress) -> Communicator``.
BACKENDS: dict[str, Callable[[float, int | None, str], Any]] = {"mpi": _mpi, "nccl": _nccl}


@dataclass
class World:
    """This process's place in the group: ``rank`` of ``size``, ``local_rank`` on its machine."""

    communicator: Any
    group: str = "world"
    backend: str = "mpi"
    #: Whether ``allreduce`` overlaps the transfers with the rest of the backward pass.
    overlap: bool = True
    _previous_hook: Any = field(default=None, repr=False)

    @property
    def rank(self) -> int:
        return self.communicator.rank

    @property
    def size(self) -> int:
        return self.communicator.size

    @property
    def local_rank(self) -> int:
        return self.communicator.local_rank

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> str:
        """The device this process computes on: the CPU for MPI (a GPU backend picks ``local_rank``)."""
        return "cpu"

    # -- symbolic collectives ------------------------------------------------------------------
    def allreduce(self, variables: Any, op: str = "mean", overlap: bool | None = None) -> Any:
        """The sum or mean over the processes of each variable, as symbolic variables.

        ``variables``: one variable or a list (a list becomes one op, so its values travel in a
        few large messages). Returns the same structure. ``overlap`` (default: the world's):
        start each value's transfer as soon as it is computed and wait for it only where it is
        used (passes/schedule_collectives.py); False sends and waits in one step.
        """
        overlap = self.overlap if overlap is None else overlap
        if not isinstance(overlap, bool):
            raise TypeError(f"allreduce: overlap must be True, False or None, got {overlap!r}")
        if op not in REDUCTIONS:
            raise ValueError(f"allreduce: op must be one of {REDUCTIONS}, got {op!r}")
        single = isinstance(variables, TensorVariable)
        items = [variables] if single else list(variables)
        if not items:
            return [] if not single else variables
        for k, v in enumerate(items):
            if not isinstance(v, TensorVariable):
                raise TypeError(f"allreduce: variables[{k}] is {type(v).__name__}, not a symbolic variable "
                                "(pass the result of tr.grad, not values)")
        results = apply_op("tir.allreduce", *items, reduce=op, group=self.group, group_size=self.size,
                           overlap=overlap)
        results = [results] if isinstance(results, TensorVariable) else list(results)
        return results[0] if single else results

    # -- values --------------------------------------------------------------------------------
    def broadcast_shared(self, variables: Sequence[SharedVariable], root: int = 0) -> None:
        """Set every shared variable to its value on ``root`` (all processes call this together)."""
        items = list(variables)
        for k, v in enumerate(items):
            if not isinstance(v, SharedVariable):
                raise TypeError(f"broadcast_shared: variables[{k}] is {type(v).__name__}, not a shared variable")
        if not 0 <= root < self.size:
            raise ValueError(f"broadcast_shared: root must be a rank in 0..{self.size - 1}, got {root}")
        if self.size == 1:
            return
        local = [(v.get_value(borrow=True).shape, v.get_value(borrow=True).dtype.str) for v in items]
        expected = self.communicator.broadcast_object(local, root)
        if expected != local:
            raise DistributedError(
                f"broadcast_shared: the variables (shape, dtype) differ between rank {self.rank} and rank {root}: "
                f"{local} here, {expected} there; build the same model on every process"
            )
        for v in items:
            value = np.ascontiguousarray(v.get_value())
            self.communicator.broadcast(value, root)
            v.set_value(value, borrow=True)

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        """A small Python value from ``root`` (metadata, a checkpoint's step)."""
        return self.communicator.broadcast_object(value, root) if self.size > 1 else value

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.size > 1:
            self.communicator.barrier()

    def abort_on_error(self) -> None:
        """On an uncaught exception in any process, print it and end the whole job.

        Without this, a process that raised exits while the others wait for it in a collective
        until their timeout (mpi4py's ``python -m mpi4py`` does the same for the same reason)."""
        if self._previous_hook is not None:
            return
        previous = sys.excepthook
        communicator = self.communicator

        def hook(kind, value, traceback):  # noqa: ANN001, ANN202
            previous(kind, value, traceback)
            sys.stderr.flush()
            if kind is not KeyboardInterrupt and communicator.size > 1:
                communicator.abort(1)

        self._previous_hook = previous
        sys.excepthook = hook


def init(backend: str = "mpi", *, timeout_s: float = 300.0, bucket_bytes: int | None = None,
         group: str = "world", abort_on_error: bool = True, overlap: bool = True,
         progress: str = "thread") -> World:
    """Join the group of processes started by ``mpirun`` (one process alone without it).

    ``timeout_s``: how long a collective may wait for the others before raising (a dead process
    must not hang the rest). ``bucket_bytes``: largest message the gradients are packed into.
    ``abort_on_error``: an uncaught exception in one process ends the job (see
    :meth:`World.abort_on_error`). ``overlap``: the default of :meth:`World.allreduce`.
    ``progress``: how transfers advance while kernels run, ``"thread"`` (a progress thread) or
    ``"wait"`` (only inside waits); see distributed/mpi.py.
    """
    if backend not in BACKENDS:
        raise ValueError(f"init: backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    if not timeout_s > 0:
        raise ValueError(f"init: timeout_s must be positive, got {timeout_s!r}")
    if bucket_bytes is not None and bucket_bytes < 1:
        raise ValueError(f"init: bucket_bytes must be a positive number of bytes, got {bucket_bytes!r}")
    if progress not in ("thread", "wait"):
        raise ValueError(f"init: progress must be 'thread' or 'wait', got {progress!r}")
    communicator = BACKENDS[backend](timeout_s, bucket_bytes, progress)
    bind_group(group, communicator)
    world = World(communicator, group, backend, overlap)
    if abort_on_error:
        world.abort_on_error()
    return world
