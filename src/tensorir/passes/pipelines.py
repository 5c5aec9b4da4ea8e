"""The ordered pass lists of each optimization level, read top to bottom.

- ``None``: no rewrites (the graph exactly as built; ``tir.grad`` is still expanded, since nothing
  can run it otherwise).
- ``'fast_compile'``: autodiff, canonicalize, cse, stabilize, dce, schedule-collectives (stabilize because Theano's
  guarantee that a cost like ``log(1 + exp(x))`` stays finite holds at every level that rewrites;
  it is a cheap pattern pass).
- ``'fast_run'``: everything: autodiff; canonicalize and cse to a small normal form; stabilize
  before anything could fuse away the patterns it looks for; canonicalize again (stabilize leaves
  negations and casts); the scan rewrites on the clean graph (unused outputs dropped first, so
  that no work is moved out for them; independent loops merged while their sequences are still
  the user's, and pruned again since merging leaves duplicated inputs; invariants hoisted; the
  backward loops' products read from their forward loops; per-step work on sequences and sums
  carried through loops moved out; results read at their last rows kept short; cse to merge what
  several loops now compute outside); branches of ifs reuse what the enclosing block computes (after
  cse, so equal values outside are one op); specialize and blas on the clean graph; cse to merge what
  they built; fuse elementwise groups; allreduces split into starts and waits and scheduled apart
  (on the fused ops, which are what runs); memory (in-place) last, since it annotates the final ops; dce throughout
  the patterns' driver and once at the end.

``fast_math`` lets canonicalize apply identities that hold for finite values only (``x - x -> 0``);
without it no rewrite changes how nan and inf propagate.
"""

from __future__ import annotations

from tensorir.dialects.ir import Module
from tensorir.passes.blas import BlasPass
from tensorir.passes.branch_reuse import BranchReusePass
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass
from tensorir.passes.dce import DCEPass
from tensorir.passes.fuse import FusePass
from tensorir.passes.memory import MemoryPass
from tensorir.passes.pass_manager import Pass, PassManager
from tensorir.passes.registry import PASSES
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

LEVELS = ("fast_run", "fast_compile", None)


def _autodiff() -> list[Pass]:
    cls = PASSES.get("autodiff")
    return [cls()] if cls is not None else []


def _scan_rewrites(fast_math: bool) -> list[Pass]:
    """The loop rewrites of ``'fast_run'``, in order (the module docstring says why this order)."""
    return [
        ScanPrunePass(),
        ScanMergePass(),
        ScanPrunePass(),
        ScanHoistPass(),
        ScanReuseForwardPass(),
        ScanPushOutSequencesPass(),
        ScanPushOutAccumulatorsPass(),
        ScanSaveMemoryPass(),
        CSEPass(),
        CanonicalizePass(fast_math=fast_math),
    ]


def pipeline(level: str | None, fast_math: bool = False) -> list[Pass]:
    """Passes of ``'fast_run'``, ``'fast_compile'`` or None (no rewrites); ``fast_math``: see the
    module docstring."""
    if level is None:
        return _autodiff()
    if level == "fast_compile":
        return [*_autodiff(), CanonicalizePass(fast_math=fast_math), CSEPass(), StabilizePass(), DCEPass(),
                ScheduleCollectivesPass()]
    if level == "fast_run":
        return [
            *_autodiff(),
            CanonicalizePass(fast_math=fast_math),
            CSEPass(),
            StabilizePass(),
            CanonicalizePass(fast_math=fast_math),
            *_scan_rewrites(fast_math),
            BranchReusePass(),
            SpecializePass(),
            BlasPass(),
            CSEPass(),
            FusePass(),
            DCEPass(),
            ScheduleCollectivesPass(),
            MemoryPass(),
        ]
    raise ValueError(f"unknown optimization level {level!r}; use 'fast_run', 'fast_compile' or None")


def run_pipeline(module: Module, level: str | None, verify_each: bool = False, fast_math: bool = False) -> PassManager:
    pm = PassManager(pipeline(level, fast_math), verify_each=verify_each)
    pm.run(module)
    return pm
