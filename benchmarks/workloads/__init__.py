"""One module per workload; each exposes ``WORKLOADS``, a list of ``harness.Workload``."""

from __future__ import annotations

from benchmarks.harness import Workload


def all_workloads() -> list[Workload]:
    # Imported here, not at module level, so that importing the package stays cheap.
    from benchmarks.workloads import (
        families,
        w1_elementwise,
        w2_softmax,
        w3_logreg,
        w4_mlp,
        w5_lenet,
        w6_lstm,
        w7_compile,
        w8_overhead,
        w9_ir_scaling,
        w10_small_rnn,
    )

    mods = (w1_elementwise, w2_softmax, w3_logreg, w4_mlp, w5_lenet, w6_lstm, w7_compile, w8_overhead,
            w9_ir_scaling, w10_small_rnn, families)
    return [wl for m in mods for wl in m.WORKLOADS]
