"""``ifelse(condition, then_branch, else_branch)``: the lazy conditional, one ``tir.if`` op.

Only the chosen branch is computed: the ops that only a branch needs are cloned into that
branch's region; values the condition also needs, symbolic inputs and shared variables are
passed in as captured operands (regions are isolated from above), and constants are cloned.
Unlike ``T.switch`` (elementwise, both sides computed), the condition is one scalar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import YIELD
from tensorir.dialects.ir import Block, Operation, Region, Value, ancestors_topological, clone_operation
from tensorir.dialects.tir.control import IF
from tensorir.dialects.types import upcast
from tensorir.frontend.variable import GraphError, apply_values, as_tensor_variable, wrap


def _branch_region(ys: Sequence[Value], outside: set[int]) -> tuple[list[Operation], list[Value]]:
    """The ops computing ``ys`` that belong in a branch, and the outer values they read."""
    ops = [op for op in ancestors_topological(ys) if not (op.results and id(op.results[0]) in outside)
           and op.opdef.pure]
    inner = {id(r) for op in ops for r in op.results}
    outer: list[Value] = []
    seen: set[int] = set()
    for v in [*(u for op in ops for u in op.operands), *ys]:
        if id(v) not in inner and id(v) not in seen:
            seen.add(id(v))
            outer.append(v)
    return ops, outer


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """``then_branch`` if the scalar ``condition`` is true (non-zero), else ``else_branch``; lazily.

    The branches may be variables or lists of variables of matching types (results are upcast
    to the common dtype, as Theano does for numbers).
    """
    cond = as_tensor_variable(condition)
    if cond.ndim != 0:
        raise GraphError(f"ifelse: the condition must be a scalar, got {cond.ir_type} (use T.switch for "
                         "elementwise selection)")
    is_list = isinstance(then_branch, list | tuple)
    thens = list(then_branch) if is_list else [then_branch]
    elses = list(else_branch) if isinstance(else_branch, list | tuple) else [else_branch]
    if len(thens) != len(elses):
        raise GraphError(f"ifelse: the then branch has {len(thens)} outputs, the else branch {len(elses)}")
    pairs = []
    for k, (t, e) in enumerate(zip(thens, elses)):
        tv, ev = as_tensor_variable(t), as_tensor_variable(e)
        if tv.ndim != ev.ndim:
            raise GraphError(f"ifelse: output {k} has rank {tv.ndim} in the then branch but {ev.ndim} in the "
                             f"else branch ({tv.ir_type} vs {ev.ir_type})")
        dtype = upcast(tv.dtype, ev.dtype)
        tv = tv if tv.dtype == dtype else apply_values("tir.cast", [tv.value], {"dtype": dtype})
        ev = ev if ev.dtype == dtype else apply_values("tir.cast", [ev.value], {"dtype": dtype})
        pairs.append((tv, ev))
    # Values the condition needs are computed outside, once.
    outside = {id(r) for op in ancestors_topological([cond.value]) for r in op.results}
    branches = []
    captured: list[Value] = []
    seen: set[int] = set()
    for ys in ([t.value for t, _ in pairs], [e.value for _, e in pairs]):
        ops, outer = _branch_region(ys, outside)
        branches.append((ys, ops))
        for v in outer:
            if id(v) not in seen and not _is_constant(v):
                seen.add(id(v))
                captured.append(v)
    regions = []
    for ys, ops in branches:
        block = Block([v.type for v in captured], [v.name for v in captured])
        value_map: dict[Value, Value] = dict(zip(captured, block.arguments))
        for op in ops:
            if all(id(r) not in seen for r in op.results):
                block.append(clone_operation(op, value_map))
        for v in ys:
            if v not in value_map and _is_constant(v):
                block.append(clone_operation(v.owner, value_map))  # type: ignore[arg-type]
        block.append(Operation(YIELD, [value_map[v] for v in ys], []))
        regions.append(Region([block]))
    types = []
    for t, e in pairs:
        shape = tuple(a if a == b else None for a, b in zip(t.static_shape, e.static_shape))
        types.append(t.ir_type.with_shape(shape))
    op = Builder(track_location=True).create(IF, [cond.value, *captured], {}, regions, types)
    try:
        IF.verify(op)
    except Exception as exc:
        op.drop_operand_uses()
        raise GraphError(f"ifelse: {exc}") from None
    outs = [wrap(r) for r in op.results]
    if name:
        for k, o in enumerate(outs):
            o.name = name if len(outs) == 1 else f"{name}_{k}"
    return outs if is_list else outs[0]


def _is_constant(v: Value) -> bool:
    return v.owner is not None and v.owner.opdef.name == "tir.constant"


__all__ = ["ifelse"]
