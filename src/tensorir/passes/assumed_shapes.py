"""Shapes under an assumption checked at each call: dynamic dims of a function's arguments that
meet in an elementwise op are equal (no size-1 dim is broadcast at run time).

tensorir broadcasts like NumPy, so a dim known only at run time may be 1 and broadcast; the
rewrites' shape proofs (``passes/matching.py``) must then treat ``x`` of shape ``(?, ?)`` and
``x * y`` as possibly of different shapes, and a gradient keeps its ``sum_to(g, x * y)``: a
reduction that is the identity in nearly every program, that blocks fusion and that keeps
``x * y`` alive only for its shape. PyTensor forbids such broadcasting; JAX traces each shape.
Here a function is compiled under the assumption, the equalities the rewrites relied on are
collected as a guard over the arguments' shapes (:class:`ShapeGuard`), and a call whose
arguments break it runs the function compiled without the assumption
(``runtime/guarded_executor.py``).

Each dim of a value is an ``int`` (static), a :class:`DimClass` (argument dims assumed equal,
found by union-find) or ``None`` (made by an op whose shape rule is not followed here: never
equal to anything but itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tensorir.dialects.ir import Operation, Value

__all__ = ["AssumedShapes", "DimClass", "ShapeGuard", "active", "assuming"]


@dataclass(eq=False)
class DimClass:
    """Argument dims assumed equal: ``(argument index, axis)`` pairs and the static size one of
    the merged dims had (``size``), if any."""

    members: list[tuple[int, int]] = field(default_factory=list)
    size: int | None = None
    parent: DimClass | None = None
    #: two different static sizes met: the program fails there anyway, nothing is assumed.
    conflict: bool = False

    def root(self) -> DimClass:
        c = self
        while c.parent is not None:
            c = c.parent
        return c


@dataclass(frozen=True)
class ShapeGuard:
    """What a call's arguments must satisfy for the assumed compile to be right: groups of
    ``(argument, axis)`` of equal size, each with the size it must have, if static."""

    groups: tuple[tuple[tuple[tuple[int, int], ...], int | None], ...]
    #: a proof used a class that later met two different static sizes: no call may trust it.
    never: bool = False

    def source(self) -> str:
        """A Python expression over ``a`` (the argument arrays) true when the guard holds."""
        if self.never:
            return "False"
        terms: list[str] = []
        for members, size in self.groups:
            dims = [f"a[{i}].shape[{axis}]" for i, axis in members]
            if size is not None:
                terms.extend(f"{d} == {size}" for d in dims)
            else:
                terms.extend(f"{dims[0]} == {d}" for d in dims[1:])
        return " and ".join(terms) or "True"

    def holds(self, arrays: Sequence[object]) -> bool:
        if self.never:
            return False
        for members, size in self.groups:
            sizes = {arrays[i].shape[axis] for i, axis in members}  # type: ignore[attr-defined]
            if len(sizes) != 1 or (size is not None and size not in sizes):
                return False
        return True


class AssumedShapes:
    """Dims of the values of ``func`` under the assumption, and the classes a proof used."""

    def __init__(self, func: Operation) -> None:
        self._dims: dict[Value, tuple[object, ...]] = {}
        self._used: list[DimClass] = []
        for k, arg in enumerate(func.regions[0].block.arguments):
            self._dims[arg] = tuple(d if d is not None else DimClass([(k, axis)])
                                    for axis, d in enumerate(arg.type.shape))

    # -- dims ---------------------------------------------------------------------------------
    def dims(self, v: Value) -> tuple[object, ...]:
        known = self._dims.get(v)
        if known is None:
            known = self._dims[v] = self._infer(v)
        return known

    def _infer(self, v: Value) -> tuple[object, ...]:
        op = v.owner
        t = v.type
        if op is None or len(op.results) != 1 or not op.operands:
            return tuple(t.shape)
        rule = _RULES.get(op.name)
        if rule is None and not op.regions:
            rule = _FAMILY_RULES.get(op.opdef.fusion)
        found = rule(self, op) if rule is not None else None
        if found is None or len(found) != t.ndim:
            return tuple(t.shape)
        # a static dim of the type wins (a rule may not know it)
        return tuple(s if s is not None else d for s, d in zip(t.shape, found))

    def broadcast(self, values: Sequence[Value]) -> tuple[object, ...]:
        """The dims of NumPy's broadcast of ``values``, merging the classes that meet."""
        ndim = max(v.type.ndim for v in values)
        out: list[object] = []
        for axis in range(ndim):
            seen = [self.dims(v)[axis - ndim + v.type.ndim] for v in values if axis - ndim + v.type.ndim >= 0]
            out.append(self._meet([d for d in seen if d != 1]))
        return tuple(out)

    def _meet(self, dims: list[object]) -> object:
        if not dims:
            return 1
        if any(d is None for d in dims):
            return dims[0] if all(d is dims[0] for d in dims) else None
        sizes = {d for d in dims if isinstance(d, int)}
        classes = [d.root() for d in dims if isinstance(d, DimClass)]
        if len(sizes) > 1:
            return None
        if not classes:
            return sizes.pop()
        first = classes[0]
        for c in classes[1:]:
            if c is not first:
                c.parent = first
                first.members.extend(c.members)
                first.conflict |= c.conflict
                if c.size is not None:
                    first.conflict |= first.size is not None and first.size != c.size
                    first.size = c.size
        if sizes:
            size = sizes.pop()
            first.conflict |= first.size is not None and first.size != size
            first.size = size
        if first.conflict:
            return None
        return first.size if first.size is not None else first

    # -- proofs -------------------------------------------------------------------------------
    def _same_dim(self, p: object, q: object) -> bool:
        p, q = _root(p), _root(q)
        if p is None or q is None or _conflicted(p) or _conflicted(q):
            return False
        if p is q:
            if isinstance(p, DimClass):
                self._used.append(p)
            return True
        size = _size_of(p)
        if size is None or size != _size_of(q):
            return False
        self._used.extend(d for d in (p, q) if isinstance(d, DimClass))
        return True

    def same_shape(self, a: Value, b: Value) -> bool:
        """Whether ``a`` and ``b`` have one shape under the assumption (noting the classes used)."""
        if a.type.ndim != b.type.ndim:
            return False
        mark = len(self._used)
        if all(self._same_dim(p, q) for p, q in zip(self.dims(a), self.dims(b))):
            return True
        del self._used[mark:]
        return False

    def broadcasts_into(self, small: Value, big: Value) -> bool:
        """Whether broadcasting ``small`` against ``big`` gives ``big``'s shape under the assumption."""
        if small.type.ndim > big.type.ndim:
            return False
        mark = len(self._used)
        lead = big.type.ndim - small.type.ndim
        bd = self.dims(big)
        if all(p == 1 or self._same_dim(p, bd[lead + k]) for k, p in enumerate(self.dims(small))):
            return True
        del self._used[mark:]
        return False

    def guard(self) -> ShapeGuard | None:
        """The equalities the proofs used, over the arguments; None when they used none."""
        groups: dict[int, DimClass] = {}
        for c in self._used:
            r = c.root()
            groups[id(r)] = r
        if any(r.conflict for r in groups.values()):
            return ShapeGuard((), never=True)
        kept = tuple((tuple(sorted(set(r.members))), r.size) for r in groups.values()
                     if len(set(r.members)) > 1 or r.size is not None)
        return ShapeGuard(tuple(sorted(kept, key=lambda g: g[0]))) if kept else None


