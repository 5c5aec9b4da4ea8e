"""W3: logistic-regression SGD step (batch 600, 784 -> 10), as in the Theano tutorial."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Workload
from benchmarks.workloads import dense_common


def make_data(quick: bool) -> dict[str, Any]:
    return dense_common.make_data(16 if quick else 600, [784, 10], lr=0.13, seed=3)


WORKLOADS = [
    Workload(
        id="W3",
        title="logistic regression training step, batch 600, 784->10, SGD lr 0.13",
        make_data=make_data,
        builders=dense_common.builders(),
        reference="numpy",
    )
]
