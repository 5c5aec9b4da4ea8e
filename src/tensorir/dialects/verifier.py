"""Module verification: every op's own rules plus SSA dominance and terminators."""

from __future__ import annotations

from tensorir.dialects.ir import Block, Module, Operation, Value
from tensorir.dialects.opdef import IRError


def verify(root: Module | Operation) -> None:
    """Raise ``IRError`` naming the op (and the user's line) that breaks a rule."""
    funcs = root.functions if isinstance(root, Module) else [root]
    for func in funcs:
        _verify_region_tree(func)


def _verify_region_tree(top: Operation) -> None:
    # (block, values visible from enclosing scopes)
    stack: list[tuple[Block, frozenset[int]]] = []
    _check_op(top)
    for region in top.regions:
        for block in region.blocks:
            stack.append((block, frozenset()))
    while stack:
        block, outer = stack.pop()
        defined = set(outer)
        defined.update(id(a) for a in block.arguments)
        for op in block.operations:
            for i, v in enumerate(op.operands):
                if id(v) not in defined:
                    raise IRError(f"{op.name} at {op.where()}: operand {i} ({_describe(v)}) is not defined before use")
            _check_op(op)
            if op.regions:
                visible = frozenset(defined)
                for region in op.regions:
                    for inner in region.blocks:
                        stack.append((inner, visible))
            defined.update(id(r) for r in op.results)
        term = block.terminator
        if term is None or term.name not in ("func.return", "tir.yield"):
            raise IRError(f"a block in {block.parent.parent.name if block.parent and block.parent.parent else '?'} "
                          "does not end with a terminator")


def _check_op(op: Operation) -> None:
    try:
        op.opdef.verify(op)
    except IRError as exc:
        raise IRError(f"{op.name} at {op.where()}: {exc}") from None


def _describe(v: Value) -> str:
    return f"{type(v).__name__} {v.name or ''} of type {v.type}".replace("  ", " ")
