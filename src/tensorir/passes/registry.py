"""The one registry of passes: CLI name -> pass class, listed explicitly (no registration on import)."""

from __future__ import annotations

from tensorir.passes.blas import BlasPass
from tensorir.passes.branch_reuse import BranchReusePass
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass
from tensorir.passes.dce import DCEPass
from tensorir.passes.fold import FoldPass
from tensorir.passes.fuse import FusePass
from tensorir.passes.memory import MemoryPass
from tensorir.passes.pass_manager import Pass
from tensorir.passes.scan_hoist import ScanHoistPass
from tensorir.passes.scan_merge import ScanMergePass
from tensorir.passes.scan_prune import ScanPrunePass
from tensorir.passes.scan_push_accumulators import ScanPushOutAccumulatorsPass
from tensorir.passes.scan_push_sequences import ScanPushOutSequencesPass
from tensorir.passes.scan_reuse_forward import ScanReuseForwardPass
from tensorir.passes.scan_save_memory import ScanSaveMemoryPass
from tensorir.passes.schedule_collectives import ScheduleCollectivesPass
from tensorir.passes.specialize import SpecializePass
from tensorir.passes.stabilize import StabilizePass


def _autodiff() -> list[type[Pass]]:
    # passes/autodiff.py is written alongside; list its pass once it exposes one.
    try:
        from tensorir.passes.autodiff import AutodiffPass
    except ImportError:
        return []
    return [AutodiffPass]


PASSES: dict[str, type[Pass]] = {
    p.name: p
    for p in [
        *_autodiff(),
        CanonicalizePass,
        CSEPass,
        FoldPass,
        DCEPass,
        StabilizePass,
        ScanPrunePass,
        ScanHoistPass,
        ScanReuseForwardPass,
        ScanPushOutSequencesPass,
        ScanPushOutAccumulatorsPass,
        ScanSaveMemoryPass,
        ScanMergePass,
        BranchReusePass,
        SpecializePass,
        BlasPass,
        FusePass,
        ScheduleCollectivesPass,
        MemoryPass,
    ]
}


def lookup_pass(name: str) -> type[Pass]:
    """The pass class called ``name``; KeyError names the known passes."""
    try:
        return PASSES[name]
    except KeyError:
        raise KeyError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASSES))}") from None
