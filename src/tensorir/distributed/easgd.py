"""Elastic averaging SGD (EASGD; Zhang, Choromanska and LeCun, NIPS 2015), Platoon's second mode.

Each process trains its own copy ``x_i`` of the parameters with no communication; every
``period`` steps it is pulled toward a center ``c`` and the center toward it (the elastic force):

    d_i = alpha * (x_i - c)
    x_i <- x_i - d_i
    c   <- c + sum_i d_i                  (one allreduce of the d_i)

with ``alpha = moving_rate / N`` (the paper's beta = 0.9 by default). Every process keeps a
replica of the center, updated by the same allreduce, so no server process is needed. The
exchange is a compiled function whose sum is a ``tir.allreduce`` step.

This is the synchronous round of EASGD: the exchange is a collective every ``period`` steps.
Platoon's asynchronous version lets each worker meet a central controller whenever it is ready;
that needs a server process or MPI one-sided windows and is not built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.frontend.function import function
from tensorir.frontend.shared import SharedVariable, shared

__all__ = ["ElasticAveraging"]


class ElasticAveraging:
    """EASGD's exchange for ``params`` over ``world``, every ``period`` training steps.

    Call :meth:`after_step` after each training step; the center (``center``, shared variables)
    is the model to evaluate and checkpoint. ``world.broadcast_shared(params)`` first, so every
    replica and the center start equal.
    """

    def __init__(self, world: Any, params: Sequence[SharedVariable], period: int = 10,
                 moving_rate: float = 0.9) -> None:
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
        self._exchange()
        return True

    def exchange(self) -> None:
        """Run the elastic exchange now (all processes together)."""
        self._exchange()
