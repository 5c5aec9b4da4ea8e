"""Indexing ops: reads (basic and advanced), writes (set and scatter-add) and ``nonzero``.

The index is the attribute ``index``, a string in Python's notation with one entry per indexed
axis (axes not mentioned are taken whole): an int (``-1``), a slice (``1:``, ``::-2``), ``$`` for an
int scalar read from the next operand, or (advanced ops only) ``@`` for an index array operand:
an int array of any rank or a bool mask, which covers as many axes as it has dims. Operands
after the tensor(s) are read in the order their ``$``/``@`` appear: ``x[i:, ::k, idx]`` is
``"tir.advanced_subtensor"(%x, %i, %k, %idx) {index = "$:, ::$, @"}``.

Semantics are NumPy's, including where the dims of broadcast index arrays go (in place of the
first one when the advanced indices, ints included, are adjacent, else in front). Writes return a
new tensor; ``inc`` accumulates on repeated indices (``np.add.at``), ``set`` keeps the last write.
The vjp of a read is a scatter-add of the cotangent into zeros.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.tir.shape import zeros_like_value
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, TensorType, broadcast_shapes

#: an index part read from the next operand
RUNTIME = "$"

Entry = tuple[Any, ...]


@functools.lru_cache(maxsize=1024)
def parse_index(text: str) -> tuple[Entry, ...]:
    """``"0, 1:$, @"`` -> ``(("int", 0), ("slice", 1, "$", None), ("array",))``."""
    entries: list[Entry] = []
    if not text.strip():
        return ()
    for raw in text.split(","):
        part = raw.strip()
        if part == "@":
            entries.append(("array",))
        elif ":" in part:
            pieces = part.split(":")
            if len(pieces) > 3:
                raise IRError(f"invalid slice {part!r} in index {text!r}")
            pieces += [""] * (3 - len(pieces))
            entries.append(("slice", *(_scalar_part(p, text, allow_empty=True) for p in pieces)))
        else:
            entries.append(("int", _scalar_part(part, text, allow_empty=False)))
    return tuple(entries)


def _scalar_part(p: str, text: str, allow_empty: bool) -> Any:
    p = p.strip()
    if p == RUNTIME:
        return RUNTIME
    if p == "" and allow_empty:
        return None
    try:
        return int(p)
    except ValueError:
        expected = "expected an int, '$', a slice or '@'"
        raise IRError(f"invalid index entry {p!r} in {text!r}: {expected}") from None


def format_index(entries: Sequence[Entry]) -> str:
    """The inverse of ``parse_index``."""

    def part(v: Any) -> str:
        return "" if v is None else str(v)

    out = []
    for e in entries:
        if e[0] == "int":
            out.append(part(e[1]))
        elif e[0] == "array":
            out.append("@")
        else:
            _, start, stop, step = e
            text = f"{part(start)}:{part(stop)}"
            out.append(text + (f":{part(step)}" if step is not None else ""))
    return ", ".join(out)


def slice_length(dim: int | None, start: Any, stop: Any, step: Any) -> int | None:
    """Static length of ``x[start:stop:step]`` along a dim, or None when it depends on run time."""
    if dim == 0:
        return 0
    if step == 0:
        raise IRError("slice step cannot be zero")
    if RUNTIME in (start, stop, step):
        return None
    step = 1 if step is None else step
    if start is None and stop is None and abs(step) == 1:
        return dim
    if dim is None:
        return None
    return len(range(*slice(start, stop, step).indices(dim)))


def _check_int(name: str, v: Any, dim: int | None, axis: int) -> None:
    if isinstance(v, int) and dim is not None and not -dim <= v < dim:
        raise IRError(f"{name}: index {v} is out of bounds for axis {axis} with size {dim}")


def index_result_type(name: str, x: TensorType, entries: Sequence[Entry], operands: Sequence[TensorType],
                      advanced: bool) -> TensorType:
    """Type of ``x[index]``; checks the operands and what can be checked statically."""
    it = iter(operands)

    def scalar_operand() -> None:
        try:
            t = next(it)
        except StopIteration:
            raise IRError(f"{name}: fewer operands than '$'/'@' entries in the index") from None
        if t.ndim != 0 or t.dtype not in INT_DTYPES:
            raise IRError(f"{name}: a run-time index or slice bound must be an integer scalar, got {t}")

    axis = 0
    adv_positions: list[int] = []
    adv_shapes: list[tuple[int | None, ...]] = []
    slice_dims: list[tuple[int, int | None]] = []
    has_array = any(e[0] == "array" for e in entries)
    if advanced and not has_array:
        raise IRError(f"{name}: an advanced index needs at least one '@' entry (use tir.subtensor)")
    if not advanced and has_array:
        raise IRError(f"{name}: index arrays ('@') need the advanced_* ops")
    for pos, e in enumerate(entries):
        if axis >= x.ndim and not (e[0] == "array"):
            raise IRError(f"{name}: too many indices for a tensor of rank {x.ndim}")
        if e[0] == "int":
            if e[1] == RUNTIME:
                scalar_operand()
            _check_int(name, e[1], x.shape[axis], axis)
            if has_array:
                adv_positions.append(pos)
                adv_shapes.append(())
            axis += 1
        elif e[0] == "slice":
            for p in e[1:]:
                if p == RUNTIME:
                    scalar_operand()
            slice_dims.append((pos, slice_length(x.shape[axis], *e[1:])))
            axis += 1
        else:
            try:
                t = next(it)
            except StopIteration:
                raise IRError(f"{name}: fewer operands than '$'/'@' entries in the index") from None
            adv_positions.append(pos)
            if t.dtype == "bool":
                if t.ndim == 0 or axis + t.ndim > x.ndim:
                    raise IRError(f"{name}: a boolean mask of rank {t.ndim} does not fit axes {axis}.. "
                                  f"of {x}")
                for k, (m, d) in enumerate(zip(t.shape, x.shape[axis:axis + t.ndim])):
                    if None not in (m, d) and m != d:
                        raise IRError(f"{name}: boolean mask {t} does not match dim {axis + k} of {x} "
                                      f"(size {d})")
                adv_shapes.append((0,) if 0 in t.shape else (None,))
                axis += t.ndim
            elif t.dtype in INT_DTYPES:
                if axis >= x.ndim:
                    raise IRError(f"{name}: too many indices for a tensor of rank {x.ndim}")
                adv_shapes.append(t.shape)
                axis += 1
            else:
                raise IRError(f"{name}: index arrays must be integers or booleans, got {t}")
    if next(it, None) is not None:
        raise IRError(f"{name}: more operands than '$'/'@' entries in the index")
    rest = x.shape[axis:]
    if not has_array:
        return x.with_shape(tuple(d for _, d in slice_dims) + rest)
    try:
        bshape = broadcast_shapes(*adv_shapes, what=f"{name} index arrays")
    except ValueError as exc:
        raise IRError(str(exc)) from None
    first, last = adv_positions[0], adv_positions[-1]
    if adv_positions == list(range(first, last + 1)):
        before = tuple(d for p, d in slice_dims if p < first)
        after = tuple(d for p, d in slice_dims if p > last)
        dims = before + bshape + after + rest
    else:
        dims = bshape + tuple(d for _, d in slice_dims) + rest
    return x.with_shape(dims)


def numpy_key(
    entries: Sequence[Entry], operands: Sequence[np.ndarray], masks_as_nonzero: bool = False
) -> tuple[Any, ...]:
    """The NumPy index tuple for run-time operand values."""
    it = iter(operands)

    def value(v: Any) -> Any:
        return int(next(it)) if v == RUNTIME else v

    key: list[Any] = []
    for e in entries:
        if e[0] == "int":
            key.append(value(e[1]))
        elif e[0] == "slice":
            start, stop, step = (value(v) for v in e[1:])
            if step == 0:
                raise ValueError("slice step cannot be zero")
            key.append(slice(start, stop, step))
        else:
            a = np.asarray(next(it))
            if masks_as_nonzero and a.dtype == np.bool_:
                key.extend(np.nonzero(a))
            else:
                key.append(a)
    return tuple(key)


_NAMES = {
    (False, "read"): "tir.subtensor",
    (False, "set"): "tir.set_subtensor",
    (False, "inc"): "tir.inc_subtensor",
    (True, "read"): "tir.advanced_subtensor",
    (True, "set"): "tir.advanced_set_subtensor",
    (True, "inc"): "tir.advanced_inc_subtensor",
}


class IndexOp(OpDef):
    """One of the six indexing ops: ``mode`` read/set/inc, ``advanced`` with index arrays or not.

    Reads take ``(x, *index_operands)``; writes take ``(x, y, *index_operands)`` and return ``x``
    with ``x[index]`` replaced by (``set``) or incremented by (``inc``) ``y`` broadcast to it.
    """

    attributes = {"index": REQUIRED}

    def __init__(self, advanced: bool, mode: str) -> None:
        super().__init__(_NAMES[(advanced, mode)])
        self.advanced = advanced
        self.mode = mode
        self.fusion = "shape" if mode == "read" and not advanced else "opaque"

    @property
    def n_tensors(self) -> int:
        return 1 if self.mode == "read" else 2

    def check_arity(self, n: int) -> None:
        if n < self.n_tensors:
            raise IRError(f"{self.name} takes at least {self.n_tensors} operand(s), got {n}")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        if not isinstance(out["index"], str):
            raise IRError(f"{self.name}: the index attribute must be a string, got {out['index']!r}")
        # Canonical spelling, so that printing what was parsed gives the same text.
        out["index"] = format_index(parse_index(out["index"]))
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        entries = parse_index(attrs["index"])
        region = index_result_type(self.name, x, entries, types[self.n_tensors:], self.advanced)
        if self.mode == "read":
            return [region]
        y = types[1]
        if y.dtype != x.dtype:
            raise IRError(f"{self.name}: the value written has dtype {y.dtype}, the tensor has {x.dtype} "
                          "(cast the value)")
        if y.ndim > region.ndim:
            raise IRError(f"{self.name}: a value of rank {y.ndim} cannot be written into x[{attrs['index']}] "
                          f"of rank {region.ndim}")
        for yd, rd in zip(reversed(y.shape), reversed(region.shape)):
            if yd not in (None, 1) and rd is not None and yd != rd:
                raise IRError(f"{self.name}: a value of type {y} cannot be broadcast to x[{attrs['index']}] "
                              f"of shape {region.shape}")
        return [x]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        entries = parse_index(attrs["index"])
        x = inputs[0]
        if self.mode == "read":
            key = numpy_key(entries, inputs[1:])
            return [cast_result(x[key], types[0])]
        y = inputs[1]
        out = np.array(x, copy=True)
        if self.mode == "set":
            out[numpy_key(entries, inputs[2:])] = y
        elif self.advanced:
            # Repeated indices accumulate (a plain += would keep one of them).
            np.add.at(out, numpy_key(entries, inputs[2:], masks_as_nonzero=True), y)
        else:
            out[numpy_key(entries, inputs[2:])] += y
        return [out]

    # -- differentiation -------------------------------------------------------------------------
    def _sibling(self, mode: str) -> str:
        return _NAMES[(self.advanced, mode)]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        g = grads[0]
        x = op.operands[0]
        idx = op.operands[self.n_tensors:]
        none = [None] * len(op.operands)
        if g is None or x.type.dtype not in FLOAT_DTYPES:
            return none
        if g.type.dtype != x.type.dtype:
            g = b.op("tir.cast", g, dtype=x.type.dtype)
        index = op.attributes["index"]
        if self.mode == "read":
            return [b.op(self._sibling("inc"), zeros_like_value(b, x), g, *idx, index=index)] + none[1:]
        y = op.operands[1]
        region = b.op(self._sibling("read"), g, *idx, index=index)
        if region.type.shape != y.type.shape or None in y.type.shape:
            region = b.op("tir.sum_to", region, y)
        if self.mode == "set":
            zero = b.constant(np.zeros((), dtype=x.type.dtype))
            gx = b.op(self._sibling("set"), g, zero, *idx, index=index)
        else:
            gx = g
        return [gx, region] + none[2:]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        idx = op.operands[self.n_tensors:]
        index = op.attributes["index"]
        tx = tangents[0]
        if self.mode == "read":
            return [None if tx is None else b.op(self, tx, *idx, index=index)]
        ty = tangents[1]
        x = op.operands[0]
        if ty is None:
            if tx is None:
                return [None]
            if self.mode == "inc":
                return [tx]
        tx = zeros_like_value(b, x) if tx is None else tx
        ty = b.constant(np.zeros((), dtype=x.type.dtype)) if ty is None else ty
        return [b.op(self, tx, ty, *idx, index=index)]


class Nonzero(OpDef):
    """``nonzero(x)``: one int64 vector of positions per dim of ``x`` (NumPy's ``nonzero``)."""

    name = "tir.nonzero"
    arity = 1
    fusion = "opaque"
    differentiable = False

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        (x,) = types
        if x.ndim == 0:
            raise IRError("tir.nonzero: the operand must have at least one dim (NumPy deprecates rank 0)")
        n: int | None = 0 if 0 in x.shape else None
        return [TensorType("int64", (n,)) for _ in range(x.ndim)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return [a.astype(np.int64) for a in np.nonzero(inputs[0])]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None]


OPS: list[OpDef] = [IndexOp(adv, mode) for adv in (False, True) for mode in ("read", "set", "inc")]
OPS.append(Nonzero())

__all__ = ["OPS", "IndexOp", "Nonzero", "RUNTIME", "format_index", "index_result_type", "parse_index"]
