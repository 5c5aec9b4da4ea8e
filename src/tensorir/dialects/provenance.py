"""Where a gradient op comes from: the forward op whose ``vjp`` rule built it.

Autodiff builds the ops of a gradient with a :class:`GradientLocation`: the user's line that
asked for the gradient (as any op's location) plus the forward op it differentiates and that
op's own location. Rewrites keep an op's location, so a fused kernel of the backward pass
still says which forward op it belongs to, and run-time errors (the NaN guard's, the debug
mode's) can name it.
"""

from __future__ import annotations

import os

from tensorir.dialects.ir import Location, Operation

__all__ = ["GradientLocation", "describe_location", "gradient_location"]


class GradientLocation(Location):
    """A location of an op built by a ``vjp`` rule: ``forward_op`` (its name) at ``forward_location``."""

    __slots__ = ("forward_op", "forward_location")

    def __init__(self, file: str, line: int, forward_op: str, forward_location: Location | None) -> None:
        super().__init__(file, line)
        self.forward_op = forward_op
        self.forward_location = forward_location

    def __repr__(self) -> str:
        return f"GradientLocation({self.file!r}, {self.line}, {self.forward_op!r}, {self.forward_location!r})"


def gradient_location(forward: Operation, base: Location | None) -> GradientLocation | None:
    """The location of ops built while differentiating ``forward``, asked for at ``base``.

    A forward op that is itself a gradient op (a stable form built during autodiff) passes on
    its own provenance, so a chain of rules names the op the user wrote.
    """
    origin = forward.location
    name = forward.name
    if isinstance(origin, GradientLocation):
        name, origin = origin.forward_op, origin.forward_location
    if base is None:
        base = origin
    if base is None:
        return None
    return GradientLocation(base.file, base.line, name, origin)


def describe_location(op: Operation, short: bool = False) -> str:
    """``built at file:line``, with ``(part of the gradient of tir.exp built at file:line)`` for a
    gradient op; ``short``: file names without their directories (for pictures)."""
    loc = op.location
    if loc is None:
        return "built at an unknown line"
    text = f"built at {_where(loc, short)}"
    if isinstance(loc, GradientLocation):
        where = f" built at {_where(loc.forward_location, short)}" if loc.forward_location is not None else ""
        text += f" (part of the gradient of {loc.forward_op}{where})"
    return text


def _where(loc: Location, short: bool) -> str:
    return f"{os.path.basename(loc.file)}:{loc.line}" if short else str(loc)
