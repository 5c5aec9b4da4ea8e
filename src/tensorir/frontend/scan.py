"""``tensorir.scan``: Theano's loop, built as one ``tir.scan`` op whose body is a region.

The step function is called once on symbolic placeholders (one per sequence tap and per state
tap; non-sequences are passed as the variables themselves, as Theano does). Its graph becomes
the loop body: the ops that depend on a placeholder are cloned into the region, every other
value the body reads is passed in as a non-sequence operand (loop-invariant code is thereby
computed once, outside), and constants are cloned into the body. Shared variables updated by
the step (its returned updates, and the ``default_update`` of random streams) become recurrent
outputs whose last value is returned in ``updates``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import YIELD, constant_value
from tensorir.dialects.ir import (
    Block,
    FreeValue,
    Operation,
    Region,
    Value,
    ancestors_topological,
    clone_graph,
    clone_operation,
)
from tensorir.dialects.tir.control import SCAN, row_type, stacked_type
from tensorir.dialects.types import TensorType as IRTensorType
from tensorir.frontend.shared import SharedVariable
from tensorir.frontend.variable import GraphError, TensorVariable, apply_values, as_tensor_variable, wrap


class OrderedUpdates(OrderedDict):
    """The updates a loop produces: ``{shared_variable: new_value}`` (pass them to ``function``)."""


class until:  # noqa: N801 - Theano's name
    """Returned by a step function to stop the loop after the step where ``condition`` is true."""

    def __init__(self, condition: Any) -> None:
        cond = as_tensor_variable(condition)
        if cond.ndim != 0:
            raise GraphError(f"until: the condition must be a scalar, got {cond.ir_type}")
        if cond.dtype != "bool":
            cond = apply_values("tir.neq", [cond.value, as_tensor_variable(np.zeros((), cond.dtype)).value], {})
        self.condition = cond


@dataclass
class _State:
    """One recurrent output: its initial window, taps, placeholders and where it came from."""

    window: TensorVariable
    taps: tuple[int, ...]
    placeholders: list[FreeValue] = field(default_factory=list)
    shared: SharedVariable | None = None
    index: int = -1  # position in the user's outputs_info, -1 for shared-variable updates


def _leading(x: TensorVariable, what: str) -> TensorVariable:
    if x.ndim < 1:
        raise GraphError(f"scan: {what} must have at least one dimension to iterate over, got {x.ir_type}")
    return x


def _int64(x: Any) -> Value:
    return as_tensor_variable(np.asarray(x, dtype=np.int64)).value


def _label(name: str | None) -> str:
    return f"scan {name!r}" if name else "scan"


def _normalize_sequences(sequences: Any, go_backwards: bool) -> list[tuple[TensorVariable, tuple[int, ...]]]:
    if sequences is None:
        return []
    items = sequences if isinstance(sequences, list | tuple) else [sequences]
    out = []
    for k, s in enumerate(items):
        if isinstance(s, Mapping):
            x = as_tensor_variable(s["input"])
            taps = tuple(sorted(int(t) for t in s.get("taps", [0]) or [0]))
        else:
            x, taps = as_tensor_variable(s), (0,)
        x = _leading(x, f"sequence {k}")
        if go_backwards:
            x = apply_values("tir.flip_leading", [x.value], {})
        out.append((x, taps))
    return out


def _window(init: TensorVariable, taps: tuple[int, ...], k: int) -> TensorVariable:
    """The initial window of a recurrent output: its value with a leading axis, or its first rows."""
    if taps == (-1,):
        return apply_values("tir.dimshuffle", [init.value], {"pattern": (-1, *range(init.ndim))})
    w = -taps[0]
    _leading(init, f"the initial value of output {k} (taps {list(taps)})")
    if init.static_shape[0] == w:
        return init
    return apply_values("tir.slice_leading", [init.value, _int64(0), _int64(w)], {})


def _normalize_outputs_info(outputs_info: Any) -> list[_State | None]:
    if outputs_info is None:
        return []
    items = outputs_info if isinstance(outputs_info, list | tuple) else [outputs_info]
    out: list[_State | None] = []
    for k, info in enumerate(items):
        if info is None:
            out.append(None)
            continue
        if isinstance(info, Mapping):
            if info.get("initial") is None:
                out.append(None)
                continue
            taps = tuple(sorted(int(t) for t in info.get("taps", [-1]) or [-1]))
            init = as_tensor_variable(info["initial"])
        else:
            taps, init = (-1,), as_tensor_variable(info)
        if any(t >= 0 for t in taps):
            raise GraphError(f"scan: the taps of output {k} must be negative, got {list(taps)}")
        out.append(_State(_window(init, taps, k), taps, index=k))
    return out


def _split_result(result: Any) -> tuple[list[Any], list[tuple[Any, Any]], until | None]:
    """Outputs, updates and the stop condition from what a step function returned."""
    cond: until | None = None
    updates: list[tuple[Any, Any]] = []
    outputs: list[Any] = []
    parts = list(result) if isinstance(result, tuple) else [result]
    if isinstance(result, list) and any(isinstance(p, until | Mapping) for p in result):
        parts = list(result)
    for p in parts:
        if isinstance(p, until):
            cond = p
        elif isinstance(p, Mapping):
            updates.extend(p.items())
        elif isinstance(p, list | tuple) and p and all(isinstance(q, tuple) and len(q) == 2
                                                         and isinstance(q[0], SharedVariable) for q in p):
            updates.extend(p)
        elif isinstance(p, list | tuple):
            outputs.extend(p)
        elif p is not None:
            outputs.append(p)
    return outputs, updates, cond


def scan(
    fn: Callable[..., Any],
    sequences: Any = None,
    outputs_info: Any = None,
    non_sequences: Any = None,
    n_steps: Any = None,
    truncate_gradient: int = -1,
    go_backwards: bool = False,
    mode: Any = None,
    name: str | None = None,
    profile: Any = None,
    allow_gc: Any = None,
    strict: bool = False,
    return_list: bool = False,
) -> tuple[Any, OrderedUpdates]:
    """Theano's ``scan``: loop ``fn`` over sequences and recurrent outputs; returns ``(outputs, updates)``.

    ``fn`` receives the sequence slices (per tap), the previous outputs (per tap), then the
    non-sequences, and returns outputs, ``(outputs, updates)`` and/or ``until(condition)``.
    """
    return _scan(fn, sequences, outputs_info, non_sequences, n_steps, truncate_gradient, go_backwards,
                 name, strict, return_list, keep_last=False)


def _scan(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any, n_steps: Any,
          truncate_gradient: int, go_backwards: bool, name: str | None, strict: bool, return_list: bool,
          keep_last: bool) -> tuple[Any, OrderedUpdates]:
    label = _label(name)
    seqs = _normalize_sequences(sequences, go_backwards)
    infos = _normalize_outputs_info(outputs_info)
    nonseq_items = non_sequences if isinstance(non_sequences, list | tuple) else (
        [] if non_sequences is None else [non_sequences])
    nonseqs = [as_tensor_variable(v) for v in nonseq_items]
    if n_steps is None and not seqs:
        raise GraphError(f"{label}: give n_steps when there are no sequences")
    # Placeholders of one step: sequence rows and previous outputs, per tap.
    args: list[TensorVariable] = []
    seq_placeholders: list[FreeValue] = []
    for k, (x, taps) in enumerate(seqs):
        for t in taps:
            ph = FreeValue(row_type(x.ir_type), f"{x.name or f'seq{k}'}[t{t:+d}]" if t else (x.name or f"seq{k}"))
            seq_placeholders.append(ph)
            args.append(wrap(ph))
    for state in infos:
        if state is None:
            continue
        for t in state.taps:
            ph = FreeValue(row_type(state.window.ir_type), f"out{state.index}[t{t:+d}]")
            state.placeholders.append(ph)
            args.append(wrap(ph))
    args += nonseqs
    outputs, update_pairs, cond = _split_result(fn(*args))
    outputs = [as_tensor_variable(o) for o in outputs]
    if infos and len(infos) != len(outputs):
        raise GraphError(f"{label}: outputs_info has {len(infos)} entries but the step function returns "
                         f"{len(outputs)} outputs")
    if not infos:
        infos = [None] * len(outputs)
    states = [s for s in infos if s is not None]
    for state in states:
        outputs[state.index] = _check_state_type(label, state, outputs[state.index])
    # Shared variables the step updates: explicit updates, then default updates (random streams).
    shared_states: list[_State] = []
    new_values: list[TensorVariable] = []
    for target, expr in update_pairs:
        _add_shared_state(label, shared_states, new_values, target, expr)
    roots = [o.value for o in outputs] + [v.value for v in new_values] + ([cond.condition.value] if cond else [])
    stop = seq_placeholders + [p for s in states for p in s.placeholders]
    while True:
        added = False
        for v in _outer_values(roots, stop):
            h = v.handle
            if isinstance(h, SharedVariable) and h.default_update is not None and \
                    all(s.shared is not h for s in shared_states):
                _add_shared_state(label, shared_states, new_values, h, h.default_update)
                roots.append(new_values[-1].value)
                added = True
        if not added:
            break
    # Inside the body a shared variable is its state's placeholder.
    if shared_states:
        roots = clone_graph(roots, {s.shared.value: s.placeholders[0] for s in shared_states})  # type: ignore[union-attr]
    all_states = states + shared_states
    stop = seq_placeholders + [p for s in all_states for p in s.placeholders]
    n_user = len(outputs)
    ys = [roots[s.index] for s in states] + roots[n_user : n_user + len(shared_states)]
    ys += [roots[k] for k, s in enumerate(infos) if s is None]
    if cond is not None:
        ys.append(roots[-1])
    block, captured = _build_body(ys, stop, with_index=False)
    if strict:
        allowed = {id(v.value) for v in nonseqs}
        for v in captured:
            if isinstance(v, FreeValue) and not isinstance(v.handle, SharedVariable) and id(v) not in allowed:
                raise GraphError(f"{label} (strict=True): the step function uses {v.name or v.type}, which is "
                                 "not in non_sequences")
    n_val = _int64(-1) if n_steps is None else _n_steps(n_steps, label)
    nits = [k for k, s in enumerate(infos) if s is None]
    keep = [1 if keep_last else 0] * len(states) + [1] * len(shared_states) + [1 if keep_last else 0] * len(nits)
    types = [stacked_type(row_type(s.window.ir_type), k or None) for s, k in zip(all_states, keep)]
    types += [stacked_type(y.type, 1 if keep_last else None) for y in ys[len(all_states) : len(all_states) + len(nits)]]
    attrs = {"seq_taps": tuple(t for _, t in seqs), "state_taps": tuple(s.taps for s in all_states),
             "keep": tuple(keep), "until": cond is not None, "truncate_gradient": int(truncate_gradient),
             "name": name or ""}
    operands = [n_val, *(x.value for x, _ in seqs), *(s.window.value for s in all_states), *captured]
    op = _create(label, operands, attrs, block, types)
    results: list[Any] = [None] * n_user
    for j, s in enumerate(states):
        results[s.index] = _user_output(op.results[j], -s.taps[0], keep_last)
    for c, k in enumerate(nits):
        r = op.results[len(all_states) + c]
        results[k] = _drop_leading(r) if keep_last else wrap(r)
    updates = OrderedUpdates()
    for c, s in enumerate(shared_states):
        updates[s.shared] = _drop_leading(op.results[len(states) + c])
    if len(results) == 1 and not return_list:
        return results[0], updates
    return results, updates


def _check_state_type(label: str, state: _State, out: TensorVariable) -> TensorVariable:
    """The step's new value of ``state``, given the initial value's static dims where the step's
    result leaves them open (checked at run time, as Theano accepts a matrix for a matrix)."""
    want = row_type(state.window.ir_type)
    got = out.ir_type
    ok = got.dtype == want.dtype and got.ndim == want.ndim and all(
        w is None or g is None or g == w for w, g in zip(want.shape, got.shape))
    if not ok:
        raise GraphError(
            f"{label}: output {state.index} of the step function has type {got}, but its initial value "
            f"(outputs_info[{state.index}]) gives type {want}; they must agree (cast the initial value or "
            "the output, e.g. T.cast(x, dtype), or relax static dims with T.unbroadcast)")
    shape = tuple(g if w is None else w for w, g in zip(want.shape, got.shape))
    if shape == got.shape:
        return out
    what = f"{label}: output {state.index} of the step function (its initial value gives {want})"
    return apply_values("tir.specify_shape", [out.value], {"shape": shape, "what": what})


def _add_shared_state(label: str, states: list[_State], new_values: list[TensorVariable], target: Any,
                      expr: Any) -> None:
    if not isinstance(target, SharedVariable):
        raise GraphError(f"{label}: update target {target!r} is not a shared variable")
    new = as_tensor_variable(expr, like=target.dtype)
    if new.dtype != target.dtype or new.ndim != target.ndim:
        raise GraphError(f"{label}: the update of shared variable {target.name or target!r} of type "
                         f"{target.ir_type} has type {new.ir_type}")
    window = apply_values("tir.dimshuffle", [target.value], {"pattern": (-1, *range(target.ndim))})
    state = _State(window, (-1,), [FreeValue(target.ir_type, f"{target.name or 'shared'}[t-1]")], target)
    states.append(state)
    new_values.append(new)


def _outer_values(roots: Sequence[Value], stop: Sequence[Value]) -> list[Value]:
    from tensorir.dialects.ir import graph_inputs

    ids = {id(v) for v in stop}
    return [v for v in graph_inputs(roots) if id(v) not in ids]


def _n_steps(n_steps: Any, label: str) -> Value:
    n = as_tensor_variable(n_steps)
    if n.ndim != 0 or n.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"):
        raise GraphError(f"{label}: n_steps must be an integer scalar, got {n.ir_type}")
    known = constant_value(n.value)
    if known is not None and int(known) < 0:
        # -1 inside the op means "as many steps as the sequences have", so it cannot come from the user.
        raise GraphError(f"{label}: n_steps must be >= 0, got {int(known)}")
    if n.dtype != "int64":
        n = apply_values("tir.cast", [n.value], {"dtype": "int64"})
    return n.value


def _is_inner(op: Operation, inner: set[int]) -> bool:
    return any(id(v) in inner for v in op.operands) or (not op.opdef.pure and op.opdef.name != "tir.constant")


def _build_body(ys: Sequence[Value], placeholders: Sequence[Value], with_index: bool,
                index: Value | None = None) -> tuple[Block, list[Value]]:
    """A body block computing ``ys`` from ``placeholders`` and the outer values it captures.

    Ops that depend on a placeholder (or have effects) are cloned into the block; constants are
    cloned where used; any other outer value becomes a captured operand and block argument.
    """
    inner: set[int] = {id(p) for p in placeholders}
    body_ops: list[Operation] = []
    for op in ancestors_topological(ys, stop=placeholders):
        if _is_inner(op, inner):
            body_ops.append(op)
            inner.update(id(r) for r in op.results)
    captured: list[Value] = []
    seen: set[int] = set()
    constants: list[Operation] = []
    for v in [*(u for op in body_ops for u in op.operands), *ys]:
        if id(v) in inner or id(v) in seen:
            continue
        seen.add(id(v))
        owner = v.owner
        if owner is not None and owner.opdef.name == "tir.constant":
            constants.append(owner)
        else:
            captured.append(v)
    arg_types = ([IRTensorType("int64", ())] if with_index else []) + [p.type for p in placeholders]
    block = Block(arg_types + [v.type for v in captured],
                  ([None] if with_index else []) + [p.name for p in placeholders] + [v.name for v in captured])
    args = block.arguments[int(with_index):]
    value_map: dict[Value, Value] = dict(zip([*placeholders, *captured], args))
    if with_index and index is not None:
        value_map[index] = block.arguments[0]
    for op in constants + body_ops:
        block.append(clone_operation(op, value_map))
    block.append(Operation(YIELD, [value_map.get(v, v) for v in ys], []))
    return block, captured


def _create(label: str, operands: Sequence[Value], attrs: dict[str, Any], block: Block,
            types: Sequence[IRTensorType]) -> Operation:
    b = Builder(track_location=True)
    op = b.create(SCAN, operands, attrs, [Region([block])], types)
    try:
        SCAN.verify(op)
    except Exception as exc:
        op.drop_operand_uses()
        raise GraphError(f"{label}: {exc}") from None
    return op


def _drop_leading(v: Value) -> TensorVariable:
    return apply_values("tir.dimshuffle", [v], {"pattern": tuple(range(1, v.type.ndim))})


def _user_output(buffer: Value, w: int, keep_last: bool) -> TensorVariable:
    """What the user sees of a recurrent output: the steps' values, without the initial window."""
    if keep_last:
        return _drop_leading(buffer)
    stop = apply_values("tir.shape_i", [buffer], {"i": 0})
    return apply_values("tir.slice_leading", [buffer, _int64(w), stop.value], {})


# -- views --------------------------------------------------------------------------------------------
def map(fn: Callable[..., Any], sequences: Any, non_sequences: Any = None, truncate_gradient: int = -1,  # noqa: A001
        go_backwards: bool = False, mode: Any = None, name: str | None = None) -> tuple[Any, OrderedUpdates]:
    """``fn`` applied to each row of the sequences: ``scan`` without recurrent outputs."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, name=name)


def reduce(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,  # noqa: A001
           go_backwards: bool = False, mode: Any = None, name: str | None = None) -> tuple[Any, OrderedUpdates]:
    """Fold ``fn`` over the sequences; only the final values are kept (and returned)."""
    return _scan(fn, sequences, outputs_info, non_sequences, None, -1, go_backwards, name, False, False,
                 keep_last=True)


def foldl(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None, mode: Any = None,
          name: str | None = None) -> tuple[Any, OrderedUpdates]:
    """``reduce`` from the first row to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, name=name)


def foldr(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None, mode: Any = None,
          name: str | None = None) -> tuple[Any, OrderedUpdates]:
    """``reduce`` from the last row to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, name=name)


__all__ = ["OrderedUpdates", "foldl", "foldr", "map", "reduce", "scan", "until"]
