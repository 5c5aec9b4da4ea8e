"""Differentiation of ``tir.scan`` and ``tir.if``: reverse and forward mode through region bodies.

Split from ``control`` (the op declarations) to keep each file to one job; the ops' ``vjp`` and
``jvp`` methods call the functions here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import YIELD
from tensorir.dialects.ir import Block, Operation, Region, Value, ancestors_topological, clone_operation
from tensorir.dialects.tir.control import IF, SCAN, ScanDef, ScanLayout, row_type, seq_shift, stacked_type
from tensorir.dialects.tir.stable_vjp import stable_form
from tensorir.dialects.types import FLOAT_DTYPES, TensorType

# -- differentiation of region bodies --------------------------------------------------------------
# The IR may not import passes, so the two walks over a body are here (the same algorithm as
# ``passes.autodiff``, restricted to one block's ops).
_STOPS = frozenset({"tir.disconnected_grad"})


def _is_float(v: Value) -> bool:
    return v.type.dtype in FLOAT_DTYPES


def body_vjp(b: Builder, outputs: Sequence[Value], cotangents: Sequence[Value | None],
             wrt: Sequence[Value]) -> list[Value | None]:
    """Cotangents of ``wrt`` (block arguments) given cotangents of ``outputs`` (body values)."""
    ops = ancestors_topological(outputs, stop=wrt)
    dependent = {id(v) for v in wrt}
    active: set[int] = set()
    for o in ops:
        if o.name not in _STOPS and (any(id(v) in dependent for v in o.operands)):
            active.add(id(o))
            dependent.update(id(r) for r in o.results)
    blocked = {id(v) for v in wrt}
    grads: dict[int, Value] = {}

    def accumulate(v: Value, g: Value) -> None:
        if g.type.dtype != v.type.dtype:
            g = b.op("tir.cast", g, dtype=v.type.dtype)
        old = grads.get(id(v))
        grads[id(v)] = g if old is None else b.op("tir.add", old, g)

    for out, ct in zip(outputs, cotangents):
        if ct is not None and id(out) in dependent and _is_float(out):
            accumulate(out, ct)
    for o in reversed(ops):
        if id(o) not in active or not o.opdef.differentiable:
            continue
        out_grads = [grads.get(id(r)) for r in o.results]
        if all(g is None for g in out_grads):
            continue
        form = stable_form(o, blocked) if len(o.results) == 1 else None
        if form is not None:
            # An unstable pattern differentiated through its stable form (see stable_vjp).
            operands: Sequence[Value] = form.inputs
            in_grads = body_vjp(b, [form.build(b)], out_grads, form.inputs)
        else:
            operands, in_grads = o.operands, o.opdef.vjp(b, o, out_grads)
        for v, g in zip(operands, in_grads):
            if g is not None and id(v) in dependent and _is_float(v):
                accumulate(v, g)
    return [grads.get(id(v)) for v in wrt]


def body_jvp(b: Builder, outputs: Sequence[Value], wrt: Sequence[Value],
             tangents: Sequence[Value]) -> list[Value | None]:
    """Tangents of ``outputs`` given tangents of ``wrt`` (forward mode over a body)."""
    tan: dict[int, Value] = {id(v): t for v, t in zip(wrt, tangents)}
    blocked = {id(v) for v in wrt}
    for o in ancestors_topological(outputs, stop=wrt):
        ins = [tan.get(id(v)) for v in o.operands]
        if all(t is None for t in ins) or not o.opdef.differentiable:
            continue
        form = stable_form(o, blocked) if len(o.results) == 1 else None
        if form is not None and any(id(v) in tan for v in form.inputs):
            inputs = [v for v in form.inputs if id(v) in tan]
            outs = body_jvp(b, [form.build(b)], inputs, [tan[id(v)] for v in inputs])
        elif not o.opdef.has_jvp:
            raise NotImplementedError(f"{o.name} (inside a loop or conditional) has no jvp rule")
        else:
            outs = o.opdef.jvp(b, o, ins)
        for r, t in zip(o.results, outs):
            if t is not None and _is_float(r):
                tan[id(r)] = t if t.type.dtype == r.type.dtype else b.op("tir.cast", t, dtype=r.type.dtype)
    return [tan.get(id(o)) for o in outputs]


def zeros_like(b: Builder, like: Value) -> Value:
    return b.op("tir.broadcast_like", b.constant(np.zeros((), dtype=like.type.dtype)), like)


def _int_const(b: Builder, value: int) -> Value:
    return b.constant(np.asarray(value, dtype=np.int64))


def _with_type(b: Builder, v: Value, t: TensorType) -> Value:
    """``v`` with the static shape of ``t`` (after padding, which forgets the leading dim)."""
    if v.type == t:
        return v
    return b.op("tir.specify_shape", v, shape=t.shape)


def _body_builder(block: Block, op: Operation) -> Builder:
    return Builder(block, None, location=op.location, track_location=False)


def _clone_body(block: Block, source: Block, value_map: dict[Value, Value], roots: Sequence[Value]) -> list[Value]:
    """Clone into ``block`` the ops of ``source`` that ``roots`` need; returns the mapped roots."""
    for o in ancestors_topological(roots, stop=source.arguments):
        block.append(clone_operation(o, value_map))
    return [value_map.get(v, v) for v in roots]


def _scan_op(b: Builder, operands: Sequence[Value], attrs: Mapping[str, Any], block: Block,
             result_types: Sequence[TensorType]) -> Operation:
    return b.create(SCAN, operands, attrs, [Region([block])], result_types)


def _full_keep_clone(b: Builder, op: Operation) -> Operation:
    """The same loop storing every step (for a backward pass that needs the whole history)."""
    block = op.regions[0].block
    new_block = Block([a.type for a in block.arguments], [a.name for a in block.arguments])
    value_map: dict[Value, Value] = dict(zip(block.arguments, new_block.arguments))
    term = block.terminator
    assert term is not None
    ys = _clone_body(new_block, block, value_map, term.operands)
    new_block.append(Operation(YIELD, ys, []))
    types = [TensorType(r.type.dtype, (None, *r.type.shape[1:])) for r in op.results]
    return _scan_op(b, op.operands, {**op.attributes, "keep": ()}, new_block, types)


def scan_vjp(b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
    """Back-propagation through time as a ``tir.scan`` running the other way."""
    lay = ScanLayout.of(op)
    a = op.attributes
    out: list[Value | None] = [None] * len(op.operands)
    grads = [g if g is not None and _is_float(r) else None for g, r in zip(grads, op.results)]
    if all(g is None for g in grads):
        return out
    reverse = a["reverse"]
    fwd = _full_keep_clone(b, op) if any(ScanDef.keep_of(op, i) for i in range(len(op.results))) else op
    windows = lay.windows()
    full: list[Value | None] = []
    for i, g in enumerate(grads):
        k = ScanDef.keep_of(op, i)
        if g is not None and k:
            rest = b.op("tir.sub", b.op("tir.shape_i", fwd.results[i], i=0), _int_const(b, k))
            zero = _int_const(b, 0)
            g = b.op("tir.pad_leading", g, *((zero, rest) if reverse else (rest, zero)))
        full.append(g)
    length0 = b.op("tir.shape_i", fwd.results[0], i=0)
    n = b.op("tir.sub", length0, _int_const(b, windows[0])) if lay.n_state else length0
    inits, nonseqs = lay.init_operands(op), lay.nonseq_operands(op)
    float_states = [j for j, x in enumerate(inits) if _is_float(x)]
    float_nonseqs = [i for i, v in enumerate(nonseqs) if _is_float(v)]
    # Backward sequences: forward sequences, state buffers, then the cotangents of the results.
    seqs: list[tuple[Value, tuple[int, ...]]] = list(zip(lay.seq_operands(op), lay.seq_taps))
    for j, taps in enumerate(lay.state_taps):
        seqs.append((fwd.results[j], tuple(sorted(-k for k in taps)) if reverse else taps))
    g_states = {j: len(seqs) + c for c, j in enumerate(j for j in float_states if full[j] is not None)}
    seqs += [(full[j], (0,) if reverse else (windows[j],)) for j in g_states]  # type: ignore[misc]
    g_nits = {m: len(seqs) + c for c, m in enumerate(m for m in range(lay.n_nit) if full[lay.n_state + m] is not None)}
    seqs += [(full[lay.n_state + m], (0,)) for m in g_nits]  # type: ignore[misc]
    # Recurrences: per float state tap the cotangent it received, per float non-sequence a sum.
    carries = [(j, k) for j in float_states for k in lay.state_taps[j]]
    carry_inits = [zeros_like(b, b.op("tir.slice_leading", inits[j], _int_const(b, 0), _int_const(b, -k)))
                   for j, k in carries]
    acc_inits = [zeros_like(b, b.op("tir.dimshuffle", nonseqs[i], pattern=(-1, *range(nonseqs[i].type.ndim))))
                 for i in float_nonseqs]
    truncate = a["truncate_gradient"]
    with_index = lay.with_index or truncate >= 0
    bw_nonseqs = list(nonseqs) + ([n] if truncate >= 0 else [])
    # The backward body's arguments.
    arg_types: list[TensorType] = [TensorType("int64", ())] if with_index else []
    for x, taps in seqs:
        arg_types += [row_type(x.type)] * len(taps)
    for x in carry_inits + acc_inits:
        arg_types.append(row_type(x.type))
    arg_types += [v.type for v in bw_nonseqs]
    block = Block(arg_types)
    index, seq_args, state_args, nonseq_args = ScanLayout(
        tuple(t for _, t in seqs), tuple((k,) for _, k in carries) + ((-1,),) * len(acc_inits),
        len(bw_nonseqs), 0, with_index, False).split_args(block.arguments)
    # The first block argument of each backward sequence (sequences with several taps have several).
    first_arg = np.cumsum([0] + [len(t) for _, t in seqs]).tolist()
    fwd_block = op.regions[0].block
    f_index, f_seq, f_state, f_nonseq = lay.split_args(fwd_block.arguments)
    value_map: dict[Value, Value] = dict(zip(f_index, index))
    pos = 0
    for taps in lay.seq_taps:
        value_map.update(zip(f_seq[pos : pos + len(taps)], seq_args[pos : pos + len(taps)]))
        pos += len(taps)
    f_pos = 0
    for taps in lay.state_taps:
        mine = seq_args[pos : pos + len(taps)]
        value_map.update(zip(f_state[f_pos : f_pos + len(taps)], mine[::-1] if reverse else mine))
        pos += len(taps)
        f_pos += len(taps)
    value_map.update(zip(f_nonseq, nonseq_args))
    term = fwd_block.terminator
    assert term is not None
    ys = term.operands[: lay.n_state + lay.n_nit]
    body_ys = _clone_body(block, fwd_block, value_map, ys)
    bb = _body_builder(block, op)
    mask = None
    if truncate >= 0:
        limit = bb.op("tir.sub", nonseq_args[-1], _int_const(bb, truncate))
        mask = (bb.op("tir.lt", index[0], _int_const(bb, truncate)) if reverse
                else bb.op("tir.ge", index[0], limit))

    def masked(g: Value) -> Value:
        if mask is None:
            return g
        return bb.op("tir.switch", mask, g, bb.constant(np.zeros((), dtype=g.type.dtype)))

    outs: list[Value] = []
    cts: list[Value | None] = []
    carry_pos = 0
    for j in float_states:
        total = seq_args[first_arg[g_states[j]]] if j in g_states else None
        for _ in lay.state_taps[j]:
            c = state_args[carry_pos]
            total = c if total is None else bb.op("tir.add", total, c)
            carry_pos += 1
        outs.append(body_ys[j])
        cts.append(masked(total) if total is not None else None)
    for m, idx in g_nits.items():
        outs.append(body_ys[lay.n_state + m])
        cts.append(masked(seq_args[first_arg[idx]]))
    f_state_mapped = [value_map[v] for v in f_state]
    wrt = [value_map[v] for v in f_seq] + f_state_mapped + [value_map[v] for v in f_nonseq]
    got = body_vjp(bb, outs, cts, wrt)
    n_fs = len(f_seq)
    ct_seq, ct_state, ct_nonseq = got[:n_fs], got[n_fs : n_fs + len(f_state)], got[n_fs + len(f_state) :]
    # State taps in the forward argument order: state j's taps start at offsets[j].
    offsets = np.cumsum([0] + [len(t) for t in lay.state_taps]).tolist()
    yields: list[Value] = []
    for j, k in carries:
        i = offsets[j] + lay.state_taps[j].index(k)
        yields.append(ct_state[i] if ct_state[i] is not None else zeros_like(bb, f_state_mapped[i]))
    for c, i in enumerate(float_nonseqs):
        acc = state_args[len(carries) + c]
        g = ct_nonseq[i]
        yields.append(acc if g is None else bb.op("tir.add", acc, g))
    seq_outputs: list[tuple[int, int]] = []  # (sequence, tap index) of each per-step cotangent
    pos = 0
    for s, taps in enumerate(lay.seq_taps):
        for t in range(len(taps)):
            if ct_seq[pos + t] is not None:
                seq_outputs.append((s, t))
                yields.append(ct_seq[pos + t])  # type: ignore[arg-type]
        pos += len(taps)
    block.append(Operation(YIELD, yields, []))
    keep = tuple(-k for _, k in carries) + (1,) * len(acc_inits) + (0,) * len(seq_outputs)
    types = [stacked_type(row_type(x.type), -k) for x, (_, k) in zip(carry_inits, carries)]
    types += [stacked_type(row_type(x.type), 1) for x in acc_inits]
    types += [stacked_type(y.type) for y in yields[len(types):]]
    state_taps = tuple((k,) for _, k in carries) + ((-1,),) * len(acc_inits)
    attrs = {"seq_taps": tuple(t for _, t in seqs), "state_taps": state_taps,
             "keep": keep, "reverse": not reverse, "with_index": with_index, "name": f"{a['name']}_grad".lstrip("_")}
    bw = _scan_op(b, [n, *(x for x, _ in seqs), *carry_inits, *acc_inits, *bw_nonseqs], attrs, block, types)
    # Assemble the operands' cotangents.
    for c, (j, k) in enumerate(carries):
        w = windows[j]
        part = bw.results[c]
        if -k != w:
            pad = (_int_const(b, 0), _int_const(b, w + k)) if reverse else (_int_const(b, w + k), _int_const(b, 0))
            part = b.op("tir.pad_leading", part, *pad)
        slot = 1 + lay.n_seq + j
        out[slot] = part if out[slot] is None else b.op("tir.add", out[slot], part)
    for j in float_states:
        slot = 1 + lay.n_seq + j
        g = full[j]
        if g is not None:
            w = windows[j]
            if reverse:
                stop = b.op("tir.shape_i", g, i=0)
                rows = b.op("tir.slice_leading", g, b.op("tir.sub", stop, _int_const(b, w)), stop)
            else:
                rows = b.op("tir.slice_leading", g, _int_const(b, 0), _int_const(b, w))
            out[slot] = b.op("tir.add", out[slot], rows)
        out[slot] = _with_type(b, out[slot], inits[j].type)  # type: ignore[arg-type]
    for c, i in enumerate(float_nonseqs):
        acc = bw.results[len(carries) + c]
        out[1 + lay.n_seq + lay.n_state + i] = b.op("tir.dimshuffle", acc, pattern=tuple(range(1, acc.type.ndim)))
    first_nit = len(carries) + len(float_nonseqs)
    for c, (s, t) in enumerate(seq_outputs):
        x = op.operands[1 + s]
        taps = lay.seq_taps[s]
        before = taps[t] + seq_shift(taps)
        rest = b.op("tir.sub", b.op("tir.shape_i", x, i=0), b.op("tir.add", n, _int_const(b, before)))
        part = b.op("tir.pad_leading", bw.results[first_nit + c], _int_const(b, before), rest)
        out[1 + s] = part if out[1 + s] is None else b.op("tir.add", out[1 + s], part)
    for s in range(lay.n_seq):
        if out[1 + s] is not None:
            out[1 + s] = _with_type(b, out[1 + s], op.operands[1 + s].type)  # type: ignore[arg-type]
    return out


def scan_jvp(b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
    """Forward mode: one loop carrying primal and tangent values side by side."""
    lay = ScanLayout.of(op)
    a = op.attributes
    seqs, inits, nonseqs = lay.seq_operands(op), lay.init_operands(op), lay.nonseq_operands(op)
    t_seq = [s for s, x in enumerate(seqs) if _is_float(x) and tangents[1 + s] is not None]
    t_state = [j for j, x in enumerate(inits) if _is_float(x)]
    first_nonseq = 1 + lay.n_seq + lay.n_state
    t_nonseq = [i for i, v in enumerate(nonseqs) if _is_float(v) and tangents[first_nonseq + i] is not None]
    t_nit = [m for m in range(lay.n_nit) if _is_float(op.results[lay.n_state + m])]
    if not t_seq and not t_nonseq and all(tangents[1 + lay.n_seq + j] is None for j in t_state):
        return [None] * len(op.results)
    init_tangents = [tangents[1 + lay.n_seq + j] or zeros_like(b, inits[j]) for j in t_state]
    fwd_block = op.regions[0].block
    f_index, f_seq, f_state, f_nonseq = lay.split_args(fwd_block.arguments)
    seq_taps = lay.seq_taps + tuple(lay.seq_taps[s] for s in t_seq)
    state_taps = lay.state_taps + tuple(lay.state_taps[j] for j in t_state)
    new = ScanLayout(seq_taps, state_taps, len(nonseqs) + len(t_nonseq), 0, lay.with_index, lay.until)
    seq_operands = list(seqs) + [tangents[1 + s] for s in t_seq]
    init_operands = list(inits) + init_tangents
    nonseq_operands = list(nonseqs) + [tangents[1 + lay.n_seq + lay.n_state + i] for i in t_nonseq]
    arg_types: list[TensorType] = [TensorType("int64", ())] if lay.with_index else []
    for x, taps in zip(seq_operands + init_operands, seq_taps + state_taps):
        arg_types += [row_type(x.type)] * len(taps)  # type: ignore[union-attr]
    arg_types += [v.type for v in nonseq_operands]  # type: ignore[union-attr]
    block = Block(arg_types)
    index, seq_args, state_args, nonseq_args = new.split_args(block.arguments)
    value_map: dict[Value, Value] = dict(zip(f_index, index))
    value_map.update(zip(f_seq, seq_args))
    value_map.update(zip(f_state, state_args))
    value_map.update(zip(f_nonseq, nonseq_args))
    wrt: list[Value] = []
    tans: list[Value] = []
    offsets = np.cumsum([0] + [len(t) for t in lay.seq_taps]).tolist()
    pos = len(f_seq)
    for s in t_seq:
        for q in range(len(lay.seq_taps[s])):
            wrt.append(seq_args[offsets[s] + q])
            tans.append(seq_args[pos])
            pos += 1
    offsets = np.cumsum([0] + [len(t) for t in lay.state_taps]).tolist()
    pos = len(f_state)
    for j in t_state:
        for q in range(len(lay.state_taps[j])):
            wrt.append(state_args[offsets[j] + q])
            tans.append(state_args[pos])
            pos += 1
    wrt += [nonseq_args[i] for i in t_nonseq]
    tans += nonseq_args[len(nonseqs) :]
    term = fwd_block.terminator
    assert term is not None
    ys = _clone_body(block, fwd_block, value_map, term.operands)
    bb = _body_builder(block, op)
    outs = [ys[j] for j in t_state] + [ys[lay.n_state + m] for m in t_nit]
    dys = [d if d is not None else zeros_like(bb, y) for d, y in zip(body_jvp(bb, outs, wrt, tans), outs)]
    cond = ys[lay.n_state + lay.n_nit :]
    block.append(Operation(YIELD, [*ys[: lay.n_state], *dys[: len(t_state)], *ys[lay.n_state : lay.n_state + lay.n_nit],
                                   *dys[len(t_state) :], *cond], []))
    keep = [ScanDef.keep_of(op, i) for i in range(len(op.results))]
    new_keep = keep[: lay.n_state] + [keep[j] for j in t_state] + keep[lay.n_state :]
    new_keep += [keep[lay.n_state + m] for m in t_nit]
    types = [r.type for r in op.results[: lay.n_state]] + [op.results[j].type for j in t_state]
    types += [r.type for r in op.results[lay.n_state :]] + [op.results[lay.n_state + m].type for m in t_nit]
    attrs = {**a, "seq_taps": seq_taps, "state_taps": state_taps, "keep": tuple(new_keep)}
    jv = _scan_op(b, [op.operands[0], *seq_operands, *init_operands, *nonseq_operands], attrs, block, types)  # type: ignore[list-item]
    result: list[Value | None] = [None] * len(op.results)
    for c, j in enumerate(t_state):
        result[j] = jv.results[lay.n_state + c]
    base = lay.n_state + len(t_state) + lay.n_nit
    for c, m in enumerate(t_nit):
        result[lay.n_state + m] = jv.results[base + c]
    return result


def _if_op(b: Builder, op: Operation, extra: Sequence[Value],
           branch: Callable[[Builder, list[Value], list[Value]], list[Value]]) -> Operation:
    """A new ``tir.if`` on ``op``'s condition whose branches apply ``branch`` to a clone of each."""
    captured = op.operands[1:]
    regions = []
    result_types: list[TensorType] = []
    for region in op.regions:
        source = region.block
        block = Block([v.type for v in captured] + [v.type for v in extra])
        value_map: dict[Value, Value] = dict(zip(source.arguments, block.arguments))
        term = source.terminator
        assert term is not None
        ys = _clone_body(block, source, value_map, term.operands)
        bb = _body_builder(block, op)
        new_ys = branch(bb, ys, block.arguments)
        block.append(Operation(YIELD, new_ys, []))
        regions.append(Region([block]))
        result_types = [y.type for y in new_ys]
    return b.create(IF, [op.operands[0], *captured, *extra], {}, regions, result_types)


