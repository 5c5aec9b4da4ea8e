"""W4: MLP 784-500-10 tanh SGD step (batch 128), as in the Theano tutorial (without L1/L2 terms)."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Workload
from benchmarks.workloads import dense_common


def make_data(quick: bool) -> dict[str, Any]:
    return dense_common.make_data(8 if quick else 128, [784, 500, 10], lr=0.01, seed=4)


WORKLOADS = [
    Workload(
        id="W4",
        title="MLP 784-500-10 tanh training step, batch 128, SGD lr 0.01",
        make_data=make_data,
        builders=dense_common.builders(),
        reference="numpy",
    )
]