def _root(d: object) -> object:
    return d.root() if isinstance(d, DimClass) else d


def _conflicted(d: object) -> bool:
    return isinstance(d, DimClass) and d.conflict


def _size_of(d: object) -> int | None:
    """A dim's static size: its own, or its class's (assumed); None when unknown."""
    return d.size if isinstance(d, DimClass) else d  # type: ignore[return-value]


def _elementwise(facts: AssumedShapes, op: Operation) -> tuple[object, ...]:
    return facts.broadcast(op.operands)


def _fused(facts: AssumedShapes, op: Operation) -> tuple[object, ...] | None:
    dims = facts.broadcast(op.operands)
    if op.attributes["reduce"] is None:
        return dims
    return _reduced(dims, op.attributes["axis"], op.attributes["keepdims"])


def _reduction(facts: AssumedShapes, op: Operation) -> tuple[object, ...] | None:
    if "axis" not in op.attributes or op.operands[0].type.ndim == 0:
        return None
    return _reduced(facts.dims(op.operands[0]), op.attributes.get("axis"), op.attributes.get("keepdims", False))


def _reduced(dims: tuple[object, ...], axis: object, keepdims: bool) -> tuple[object, ...]:
    axes = set(range(len(dims))) if axis is None else set(axis)  # type: ignore[call-overload]
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(dims))
    return tuple(d for k, d in enumerate(dims) if k not in axes)


def _gemm(facts: AssumedShapes, op: Operation) -> tuple[object, ...] | None:
    c, _, a, b, _ = op.operands
    if a.type.ndim != 2 or b.type.ndim != 2:
        return None
    rows = facts.dims(a)[1 if op.attributes["trans_a"] else 0]
    cols = facts.dims(b)[0 if op.attributes["trans_b"] else 1]
    if c.type.ndim == 0:
        return rows, cols
    # the accumulated operand broadcasts into the product's shape
    cd = facts.dims(c)
    lead = 2 - c.type.ndim
    return tuple(facts._meet([d for d in (p, cd[k - lead] if k >= lead else 1) if d != 1])
                 for k, p in enumerate((rows, cols)))


def _dot(facts: AssumedShapes, op: Operation) -> tuple[object, ...] | None:
    a, b = (facts.dims(v) for v in op.operands)
    if len(a) > 2 or len(b) > 2:
        return None
    return a[:-1] + b[1:] if len(b) == 2 else a[:-1]


def _dimshuffle(facts: AssumedShapes, op: Operation) -> tuple[object, ...]:
    dims = facts.dims(op.operands[0])
    return tuple(1 if p == -1 else dims[p] for p in op.attributes["pattern"])


def _sum_to(facts: AssumedShapes, op: Operation) -> tuple[object, ...]:
    return facts.dims(op.operands[1])


_RULES = {
    "tir.fused": _fused,
    "tir.gemm": _gemm,
    "tir.dot": _dot,
    "tir.dimshuffle": _dimshuffle,
    "tir.sum_to": _sum_to,
}
#: Rules of whole op families (``OpDef.fusion``), for ops without one of their own.
_FAMILY_RULES = {"elementwise": _elementwise, "reduction": _reduction}

_ACTIVE: list[AssumedShapes] = []


def active() -> AssumedShapes | None:
    """The assumption the running rewrites may use, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def assuming(func: Operation) -> Iterator[AssumedShapes]:
    """Rewrites run inside may prove shapes equal under the assumption; read the guard after."""
    facts = AssumedShapes(func)
    _ACTIVE.append(facts)
    try:
        yield facts
    finally:
        _ACTIVE.pop()
