"""Small questions rewrites ask about values: is it a constant, which op made it, do shapes agree.

Shape questions are answered from static types and conservatively: a dynamic dim is ``None``
and may be any size at run time, 1 included (NumPy broadcasting); except while a function is
compiled under the assumption of ``passes/assumed_shapes.py`` (its dynamic argument dims that
meet are equal, checked at each call), which the value-level questions here then also use.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import constant_value
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.types import TensorType
from tensorir.passes.assumed_shapes import active

__all__ = [
    "absorbs",
    "cast_to",
    "broadcasts_into",
    "constant_value",
    "defining",
    "is_constant",
    "match_commutative",
    "negate",
    "same_shape",
    "shapes_may_agree",
    "scalar_constant",
    "shape_chain",
    "shape_source",
    "shapes_meet",
    "splat",
    "value_broadcasts_into",
]


def defining(v: Value, *names: str) -> Operation | None:
    """The op defining ``v`` if its name is one of ``names`` (any name when none is given)."""
    op = v.owner
    if op is None or (names and op.name not in names):
        return None
    return op


def scalar_constant(v: Value) -> float | None:
    """The value of a constant whose elements are all equal (a splat), as a Python number."""
    arr = constant_value(v)
    if arr is None or arr.size == 0 or arr.dtype.kind not in "biuf":
        return None
    first = arr.flat[0]
    if arr.size > 1 and not np.all(arr == first):
        return None
    return first.item()


def is_constant(v: Value, value: float) -> bool:
    """Whether ``v`` is a constant with every element equal to ``value``."""
    c = scalar_constant(v)
    return c is not None and c == value


def broadcasts_into(small: TensorType, big: TensorType) -> bool:
    """Whether broadcasting ``small`` against ``big`` always gives ``big``'s shape.

    True when every dim of ``small`` (aligned on the right) is 1 or provably equal to ``big``'s.
    """
    if small.ndim > big.ndim:
        return False
    lead = big.ndim - small.ndim
    for k, d in enumerate(small.shape):
        if d == 1:
            continue
        b = big.shape[lead + k]
        if d is None or b is None or d != b:
            return False
    return True


def same_shape(a: Value, b: Value) -> bool:
    """Whether two values provably have the same shape (same value, or equal static shapes)."""
    if a is b or (a.type.is_static and a.type.shape == b.type.shape):
        return True
    facts = active()
    return facts is not None and facts.same_shape(a, b)


def value_broadcasts_into(small: Value, big: Value) -> bool:
    """:func:`broadcasts_into` for two values (under the call-checked assumption, if active)."""
    if broadcasts_into(small.type, big.type):
        return True
    facts = active()
    return facts is not None and facts.broadcasts_into(small, big)


def shapes_may_agree(a: Value, b: Value) -> bool:
    """Whether two values of one rank may have equal shapes at run time (each dim equal or unknown).

    For operands an op already requires to be equal at run time, such as a target and the
    distribution it is compared with, where one is a constant of static shape.
    """
    return a.type.ndim == b.type.ndim and all(
        p is None or q is None or p == q for p, q in zip(a.type.shape, b.type.shape)
    )


def match_commutative(op: Operation, name: str) -> tuple[Operation, Value] | None:
    """For a binary commutative ``op``: an operand defined by ``name`` and the other operand."""
    x, y = op.operands
    inner = defining(x, name)
    if inner is not None:
        return inner, y
    inner = defining(y, name)
    if inner is not None:
        return inner, x
    return None


def negate(b: Builder, v: Value) -> Value:
    """``-v`` without piling negations up: ``-(-x)`` is ``x``, and ``-c`` of a float constant is a
    constant (a rewrite that runs after constant folding would otherwise leave a step for it)."""
    inner = defining(v, "tir.neg")
    if inner is not None:
        return inner.operands[0]
    value = constant_value(v)
    if value is not None and value.dtype.kind == "f":
        return b.constant(np.negative(value))
    return b.op("tir.neg", v)


def splat(b: Builder, value: float, like: Value, dtype: str | None = None) -> Value:
    """A tensor of ``like``'s shape filled with ``value`` (a constant when the shape is static)."""
    dtype = dtype or like.type.dtype
    if like.type.is_static and int(np.prod(like.type.shape)) <= 1:
        return b.constant(np.full(like.type.shape, value, dtype=dtype))
    scalar = b.constant(np.asarray(value, dtype=dtype))
    return b.op("tir.broadcast_like", scalar, like)


def cast_to(b: Builder, v: Value, dtype: str) -> Value:
    return v if v.type.dtype == dtype else b.op("tir.cast", v, dtype=dtype)


def absorbs(x: Value, others: Sequence[Value]) -> bool:
    """Whether broadcasting ``x`` with ``others`` provably leaves ``x``'s shape unchanged."""
    return all(value_broadcasts_into(o, x) for o in others)


#: How far back two values' shape chains are followed to prove them of one shape (bounded: the
#: proof runs for every group root of a long elementwise chain).
_SAME_SHAPE_DEPTH = 4


def shape_chain(v: Value, depth: int = _SAME_SHAPE_DEPTH) -> Iterator[Value]:
    """``v``, then earlier values provably of its shape: through elementwise ops, an operand that
    every other operand broadcasts into, or provably has the shape of (their shape chains meet
    within ``depth`` steps: ``x < 0`` and ``0.5 * x`` both have ``x``'s), has the result's shape."""
    yield v
    while True:
        op = v.owner
        if op is None or op.opdef.fusion != "elementwise" or op.regions or not op.operands:
            return
        for o in op.operands:
            if o.type.ndim == v.type.ndim and all(
                    value_broadcasts_into(w, o) or (depth > 0 and shapes_meet(w, o, depth - 1))
                    for w in op.operands if w is not o):
                v = o
                yield v
                break
        else:
            return


def shapes_meet(a: Value, b: Value, depth: int = _SAME_SHAPE_DEPTH) -> bool:
    """Whether ``a`` and ``b`` are provably of one shape: their shape chains (``depth`` steps
    back) meet."""
    if a.type.ndim != b.type.ndim:
        return False
    facts = active()
    if facts is not None and facts.same_shape(a, b):
        return True
    ids = {id(x) for x in itertools.islice(shape_chain(a, depth), depth + 1)}
    return any(id(x) in ids for x in itertools.islice(shape_chain(b, depth), depth + 1))


def shape_source(v: Value) -> Value:
    """The earliest value of :func:`shape_chain`."""
    return list(shape_chain(v))[-1]
