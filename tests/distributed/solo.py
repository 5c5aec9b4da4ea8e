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

    def elastic_center(self, initial):
        return SoloCenter(initial)


class SoloCenter:
    """The asynchronous EASGD center of a one-process group: a local array."""

    def __init__(self, initial):
        self.center = initial.astype(np.float64).reshape(-1)

    def exchange(self, replica, alpha):
        move = alpha * (replica.reshape(-1) - self.center)
        self.center = self.center + move
        return move

    def read(self):
        return self.center.copy()
