"""The ordered pass lists of each optimization level, read top to bottom.

- ``None``: no rewrites (the graph exactly as built; ``tir.grad`` is still expanded, since nothing
  can run it otherwise).
- ``'fast_compile'``: autodiff, canonicalize, cse, dce.
- ``'fast_run'``: everything: autodiff; canonicalize and cse to a small normal form; stabilize
  before anything could fuse away the patterns it looks for; canonicalize again (stabilize leaves
  negations and casts); specialize and blas on the clean graph; cse to merge what they built;
  fuse elementwise groups; memory (in-place) last, since it annotates the final ops; dce throughout
  the patterns' driver and once at the end.
"""

from __future__ import annotations

from tensorir.dialects.ir import Module
from tensorir.passes.blas import BlasPass
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass
from tensorir.passes.dce import DCEPass
from tensorir.passes.fuse import FusePass
from tensorir.passes.memory import MemoryPass
from tensorir.passes.pass_manager import Pass, PassManager
from tensorir.passes.registry import PASSES
from tensorir.passes.specialize import SpecializePass
from tensorir.passes.stabilize import StabilizePass

LEVELS = ("fast_run", "fast_compile", None)


def _autodiff() -> list[Pass]:
    cls = PASSES.get("autodiff")
    return [cls()] if cls is not None else []


def pipeline(level: str | None) -> list[Pass]:
    """Passes of ``'fast_run'``, ``'fast_compile'`` or None (no rewrites)."""
    if level is None:
        return _autodiff()
    if level == "fast_compile":
        return [*_autodiff(), CanonicalizePass(), CSEPass(), DCEPass()]
    if level == "fast_run":
        return [
            *_autodiff(),
            CanonicalizePass(),
            CSEPass(),
            StabilizePass(),
            CanonicalizePass(),
            SpecializePass(),
            BlasPass(),
            CSEPass(),
            FusePass(),
            DCEPass(),
            MemoryPass(),
        ]
    raise ValueError(f"unknown optimization level {level!r}; use 'fast_run', 'fast_compile' or None")


def run_pipeline(module: Module, level: str | None, verify_each: bool = False) -> PassManager:
    pm = PassManager(pipeline(level), verify_each=verify_each)
    pm.run(module)
    return pm
