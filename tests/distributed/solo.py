"""A one-process stand-in for a communicator, so the distributed helpers test without MPI."""

import numpy as np


class SoloCommunicator:
    rank, size, local_rank, bucket_bytes = 0, 1, 0, 1 << 20

    def start_allreduce(self, buffer: np.ndarray):
        raise AssertionError("a one-process group never sends")

    def broadcast(self, buffer, root=0):
        pass

    def broadcast_object(self, value, root=0):
        return value

    def barrier(self):
        pass
