"""Elastic averaging SGD (EASGD; Zhang, Choromanska and LeCun, NIPS 2015), Platoon's second mode.

Each process trains its own copy ``x_i`` of the parameters with no communication; every
``period`` steps it is pulled toward a center ``c`` and the center toward it (the elastic force):

    d_i = alpha * (x_i - c)
    x_i <- x_i - d_i
    c   <- c + sum_i d_i

with ``alpha = moving_rate / N`` (the paper's beta = 0.9 by default). Two modes (``MODES``):

- ``"synchronous"``: every process keeps a replica of the center, and the exchange is a compiled
  function whose sum of the ``d_i`` is a ``tir.allreduce`` step (all processes exchange together);
- ``"asynchronous"``: Platoon's algorithm: the center lives in an MPI window on rank 0, and each
  process meets it whenever it reaches its own ``period``-th step (lock, read ``c``, add ``d_i``,
  unlock), never waiting for the others' steps. Rank 0 computes like the others: no server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.frontend.function import function
from tensorir.frontend.shared import SharedVariable, shared

__all__ = ["MODES", "ElasticAveraging"]

MODES = ("synchronous", "asynchronous")


class ElasticAveraging:
    """EASGD's exchange for ``params`` over ``world``, every ``period`` training steps, in
    ``mode`` (one of :data:`MODES`).

    Call :meth:`after_step` after each training step; the center (:meth:`read_center`, shared
    variables) is the model to evaluate and checkpoint. ``world.broadcast_shared(params)`` first,
    so every replica and the center start equal.
    """

    def __init__(self, world: Any, params: Sequence[SharedVariable], period: int = 10,
                 moving_rate: float = 0.9, mode: str = "synchronous") -> None:
        if mode not in MODES:
            raise ValueError(f"ElasticAveraging: mode must be one of {MODES}, got {mode!r}")
        if not isinstance(period, int) or period < 1:
            raise ValueError(f"ElasticAveraging: period must be a positive number of steps, got {period!r}")
        if not 0 < moving_rate <= 1:
            raise ValueError(f"ElasticAveraging: moving_rate must be in (0, 1], got {moving_rate!r}")
        self.world = world
        self.params = list(params)
        self.period = period
        self.alpha = moving_rate / world.size
        self.center = [shared(np.array(p.get_value()), name=f"{p.name or 'param'}_center") for p in self.params]
        self.steps = 0
        self.mode = mode
        if mode == "asynchronous":
            flat = np.concatenate([p.get_value(borrow=True).reshape(-1).astype(np.float64) for p in self.params])
            self._window = world.communicator.elastic_center(flat)
            return
        diffs = [self.alpha * (x - c) for x, c in zip(self.params, self.center)]
        summed = world.allreduce(diffs, op="sum")
        updates = [(x, x - d) for x, d in zip(self.params, diffs)]
        updates += [(c, c + s) for c, s in zip(self.center, summed)]
        self._exchange = function([], [], updates=updates)

    def after_step(self) -> bool:
        """Count a training step; every ``period``-th runs the exchange. Returns whether it ran."""
        self.steps += 1
        if self.steps % self.period:
            return False
        self.exchange()
        return True

    def exchange(self) -> None:
        """Run the elastic exchange now (synchronous: all processes together; asynchronous: this
        process alone against the center)."""
        if self.mode == "synchronous":
            self._exchange()
            return
        values = [p.get_value(borrow=True) for p in self.params]
        move = self._window.exchange(np.concatenate([v.reshape(-1) for v in values]), self.alpha)
        start = 0
        for p, v in zip(self.params, values):
            part = move[start:start + v.size].reshape(v.shape)
            start += v.size
            p.set_value((v - part).astype(v.dtype))

    def read_center(self) -> list[SharedVariable]:
        """The center variables, up to date (asynchronous: read from rank 0's window now; call
        ``world.barrier()`` first for the center after every process's last exchange)."""
        if self.mode == "asynchronous":
            flat = self._window.read()
            start = 0
            for c in self.center:
                value = c.get_value(borrow=True)
                c.set_value(flat[start:start + value.size].reshape(value.shape).astype(value.dtype))
                start += value.size
        return self.center
