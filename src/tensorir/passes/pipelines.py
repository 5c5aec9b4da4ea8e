"""The ordered pass lists of each optimization level, read top to bottom."""

from __future__ import annotations

from tensorir.dialects.ir import Module
from tensorir.passes.pass_manager import Pass, PassManager


def pipeline(level: str | None) -> list[Pass]:
    """Passes of ``'fast_run'``, ``'fast_compile'`` or None (no rewrites)."""
    if level is None:
        return []
    if level == "fast_compile":
        return []
    if level == "fast_run":
        return []
    raise ValueError(f"unknown optimization level {level!r}; use 'fast_run', 'fast_compile' or None")


def run_pipeline(module: Module, level: str | None, verify_each: bool = False) -> PassManager:
    pm = PassManager(pipeline(level), verify_each=verify_each)
    pm.run(module)
    return pm
