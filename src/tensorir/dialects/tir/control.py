"""Control flow: ``tir.scan`` (loops), ``tir.if`` (lazy conditional) and leading-axis helpers.

Both region ops are isolated from above: a body reads only its block arguments, so every outer
value it uses is an explicit operand. Their vjp and jvp rules live in ``control_autodiff``.

``tir.scan`` operands: ``n_steps`` (int scalar; -1 runs as many steps as the sequences allow),
then the sequences, then one initial window per recurrent output, then the non-sequences.

- ``seq_taps``: per sequence, sorted taps; step ``t`` reads ``x[t + k + shift]`` with
  ``shift = max(0, -min(taps))`` (Theano's alignment: the earliest tap of step 0 reads row 0).
- ``state_taps``: per recurrent output, sorted negative taps; its initial window has
  ``w = -min(taps)`` rows. The output is a buffer in position order of ``w + n`` rows: the window
  then the ``n`` new values (``reverse``: the new values then the window, mirrored).
- ``keep``: per result, 0 for the whole buffer/trajectory or ``k`` for only the ``k`` entries
  computed last (a memory-saving form: ``reduce`` and shared-variable updates use ``k = 1``).
- ``reverse``: steps run ``t = n-1 .. 0`` but read and store by position (JAX's ``reverse``).
- ``until``: the body yields a last bool scalar; the loop stops after a step that yields true.
- ``with_index``: the body's first argument is the step position ``t`` (int64 scalar).
- ``truncate_gradient``: back-propagation through time covers only the last k steps (-1: all).

Body block arguments: ``[t]``, one per sequence tap, one per state tap, one per non-sequence.
Body yields: the new value of each recurrent output, then one value per plain (not fed back)
output, then the condition if ``until``. Results: one per yield except the condition.

vjp (back-propagation through time): a reverse ``tir.scan`` whose body recomputes the forward
step from the stored state buffers (nothing else is stored) and applies the body's vjp. Per
recurrent tap ``k`` it carries the cotangent sent to that tap (a recurrence with tap ``k``), per
non-sequence an accumulated cotangent (kept last value), per sequence tap a per-step cotangent.
jvp: one forward ``tir.scan`` carrying primal and tangent together.

``tir.if`` operands: the condition (bool or int scalar) then the captured values; its two regions
(then, else) take the captured values as block arguments and yield values of the result types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import YIELD
from tensorir.dialects.ir import Block, Operation, Region, Value, ancestors_topological, clone_operation
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result, types_compatible
from tensorir.dialects.types import DISCRETE_DTYPES, FLOAT_DTYPES, TensorType

RunBlock = Callable[[Block, Sequence[np.ndarray]], list[np.ndarray]]


def row_type(t: TensorType) -> TensorType:
    """The type of one row (the leading axis dropped)."""
    return TensorType(t.dtype, t.shape[1:])


def stacked_type(t: TensorType, rows: int | None = None) -> TensorType:
    """The type of ``rows`` values of type ``t`` stacked along a new leading axis."""
    return TensorType(t.dtype, (rows, *t.shape))


def _int_tuple(x: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in x)


# -- leading-axis helpers: dynamic slices, zero padding and reversal ------------------------------
class LeadingAxisOp(OpDef):
    """Base of the helpers working on the leading axis with int64 scalar bounds."""

    fusion = "shape"

    def _check_bounds(self, types: Sequence[TensorType]) -> TensorType:
        x, *bounds = types
        if x.ndim < 1:
            raise IRError(f"{self.name} needs a tensor of rank >= 1, got {x}")
        for t in bounds:
            if t.ndim != 0 or t.dtype not in DISCRETE_DTYPES:
                raise IRError(f"{self.name}: bounds must be integer scalars, got {t}")
        return x


class SliceLeading(LeadingAxisOp):
    """``slice_leading(x, start, stop)`` = ``x[start:stop]`` (``0 <= start <= stop <= len(x)``)."""

    name = "tir.slice_leading"
    arity = 3

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = self._check_bounds(types)
        return [TensorType(x.dtype, (None, *x.shape[1:]))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, start, stop = inputs[0], int(inputs[1]), int(inputs[2])
        if not 0 <= start <= stop <= x.shape[0]:
            raise ValueError(f"slice [{start}:{stop}] out of range for a leading dim of {x.shape[0]}")
        return [x[start:stop]]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None:
            return [None, None, None]
        x, start, stop = op.operands
        length = b.op("tir.shape_i", x, i=0)
        after = b.op("tir.sub", length, _as_int64(b, stop))
        return [b.op("tir.pad_leading", g, start, after), None, None]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, *op.operands[1:])]


class PadLeading(LeadingAxisOp):
    """``pad_leading(x, before, after)``: ``before`` zero rows, ``x``, then ``after`` zero rows."""

    name = "tir.pad_leading"
    arity = 3

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = self._check_bounds(types)
        return [TensorType(x.dtype, (None, *x.shape[1:]))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        x, before, after = inputs[0], int(inputs[1]), int(inputs[2])
        if before < 0 or after < 0:
            raise ValueError(f"negative padding ({before}, {after})")
        out = np.zeros((before + x.shape[0] + after, *x.shape[1:]), dtype=x.dtype)
        out[before : before + x.shape[0]] = x
        return [out]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        if g is None:
            return [None, None, None]
        x, before, _ = op.operands
        stop = b.op("tir.add", _as_int64(b, before), b.op("tir.shape_i", x, i=0))
        return [b.op("tir.slice_leading", g, before, stop), None, None]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        t = tangents[0]
        return [None if t is None else b.op(self, t, *op.operands[1:])]


class FlipLeading(LeadingAxisOp):
    """``flip_leading(x)`` = ``x[::-1]``."""

    name = "tir.flip_leading"
    arity = 1

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return [self._check_bounds(types)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [inputs[0][::-1]]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None if grads[0] is None else b.op(self, grads[0])]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        return [None if tangents[0] is None else b.op(self, tangents[0])]


def _as_int64(b: Any, v: Value) -> Value:
    return v if v.type.dtype == "int64" else b.op("tir.cast", v, dtype="int64")


# -- tir.scan ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanLayout:
    """Where each kind of operand, block argument, yield and result sits in a ``tir.scan``."""

    seq_taps: tuple[tuple[int, ...], ...]
    state_taps: tuple[tuple[int, ...], ...]
    n_nonseq: int
    n_nit: int
    with_index: bool
    until: bool

    @classmethod
    def of(cls, op: Operation) -> ScanLayout:
        a = op.attributes
        n_seq, n_state = len(a["seq_taps"]), len(a["state_taps"])
        return cls(a["seq_taps"], a["state_taps"], len(op.operands) - 1 - n_seq - n_state,
                   len(op.results) - n_state, bool(a["with_index"]), bool(a["until"]))

    @property
    def n_seq(self) -> int:
        return len(self.seq_taps)

    @property
    def n_state(self) -> int:
        return len(self.state_taps)

    def windows(self) -> list[int]:
        return [-taps[0] for taps in self.state_taps]

    # operand ranges
    def seq_operands(self, op: Operation) -> list[Value]:
        return op.operands[1 : 1 + self.n_seq]

    def init_operands(self, op: Operation) -> list[Value]:
        return op.operands[1 + self.n_seq : 1 + self.n_seq + self.n_state]

    def nonseq_operands(self, op: Operation) -> list[Value]:
        return op.operands[1 + self.n_seq + self.n_state :]

    # block argument ranges
    @property
    def n_seq_args(self) -> int:
        return sum(len(t) for t in self.seq_taps)

    @property
    def n_state_args(self) -> int:
        return sum(len(t) for t in self.state_taps)

    def split_args(self, args: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        """Block arguments as (index, sequence taps, state taps, non-sequences)."""
        i = int(self.with_index)
        s = i + self.n_seq_args
        r = s + self.n_state_args
        return list(args[:i]), list(args[i:s]), list(args[s:r]), list(args[r:])

    @property
    def n_args(self) -> int:
        return int(self.with_index) + self.n_seq_args + self.n_state_args + self.n_nonseq

    @property
    def n_yields(self) -> int:
        return self.n_state + self.n_nit + int(self.until)


def normalize_taps(taps: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(sorted(_int_tuple(t))) for t in taps)


def seq_shift(taps: Sequence[int]) -> int:
    """Offset that makes the earliest tap of step 0 read row 0."""
    return max(0, -taps[0])


def seq_steps(length: int, taps: Sequence[int]) -> int:
    """Number of steps a sequence of ``length`` rows allows with ``taps``."""
    return length - taps[-1] - seq_shift(taps)


class ScanDef(OpDef):
    """``tir.scan``: a loop whose body is a region (see the module docstring for the layout)."""

    name = "tir.scan"
    num_regions = 1
    fusion = "control"
    attributes = {
        "seq_taps": REQUIRED,
        "state_taps": REQUIRED,
        "keep": (),
        "reverse": False,
        "until": False,
        "with_index": False,
        "truncate_gradient": -1,
        "name": "",
    }

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.scan needs at least its n_steps operand")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        out["seq_taps"] = normalize_taps(out["seq_taps"])
        out["state_taps"] = normalize_taps(out["state_taps"])
        out["keep"] = _int_tuple(out["keep"])
        for key in ("reverse", "until", "with_index"):
            out[key] = bool(out[key])
        out["truncate_gradient"] = int(out["truncate_gradient"])
        out["name"] = str(out["name"] or "")
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        raise IRError("tir.scan result types come from its body: give result_types")

    @staticmethod
    def keep_of(op: Operation, i: int) -> int:
        keep = op.attributes["keep"]
        return keep[i] if i < len(keep) else 0

    def verify(self, op: Operation) -> None:
        a = op.attributes
        if len(op.regions) != 1 or len(op.regions[0].blocks) != 1:
            raise IRError("tir.scan has one region with one block")
        lay = ScanLayout.of(op)
        if lay.n_nonseq < 0 or lay.n_nit < 0:
            raise IRError("tir.scan has fewer operands or results than its taps declare")
        if len(a["keep"]) not in (0, len(op.results)) or any(k < 0 for k in a["keep"]):
            raise IRError(f"tir.scan: keep {a['keep']} must give a count >= 0 for each of {len(op.results)} results")
        n = op.operands[0].type
        if n.ndim != 0 or n.dtype not in DISCRETE_DTYPES:
            raise IRError(f"tir.scan: n_steps must be an integer scalar, got {n}")
        for taps in lay.seq_taps:
            if not taps or len(set(taps)) != len(taps):
                raise IRError(f"tir.scan: sequence taps {taps} must be distinct and non-empty")
        for taps in lay.state_taps:
            if not taps or len(set(taps)) != len(taps) or taps[-1] >= 0:
                raise IRError(f"tir.scan: recurrent taps {taps} must be distinct and negative")
        block = op.regions[0].block
        expected: list[TensorType] = [TensorType("int64", ())] if lay.with_index else []
        for x, taps in zip(lay.seq_operands(op), lay.seq_taps):
            if x.type.ndim < 1:
                raise IRError(f"tir.scan: a sequence must have rank >= 1, got {x.type}")
            expected += [row_type(x.type)] * len(taps)
        for x, taps in zip(lay.init_operands(op), lay.state_taps):
            if x.type.ndim < 1:
                raise IRError(f"tir.scan: an initial window must have rank >= 1, got {x.type}")
            expected += [row_type(x.type)] * len(taps)
        expected += [v.type for v in lay.nonseq_operands(op)]
        got = [arg.type for arg in block.arguments]
        if len(got) != len(expected) or any(not types_compatible(e, g) for e, g in zip(expected, got)):
            raise IRError(f"tir.scan: block arguments {got} do not match the operands, which give {expected}")
        term = block.terminator
        if term is None or term.name != "tir.yield" or len(term.operands) != lay.n_yields:
            raise IRError(f"tir.scan: the body must end with a tir.yield of {lay.n_yields} values")
        ys = [v.type for v in term.operands]
        for j, x in enumerate(lay.init_operands(op)):
            state = row_type(x.type)
            if ys[j].dtype != state.dtype or ys[j].ndim != state.ndim:
                raise IRError(f"tir.scan: recurrent output {j} yields {ys[j]}, its state has type {state}")
        for i, r in enumerate(op.results):
            inner = row_type(op.operands[1 + lay.n_seq + i].type) if i < lay.n_state else ys[i]
            k = self.keep_of(op, i)
            want = stacked_type(inner, k if k else None)
            if not types_compatible(want, r.type):
                raise IRError(f"tir.scan: result {i} has type {r.type}, the body gives {want}")
        if lay.until and (ys[-1].ndim != 0 or ys[-1].dtype not in DISCRETE_DTYPES):
            raise IRError(f"tir.scan: the until condition must be a bool scalar, got {ys[-1]}")

    # -- the reference semantics ---------------------------------------------------------------
    def evaluate(self, op: Operation, inputs: Sequence[np.ndarray], run_block: RunBlock) -> list[np.ndarray]:
        lay = ScanLayout.of(op)
        a = op.attributes
        label = f"scan {a['name']!r}" if a["name"] else "scan"
        seqs = list(inputs[1 : 1 + lay.n_seq])
        inits = list(inputs[1 + lay.n_seq : 1 + lay.n_seq + lay.n_state])
        nonseqs = list(inputs[1 + lay.n_seq + lay.n_state :])
        n = int(inputs[0])
        avail = [seq_steps(x.shape[0], taps) for x, taps in zip(seqs, lay.seq_taps)]
        if n < 0:
            if not seqs:
                raise ValueError(f"{label} has no sequences: give n_steps")
            n = max(0, min(avail))
        elif avail and n > min(avail):
            s = avail.index(min(avail))
            raise ValueError(f"{label}: n_steps={n} but sequence {s} (of {seqs[s].shape[0]} rows, taps "
                             f"{list(lay.seq_taps[s])}) allows only {max(min(avail), 0)} steps")
        windows = lay.windows()
        hist: list[list[np.ndarray]] = []
        for j, (x, w) in enumerate(zip(inits, windows)):
            if x.shape[0] != w:
                raise ValueError(f"{label}: recurrent output {j} with taps {list(lay.state_taps[j])} needs an "
                                 f"initial value with {w} rows, got shape {x.shape}")
            rows = list(x)
            hist.append(rows[::-1] if a["reverse"] else rows)
        limits = [max(self.keep_of(op, j), w) if self.keep_of(op, j) else 0 for j, w in enumerate(windows)]
        nits: list[list[np.ndarray]] = [[] for _ in range(lay.n_nit)]
        block = op.regions[0].block
        shifts = [seq_shift(taps) for taps in lay.seq_taps]
        ran = 0
        for i in range(n):
            t = n - 1 - i if a["reverse"] else i
            args: list[np.ndarray] = [np.asarray(t, dtype=np.int64)] if lay.with_index else []
            for x, taps, shift in zip(seqs, lay.seq_taps, shifts):
                args.extend(x[t + k + shift] for k in taps)
            for h, taps in zip(hist, lay.state_taps):
                args.extend(h[k] for k in taps)
            args.extend(nonseqs)
            outs = run_block(block, args)
            for j, h in enumerate(hist):
                new = outs[j]
                if new.shape != h[-1].shape:
                    raise ValueError(f"{label}: recurrent output {j} changed shape from {h[-1].shape} to "
                                     f"{new.shape} at step {i}; its new value must keep the state's shape")
                h.append(new)
                if limits[j] and len(h) > limits[j]:
                    del h[0]
            for m in range(lay.n_nit):
                nits[m].append(outs[lay.n_state + m])
                k = self.keep_of(op, lay.n_state + m)
                if k and len(nits[m]) > k:
                    del nits[m][0]
            ran = i + 1
            if lay.until and bool(outs[-1]):
                break
        results: list[np.ndarray] = []
        for i, r in enumerate(op.results):
            rows = hist[i] if i < lay.n_state else nits[i - lay.n_state]
            k = self.keep_of(op, i)
            if k:
                if len(rows) < k:
                    raise ValueError(f"{label}: result {i} keeps the last {k} values but only {ran} steps ran")
                rows = rows[-k:]
            if a["reverse"]:
                rows = rows[::-1]
            if rows:
                results.append(cast_result(np.stack(rows), r.type))
            else:
                shape = (0, *(d if d is not None else 0 for d in r.type.shape[1:]))
                results.append(np.zeros(shape, dtype=r.type.dtype))
        return results

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return scan_vjp(b, op, grads)

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        return scan_jvp(b, op, tangents)


# -- tir.if -----------------------------------------------------------------------------------------
class IfDef(OpDef):
    """``tir.if(cond, captured...)``: runs the then region when ``cond`` is true, else the other."""

    name = "tir.if"
    num_regions = 2
    fusion = "control"

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.if needs a condition operand")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        raise IRError("tir.if result types come from its regions: give result_types")

    def verify(self, op: Operation) -> None:
        cond = op.operands[0].type
        if cond.ndim != 0:
            raise IRError(f"tir.if: the condition must be a scalar, got {cond}")
        if len(op.regions) != 2 or any(len(r.blocks) != 1 for r in op.regions):
            raise IRError("tir.if has two regions (then, else) of one block each")
        captured = [v.type for v in op.operands[1:]]
        for name, region in zip(("then", "else"), op.regions):
            block = region.block
            args = [a.type for a in block.arguments]
            if len(args) != len(captured) or any(not types_compatible(c, t) for c, t in zip(captured, args)):
                raise IRError(f"tir.if: {name} block arguments {args} do not match the captured operands {captured}")
            term = block.terminator
            if term is None or term.name != "tir.yield" or len(term.operands) != len(op.results):
                raise IRError(f"tir.if: the {name} region must end with a tir.yield of {len(op.results)} values")
            for i, (v, r) in enumerate(zip(term.operands, op.results)):
                if not types_compatible(v.type, r.type):
                    raise IRError(f"tir.if: the {name} branch yields {v.type} for result {i} of type {r.type}")

    def evaluate(self, op: Operation, inputs: Sequence[np.ndarray], run_block: RunBlock) -> list[np.ndarray]:
        region = op.regions[0] if bool(inputs[0]) else op.regions[1]
        outs = run_block(region.block, list(inputs[1:]))
        return [cast_result(o, r.type) for o, r in zip(outs, op.results)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return if_vjp(b, op, grads)

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        return if_jvp(b, op, tangents)


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
        for v, g in zip(o.operands, o.opdef.vjp(b, o, out_grads)):
            if g is not None and id(v) in dependent and _is_float(v):
                accumulate(v, g)
    return [grads.get(id(v)) for v in wrt]


def body_jvp(b: Builder, outputs: Sequence[Value], wrt: Sequence[Value],
             tangents: Sequence[Value]) -> list[Value | None]:
    """Tangents of ``outputs`` given tangents of ``wrt`` (forward mode over a body)."""
    tan: dict[int, Value] = {id(v): t for v, t in zip(wrt, tangents)}
    for o in ancestors_topological(outputs, stop=wrt):
        ins = [tan.get(id(v)) for v in o.operands]
        if all(t is None for t in ins) or not o.opdef.differentiable:
            continue
        if not o.opdef.has_jvp:
            raise NotImplementedError(f"{o.name} (inside a loop or conditional) has no jvp rule")
        for r, t in zip(o.results, o.opdef.jvp(b, o, ins)):
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


SCAN = ScanDef()
IF = IfDef()
OPS: list[OpDef] = [SCAN, IF, SliceLeading(), PadLeading(), FlipLeading()]
