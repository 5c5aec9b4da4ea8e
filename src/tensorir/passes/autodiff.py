"""Automatic differentiation as a transformation of the IR.

Reverse mode (``vjp_graph``) walks the ops between the outputs and the variables in reverse
dependency order and asks each op's ``vjp`` rule for its operands' cotangents, summing where a
value is used several times. Forward mode (``jvp_graph``) walks forward with the ``jvp`` rules.
Both build ordinary tir ops with a builder, so the gradient graph is rewritten and compiled like
any other (no materialised Jacobians: rules use products with the cotangent). The ``autodiff``
pass expands ``tir.grad`` ops of a function with ``vjp_graph``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builder import Builder, user_location
from tensorir.dialects.ir import FreeValue, Operation, Value, ancestors_topological
from tensorir.dialects.provenance import gradient_location
from tensorir.dialects.tir.shape import reshape_like
from tensorir.dialects.tir.stable_vjp import stable_form
from tensorir.dialects.types import FLOAT_DTYPES
from tensorir.passes.pass_manager import Pass

_STOPS = frozenset({"tir.disconnected_grad"})


def _connected_ops(ops: Sequence[Operation], wrt: Iterable[Value], constant: set[int]) -> tuple[set[int], set[int]]:
    """Ops (by id) whose results depend on ``wrt``, and the ids of the dependent values."""
    dependent: set[int] = {id(v) for v in wrt if id(v) not in constant}
    op_ids: set[int] = set()
    for op in ops:
        if op.name in _STOPS:
            continue
        if any(id(v) in dependent for v in op.operands) or _region_reads(op, dependent):
            op_ids.add(id(op))
            dependent.update(id(r) for r in op.results if id(r) not in constant)
    return op_ids, dependent


def _reached_backward(ops: Sequence[Operation], outputs: Sequence[Value], constant: set[int]) -> set[int]:
    """Ids of values the outputs depend on, not looking through gradient stops or constants."""
    reached = {id(o) for o in outputs if id(o) not in constant}
    for op in reversed(ops):
        if op.name in _STOPS or not any(id(r) in reached for r in op.results):
            continue
        reached.update(id(v) for v in op.operands if id(v) not in constant)
    return reached


def _region_reads(op: Operation, dependent: set[int]) -> bool:
    if not op.regions:
        return False
    from tensorir.dialects.ir import walk

    return any(id(v) in dependent for inner in walk(op) if inner is not op for v in inner.operands)


def _accumulate(b: Builder, grads: dict[int, Value], v: Value, g: Value) -> None:
    if g.type.dtype != v.type.dtype and v.type.dtype in FLOAT_DTYPES:
        g = b.op("tir.cast", g, dtype=v.type.dtype)
    if g.type.shape != v.type.shape and g.type.ndim == v.type.ndim and any(
        gd is None and vd is not None for gd, vd in zip(g.type.shape, v.type.shape)
    ):
        # A cotangent given with less static shape information (e.g. a user's eval point):
        # give it the value's static dims, checked at run time, so rules can rely on them.
        g = reshape_like(b, g, v)
    old = grads.get(id(v))
    grads[id(v)] = g if old is None else b.op("tir.add", old, g)


def vjp_graph(
    b: Builder,
    outputs: Sequence[Value],
    cotangents: Sequence[Value | None],
    wrt: Sequence[Value],
    consider_constant: Iterable[Value] = (),
) -> tuple[list[Value | None], list[bool]]:
    """Cotangents of ``wrt`` given cotangents of ``outputs``.

    Returns the gradients (None where zero) and, per ``wrt``, whether it is connected to the
    outputs at all (so callers can tell "disconnected" from "zero").
    """
    constant = {id(v) for v in consider_constant}
    ops = ancestors_topological(outputs, stop=[v for v in wrt] + list(consider_constant))
    op_ids, dependent = _connected_ops(ops, wrt, constant)
    reached = _reached_backward(ops, outputs, constant)
    connected = [id(v) in reached for v in wrt]
    blocked = constant | {id(v) for v in wrt}
    grads: dict[int, Value] = {}
    for out, ct in zip(outputs, cotangents):
        if ct is not None and id(out) in dependent:
            _accumulate(b, grads, out, ct)
    for op in reversed(ops):
        if id(op) not in op_ids or not op.opdef.differentiable:
            continue
        out_grads = [grads.get(id(r)) for r in op.results]
        if all(g is None for g in out_grads):
            continue
        form = stable_form(op, blocked) if len(op.results) == 1 else None
        # The ops a rule builds remember the forward op they differentiate (dialects/provenance.py).
        saved = b.location
        b.location = gradient_location(op, saved if saved is not None or not b.track_location else user_location())
        try:
            if form is not None:
                # The pattern rooted here differentiated through its stable form (see stable_vjp).
                operands: Sequence[Value] = form.inputs
                in_grads, _ = vjp_graph(b, [form.build(b)], out_grads, form.inputs)
            else:
                operands = op.operands
                in_grads = op.opdef.vjp(b, op, out_grads)
        finally:
            b.location = saved
        if len(in_grads) != len(operands):
            raise RuntimeError(f"vjp of {op.name} returned {len(in_grads)} cotangents for {len(operands)} operands")
        for v, g in zip(operands, in_grads):
            if g is not None and id(v) in dependent and v.type.dtype in FLOAT_DTYPES:
                _accumulate(b, grads, v, g)
    return [grads.get(id(v)) for v in wrt], connected


def jvp_graph(
    b: Builder, outputs: Sequence[Value], wrt: Sequence[Value], tangents: Sequence[Value | None]
) -> list[Value | None]:
    """Tangents of ``outputs`` given tangents of ``wrt`` (forward mode)."""
    ops = ancestors_topological(outputs, stop=wrt)
    tan: dict[int, Value] = {id(v): t for v, t in zip(wrt, tangents) if t is not None}
    blocked = {id(v) for v in wrt}
    for op in ops:
        ins = [tan.get(id(v)) for v in op.operands]
        if all(t is None for t in ins) or not op.opdef.differentiable:
            continue
        form = stable_form(op, blocked) if len(op.results) == 1 else None
        if form is not None and any(id(v) in tan for v in form.inputs):
            # Forward mode through the stable form too (see stable_vjp): the tangent of
            # log(1 + exp(x)) is t * sigmoid(x), not (t * exp(x)) / (1 + exp(x)) = inf / inf.
            outs = jvp_graph(b, [form.build(b)], list(form.inputs), [tan.get(id(v)) for v in form.inputs])
        elif op.opdef.has_jvp:
            outs = op.opdef.jvp(b, op, ins)
        else:
            outs = _jvp_by_double_vjp(b, op, ins)
        for r, t in zip(op.results, outs):
            if t is not None:
                if t.type.dtype != r.type.dtype and r.type.dtype in FLOAT_DTYPES:
                    t = b.op("tir.cast", t, dtype=r.type.dtype)
                tan[id(r)] = t
    return [tan.get(id(o)) for o in outputs]


def _jvp_by_double_vjp(b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
    """J t from the vjp rule: the vjp is linear in its cotangent u, so differentiating
    ``u -> J^T u`` in reverse mode with cotangent t gives ``J t``."""
    if len(op.results) != 1:
        raise NotImplementedError(f"{op.name} has no jvp rule and several results")
    u = FreeValue(op.results[0].type, "u")
    in_grads = op.opdef.vjp(b, op, [u])
    total: Value | None = None
    for g, t in zip(in_grads, tangents):
        if g is None or t is None:
            continue
        (part,), _ = vjp_graph(b, [g], [t], [u])
        if part is None:
            continue
        total = part if total is None else b.op("tir.add", total, part)
    if total is not None and any(id(v) == id(u) for v in _free_inputs([total])):
        raise NotImplementedError(f"{op.name}: its vjp rule is not linear in the cotangent, cannot derive a jvp")
    return [total]


def _free_inputs(values: Sequence[Value]) -> list[Value]:
    from tensorir.dialects.ir import graph_inputs

    return graph_inputs(values)


def ones_like_scalar(b: Builder, v: Value) -> Value:
    return b.constant(np.asarray(1, dtype=v.type.dtype))


def zeros_like(b: Builder, v: Value, dtype: str | None = None) -> Value:
    zero = b.constant(np.asarray(0, dtype=dtype or v.type.dtype))
    return b.op("tir.broadcast_like", zero, v)


@dataclass
class AutodiffPass(Pass):
    """Expand every ``tir.grad(cost, wrt...)`` into the reverse-mode gradient graph."""

    name = "autodiff"
    summary = "expand tir.grad ops into vjp graphs (reverse-mode automatic differentiation)"

    def run(self, func: Operation) -> bool:
        block = func.regions[0].block
        changed = False
        for op in [o for o in block.operations if o.name == "tir.grad"]:
            b = Builder.before(op)
            cost, *wrt = op.operands
            grads, _ = vjp_graph(b, [cost], [ones_like_scalar(b, cost)], wrt)
            for r, g, w in zip(op.results, grads, wrt):
                r.replace_all_uses_with(g if g is not None else zeros_like(b, w))
            op.erase()
            changed = True
        return changed
