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

from tensorir.dialects.ir import Block, Operation, Value
from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result, types_compatible
from tensorir.dialects.types import DISCRETE_DTYPES, TensorType

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


def scan_label(op: Operation) -> str:
    """How errors name a scan: by its name when it has one."""
    return f"scan {op.attributes['name']!r}" if op.attributes["name"] else "scan"


def checked_scan_inputs(op: Operation, inputs: Sequence[np.ndarray]
                        ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], int]:
    """(sequences, initial windows, non-sequences, step count) of a ``tir.scan`` call, or the
    ValueError a user should see (too few rows, no n_steps, a window of the wrong size)."""
    lay = ScanLayout.of(op)
    label = scan_label(op)
    seqs = list(inputs[1 : 1 + lay.n_seq])
    inits = list(inputs[1 + lay.n_seq : 1 + lay.n_seq + lay.n_state])
    nonseqs = list(inputs[1 + lay.n_seq + lay.n_state :])
    n = int(inputs[0])
    avail = [seq_steps(x.shape[0], taps) for x, taps in zip(seqs, lay.seq_taps)]
    if n < -1:
        raise ValueError(f"{label}: n_steps must be >= 0, got {n}")
    if n == -1:  # no n_steps given (or a symbolic one that is -1): the sequences decide
        if not seqs:
            raise ValueError(f"{label}: n_steps must be >= 0 (got -1 or none) when there are no sequences")
        n = max(0, min(avail))
    elif avail and n > min(avail):
        s = avail.index(min(avail))
        raise ValueError(f"{label}: n_steps={n} but sequence {s} (of {seqs[s].shape[0]} rows, taps "
                         f"{list(lay.seq_taps[s])}) allows only {max(min(avail), 0)} steps")
    for j, (x, w) in enumerate(zip(inits, lay.windows())):
        if x.shape[0] != w:
            raise ValueError(f"{label}: recurrent output {j} with taps {list(lay.state_taps[j])} needs an "
                             f"initial value with {w} rows, got shape {x.shape}")
    return seqs, inits, nonseqs, n


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
        label = scan_label(op)
        seqs, inits, nonseqs, n = checked_scan_inputs(op, inputs)
        windows = lay.windows()
        hist: list[list[np.ndarray]] = []
        for x in inits:
            rows = list(x)
            hist.append(rows[::-1] if a["reverse"] else rows)
        limits = [max(self.keep_of(op, j), w) if self.keep_of(op, j) else 0 for j, w in enumerate(windows)]
        nits: list[list[np.ndarray]] = [[] for _ in range(lay.n_nit)]
        block = op.regions[0].block
        # Per sequence tap: the rows it reads (views made once, in C) and its offset from t.
        # Indexing a list per step costs a fraction of ``x[t + k]`` (a new view every time),
        # which a backward loop with many sequences paid tens of microseconds a step for.
        seq_reads: list[tuple[list[np.ndarray], int]] = []
        for x, taps in zip(seqs, lay.seq_taps):
            shift = seq_shift(taps)
            rows = list(x[: n + taps[-1] + shift]) if n else []
            seq_reads.extend((rows, k + shift) for k in taps)
        ran = 0
        for i in range(n):
            t = n - 1 - i if a["reverse"] else i
            args: list[np.ndarray] = [np.asarray(t, dtype=np.int64)] if lay.with_index else []
            args += [rows[t + offset] for rows, offset in seq_reads]
            for h, taps in zip(hist, lay.state_taps):
                args.extend(h[k] for k in taps)
            args.extend(nonseqs)
            outs = run_block(block, args)
            push_step_outputs(label, i, outs, hist, limits, nits,
                              [self.keep_of(op, lay.n_state + m) for m in range(lay.n_nit)])
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
                # No step ran, so a dim only a step would tell is unknown: 1 broadcasts against
                # whatever the steps would have given (an empty stack added to, or multiplied
                # with, the rows of the loop's sequences stays empty and well formed).
                shape = (0, *(d if d is not None else 1 for d in r.type.shape[1:]))
                results.append(np.zeros(shape, dtype=r.type.dtype))
        return results

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        from tensorir.dialects.tir.control_autodiff import scan_vjp

        return scan_vjp(b, op, grads)

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        from tensorir.dialects.tir.control_autodiff import scan_jvp

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
        from tensorir.dialects.tir.control_autodiff import if_vjp

        return if_vjp(b, op, grads)

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        from tensorir.dialects.tir.control_autodiff import if_jvp

        return if_jvp(b, op, tangents)


SCAN = ScanDef()
IF = IfDef()
OPS: list[OpDef] = [SCAN, IF, SliceLeading(), PadLeading(), FlipLeading()]


def push_step_outputs(label: str, step: int, outs: Sequence[Any], hist: list[list[Any]], limits: Sequence[int],
                      nits: list[list[Any]], nit_keeps: Sequence[int]) -> None:
    """Append one loop step's outputs: the recurrent ones to their histories (which keep their last
    ``limits[j]`` rows when that is not 0; a state must keep its shape), the others to their rows
    (the last ``nit_keeps[m]`` when not 0). Shared by every device's loop over a scan's steps."""
    n_state = len(hist)
    for j, h in enumerate(hist):
        new = outs[j]
        if tuple(new.shape) != tuple(h[-1].shape):
            raise ValueError(f"{label}: recurrent output {j} changed shape from {h[-1].shape} to "
                             f"{new.shape} at step {step}; its new value must keep the state's shape")
        h.append(new)
        if limits[j] and len(h) > limits[j]:
            del h[0]
    for m, rows in enumerate(nits):
        rows.append(outs[n_state + m])
        if nit_keeps[m] and len(rows) > nit_keeps[m]:
            del rows[0]
