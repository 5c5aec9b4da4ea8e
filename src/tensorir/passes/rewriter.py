"""Pattern rewrites and the worklist driver that applies them.

A ``RewritePattern`` is a one-method class: ``match_and_rewrite(op, rewriter)`` looks at one
operation and, when its pattern matches, builds the replacement with ``rewriter.builder(op)`` and
calls ``rewriter.replace(op, values)``; it returns whether it changed the IR. ``ops`` names the
operations it is tried on (empty: every operation).

``apply_patterns`` runs a set of patterns to a fixed point with a worklist: every op starts on
the list; after a rewrite, the new ops and the users of the replaced values go back on it; pure
ops left without users are erased on the way (so a rewrite never leaves dead code behind).
Everything is iterative, so graphs of any size and depth are fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Block, Operation, Value
from tensorir.dialects.opdef import OpDef, types_compatible


class RewriteError(Exception):
    """A rewrite produced a replacement of the wrong type (a bug in the rewrite)."""


class RecordingBuilder(Builder):
    """A builder inserting before an op that tells the rewriter about every op it creates."""

    def __init__(self, rewriter: PatternRewriter, anchor: Operation) -> None:
        assert anchor.parent is not None, "op is not in a block"
        super().__init__(
            anchor.parent,
            anchor.parent.index_of(anchor),
            location=anchor.location,
            registry=rewriter.registry,
        )
        self.rewriter = rewriter

    def create(
        self,
        opdef: OpDef,
        operands: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        regions: Sequence[Any] = (),
        result_types: Sequence[Any] | None = None,
    ) -> Operation:
        op = super().create(opdef, operands, attrs, regions, result_types)
        self.rewriter.notify_created(op)
        return op


class PatternRewriter:
    """What a pattern may do to the IR; keeps the driver's worklist up to date."""

    def __init__(self, registry: Mapping[str, OpDef] | None = None) -> None:
        if registry is None:
            from tensorir.dialects.registry import OPS

            registry = OPS
        self.registry = registry
        self.worklist: list[Operation] = []
        self.queued: set[int] = set()
        self.changed = False

    def has_op(self, name: str) -> bool:
        """Whether the op ``name`` is declared (rewrites to ops of families still being written skip)."""
        return name in self.registry

    def push(self, op: Operation | None) -> None:
        if op is not None and id(op) not in self.queued:
            self.queued.add(id(op))
            self.worklist.append(op)

    def notify_created(self, op: Operation) -> None:
        self.changed = True
        self.push(op)

    def builder(self, anchor: Operation) -> RecordingBuilder:
        """A builder inserting right before ``anchor`` (with its location)."""
        return RecordingBuilder(self, anchor)

    def replace_value(self, old: Value, new: Value) -> None:
        """Point every use of ``old`` at ``new`` (same dtype and rank; static dims must agree)."""
        if old is new:
            return
        if not types_compatible(old.type, new.type):
            raise RewriteError(f"replacing a value of type {old.type} by one of type {new.type}")
        for user in old.users:
            self.push(user)
        old.replace_all_uses_with(new)
        self.changed = True
        if new.owner is not None:
            self.push(new.owner)

    def replace(self, op: Operation, new_values: Sequence[Value]) -> None:
        """Replace the results of ``op`` by ``new_values`` and erase ``op``."""
        if len(new_values) != len(op.results):
            raise RewriteError(f"{op.name} has {len(op.results)} results, got {len(new_values)} replacements")
        for old, new in zip(op.results, new_values):
            self.replace_value(old, new)
        self.erase(op)

    def erase(self, op: Operation) -> None:
        """Erase an op whose results are unused; its operands' owners are revisited (may be dead now)."""
        owners = [v.owner for v in op.operands]
        op.erase()
        self.changed = True
        for owner in owners:
            self.push(owner)


class RewritePattern:
    """One rewrite: ``match_and_rewrite`` returns True when it changed the IR."""

    #: op names this pattern is tried on; empty means every op.
    ops: ClassVar[tuple[str, ...]] = ()

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        raise NotImplementedError


def is_dead(op: Operation) -> bool:
    """A pure op none of whose results is used (terminators and functions are never pure)."""
    # A loop rather than ``all(...)`` over a generator: the driver asks this of every op it pops.
    if not op.opdef.pure:
        return False
    for r in op.results:
        if r.uses:
            return False
    return True


def _ops_in_program_order(root: Operation | Block) -> list[Operation]:
    """The ops under ``root`` (not ``root`` itself), pre-order as :func:`walk` yields them.

    Same order as ``walk`` without its generator and per-item type tests: the driver collects
    every op of the function once per pattern pass, about a dozen times per ``function``.
    """
    out: list[Operation] = []
    if isinstance(root, Operation):
        stack = [(blk.operations, 0) for region in reversed(root.regions) for blk in reversed(region.blocks)]
    else:
        stack = [(root.operations, 0)]
    while stack:
        ops, i = stack.pop()
        n = len(ops)
        while i < n:
            op = ops[i]
            i += 1
            out.append(op)
            if op.regions:  # its body comes next, then the rest of this block
                stack.append((ops, i))
                stack.extend((blk.operations, 0) for region in reversed(op.regions) for blk in reversed(region.blocks))
                break
    return out


def apply_patterns(
    root: Operation | Block,
    patterns: Iterable[RewritePattern],
    max_rewrites: int | None = None,
    registry: Mapping[str, OpDef] | None = None,
) -> bool:
    """Apply ``patterns`` under ``root`` until none matches; returns whether anything changed.

    ``max_rewrites`` (default: 20 per op, at least 10,000) bounds the work so that two rewrites
    undoing each other cannot loop forever.
    """
    by_name: dict[str, list[RewritePattern]] = {}
    generic: list[RewritePattern] = []
    for p in patterns:
        if p.ops:
            for name in p.ops:
                by_name.setdefault(name, []).append(p)
        else:
            generic.append(p)
    ops = [op for op in _ops_in_program_order(root) if op.parent is not None]
    # Most passes of a pipeline find nothing to do (the loop rewrites on a graph without loops):
    # when no op is named by a pattern and none is dead, the worklist below would only pop every
    # op and change nothing, so answer at once.
    if not generic and not any(op.opdef.name in by_name or is_dead(op) for op in ops):
        return False
    rewriter = PatternRewriter(registry)
    # The worklist pops from the end: reversed, so ops are first visited in program order (what
    # pushing each op in reverse order would build; the ops are distinct).
    worklist = rewriter.worklist
    worklist.extend(reversed(ops))
    queued = rewriter.queued
    queued.update(id(op) for op in ops)
    budget = max_rewrites if max_rewrites is not None else max(10_000, 20 * len(ops))
    rewrites = 0
    # Candidate patterns by op name (the named ones, then the generic ones), built once per name.
    candidates_of: dict[str, list[RewritePattern]] = {}
    while worklist:
        op = worklist.pop()
        queued.discard(id(op))
        if op.parent is None:
            continue  # erased meanwhile
        if is_dead(op):
            rewriter.erase(op)
            continue
        name = op.opdef.name
        candidates = candidates_of.get(name)
        if candidates is None:
            candidates = candidates_of[name] = by_name.get(name, []) + generic
        for pattern in candidates:
            if pattern.match_and_rewrite(op, rewriter):
                rewrites += 1
                if op.parent is not None:
                    rewriter.push(op)  # changed in place: try again
                break
        if rewrites >= budget:
            break
    return rewriter.changed
