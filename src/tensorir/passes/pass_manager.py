"""Passes and the pass manager.

A pass is a small dataclass with a CLI ``name``, a one-line ``summary`` and its options as
dataclass fields; ``run(func)`` transforms one ``func.func`` in place and returns whether it
changed it. A ``PatternPass`` is a pass made of rewrite patterns applied by the worklist driver.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tensorir.dialects.ir import Module, Operation
from tensorir.dialects.verifier import verify
from tensorir.passes.rewriter import RewritePattern, apply_patterns


class PassOptionError(ValueError):
    """A pass option that does not exist or has a value of the wrong kind."""


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

    @classmethod
    def options(cls) -> list[dataclasses.Field[Any]]:
        return list(dataclasses.fields(cls))

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Pass:
        """An instance with options given as text (``{'max_elements': '100'}``), converted by field type."""
        fields = {f.name: f for f in cls.options()}
        kwargs: dict[str, Any] = {}
        for key, text in options.items():
            f = fields.get(key)
            if f is None:
                known = ", ".join(sorted(fields)) or "none"
                raise PassOptionError(f"pass {cls.name!r} has no option {key!r} (options: {known})")
            kwargs[key] = _convert_option(cls.name, key, text, f.type)
        return cls(**kwargs)

    def describe(self) -> str:
        """``name{opt=value ...}`` as the CLI spells it."""
        opts = " ".join(f"{f.name}={getattr(self, f.name)}" for f in self.options())
        return f"{self.name}{{{opts}}}" if opts else self.name


def _convert_option(pass_name: str, key: str, text: str, type_: Any) -> Any:
    kind = type_ if isinstance(type_, str) else getattr(type_, "__name__", str(type_))
    try:
        if kind.startswith("bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise PassOptionError(f"option {key} of pass {pass_name!r} takes a {kind}, got {text!r}") from None
    return text


@dataclass
class PatternPass(Pass):
    """A pass that applies a set of rewrite patterns to a fixed point."""

    def patterns(self) -> list[RewritePattern]:
        raise NotImplementedError

    def run(self, func: Operation) -> bool:
        return apply_patterns(func, self.patterns())


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

    def report(self) -> str:
        """One line per pass run: name, milliseconds, whether it changed the IR."""
        lines = [f"{t.name:<14} {t.seconds * 1e3:8.2f} ms{'  changed' if t.changed else ''}" for t in self.timings]
        total = sum(t.seconds for t in self.timings)
        lines.append(f"{'total':<14} {total * 1e3:8.2f} ms")
        return "\n".join(lines)