def if_vjp(b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
    """The cotangents of the captured values, computed lazily in the branch that ran."""
    pairs = [(i, g) for i, (g, r) in enumerate(zip(grads, op.results)) if g is not None and _is_float(r)]
    wanted = [i for i, v in enumerate(op.operands[1:]) if _is_float(v)]
    if not pairs or not wanted:
        return [None] * len(op.operands)
    n_cap = len(op.operands) - 1

    def branch(bb: Builder, ys: list[Value], args: list[Value]) -> list[Value]:
        wrt = [args[i] for i in wanted]
        cts = body_vjp(bb, [ys[i] for i, _ in pairs], args[n_cap:], wrt)
        return [c if c is not None else zeros_like(bb, w) for c, w in zip(cts, wrt)]

    new = _if_op(b, op, [g for _, g in pairs], branch)
    out: list[Value | None] = [None] * len(op.operands)
    for c, i in enumerate(wanted):
        out[1 + i] = _with_type(b, new.results[c], op.operands[1 + i].type)
    return out


def if_jvp(b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
    """The tangents of the results, computed in the branch that runs."""
    given = [(i, t) for i, t in enumerate(tangents[1:]) if t is not None and _is_float(op.operands[1 + i])]
    outs = [i for i, r in enumerate(op.results) if _is_float(r)]
    if not given or not outs:
        return [None] * len(op.results)
    n_cap = len(op.operands) - 1

    def branch(bb: Builder, ys: list[Value], args: list[Value]) -> list[Value]:
        primal = [ys[i] for i in outs]
        dys = body_jvp(bb, primal, [args[i] for i, _ in given], args[n_cap:])
        return [d if d is not None else zeros_like(bb, y) for d, y in zip(dys, primal)]

    new = _if_op(b, op, [t for _, t in given], branch)
    result: list[Value | None] = [None] * len(op.results)
    for c, i in enumerate(outs):
        result[i] = _with_type(b, new.results[c], op.results[i].type)
    return result
