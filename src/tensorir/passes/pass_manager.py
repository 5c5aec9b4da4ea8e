"""Passes and the pass manager.

A pass is a small class with a CLI ``name``, a one-line ``summary`` and options as dataclass
fields; ``run(func)`` transforms one ``func.func`` in place and returns whether it changed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from tensorir.dialects.ir import Module, Operation
from tensorir.dialects.verifier import verify


@dataclass
class Pass:
    """Base of every pass. Subclasses set ``name`` and ``summary`` and implement ``run``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, func: Operation) -> bool:
        raise NotImplementedError

    def run_module(self, module: Module) -> bool:
        changed = False
        for func in module.functions:
            changed |= self.run(func)
        return changed


@dataclass
class PassTiming:
    name: str
    seconds: float
    changed: bool


@dataclass
class PassManager:
    """Runs passes in order; optional verification and IR printing after each pass."""

    passes: Sequence[Pass] = ()
    verify_each: bool = False
    after_pass: Callable[[Pass, Module], None] | None = None
    timings: list[PassTiming] = field(default_factory=list)

    def run(self, module: Module) -> Module:
        for p in self.passes:
            start = time.perf_counter()
            changed = p.run_module(module)
            self.timings.append(PassTiming(p.name, time.perf_counter() - start, changed))
            if self.verify_each:
                verify(module)
            if self.after_pass is not None:
                self.after_pass(p, module)
        return module
