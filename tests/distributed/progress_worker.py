"""Does a started allreduce advance while the process makes no MPI call? Run by ``mpirun -n 2``.

Each process starts a 4 MiB sum, then sleeps (standing for native kernels: no MPI call) and
prints, from rank 0, whether the transfer completed during the sleep, then waits for it.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tensorir.distributed as dist


def main() -> None:
    world = dist.init(progress=sys.argv[1], timeout_s=60)
    buffer = np.full(1 << 19, float(world.rank + 1))
    world.barrier()
    request = world.communicator.start_allreduce(buffer)
    time.sleep(float(sys.argv[2]))
    completed = not request.request  # a completed MPI request is null
    request.wait()
    assert np.all(buffer == world.size * (world.size + 1) / 2)
    if world.rank == 0:
        print(f"progress={world.communicator.progress} completed during the sleep: {completed}")


if __name__ == "__main__":
    main()
