"""Common subexpression elimination (Theano's MergeOptimizer).

Two pure ops are the same computation when they have the same op, the same operands (the same
SSA values), equal attributes and the same result types; two constants are the same when their
arrays have the same dtype, shape and bytes. The later op's results are replaced by the earlier
one's. Visiting ops in program order merges whole duplicated subgraphs in one sweep, since the
operands of an op are already merged when it is visited. Nested regions see the ops of the
regions around them (a scoped table); ops with regions are never merged themselves.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.dialects.ir import Block, Operation
from tensorir.dialects.types import TensorType
from tensorir.passes.pass_manager import Pass

#: Exact types whose key is ``(type name, value)`` (the last case of :func:`freeze`), tested
#: first: most attribute values are one of these, and CSE freezes every op's attributes.
_PLAIN_TYPES = frozenset({bool, int, str, TensorType, type(None)})


def freeze(value: Any) -> Hashable:
    """A hashable key for an attribute value; arrays compare by dtype, shape and bytes."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return (kind.__name__, value)
    if kind is tuple:
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple | list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, float) and value != value:
        return ("nan",)
    if isinstance(value, bool | int | float | str | TensorType | type(None) | np.generic):
        return (type(value).__name__, value)
    return ("id", id(value))


def op_key(op: Operation) -> Hashable:
    """What makes two ops the same computation."""
    attributes = op.attributes
    attrs = tuple(sorted((k, freeze(v)) for k, v in attributes.items())) if attributes else ()
    return (id(op.opdef), tuple(id(v) for v in op.operands), attrs, tuple(r.type for r in op.results))


def eliminate_common_subexpressions(root: Operation) -> bool:
    changed = False
    # (block, table of the enclosing scopes)
    stack: list[tuple[Block, dict[Hashable, Operation]]] = [
        (blk, {}) for region in root.regions for blk in region.blocks
    ]
    while stack:
        block, outer = stack.pop()
        table = dict(outer)
        keep: list[Operation] = []
        for op in block.operations:
            if op.regions:
                keep.append(op)
                # tir regions are isolated from above (bodies read only their block arguments),
                # so a body must not be merged with values of the enclosing block.
                for region in op.regions:
                    stack.extend((blk, {}) for blk in region.blocks)
                continue
            if not op.opdef.pure or not op.results:
                keep.append(op)
                continue
            key = op_key(op)
            same = table.get(key)
            if same is None:
                table[key] = op
                keep.append(op)
                continue
            for old, new in zip(op.results, same.results):
                old.replace_all_uses_with(new)
            op.drop_operand_uses()
            op.parent = None
            changed = True
        block.operations = keep
    return changed


@dataclass
class CSEPass(Pass):
    """Merge identical pure ops on identical operands, and equal constants."""

    name = "cse"
    summary = "common subexpression elimination: merge identical pure ops and equal constants"

    def run(self, func: Operation) -> bool:
        return eliminate_common_subexpressions(func)
