"""``Mode``: which rewrites run and which executor runs the result (the predefined modes are
in frontend/modes.py, the checking ones in frontend/debug_modes.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tensorir.dialects.ir import Module
from tensorir.frontend.config import config
from tensorir.passes.pipelines import run_pipeline
from tensorir.runtime.allocation import reuse_large_buffers
from tensorir.runtime.executors import make_executor

__all__ = ["Mode"]


@dataclass(frozen=True)
class Mode:
    """``Mode(optimizer, linker)``: optimizer 'fast_run' | 'fast_compile' | None; linker 'native' | 'reference'."""

    optimizer: str | None = "fast_run"
    linker: str = "native"
    name: str = "custom"

    def compile(self, module: Module, shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                donations: Mapping[int, int] | None = None) -> Any:
        """The executor of ``module``'s function after this mode's rewrites; ``shape_hints``:
        likely shapes of some arguments (by index), e.g. shared variables' current values;
        ``donations``: result -> argument whose buffer it may overwrite (shared updates)."""
        run_pipeline(module, self.optimizer, fast_math=config.fast_math)
        if self.linker == "native" and config.reuse_large_buffers:
            reuse_large_buffers()
        return make_executor(
            module.functions[0],
            self.linker,
            opt_level=3 if self.optimizer == "fast_run" else 1,
            cache_dir=config.compiledir,
            num_threads=config.threads or None,
            native_loops=config.native_loops,
            native_calls=config.native_calls,
            shape_hints=shape_hints,
            donations=donations,
        )

    def including(self, *tags: str) -> Mode:
        return self

    def excluding(self, *tags: str) -> Mode:
        if "fusion" in tags or "all" in tags:
            return self
        return self
