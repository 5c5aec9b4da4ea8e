"""``tir.fused``: a group of elementwise ops (and optionally a trailing reduction) run as one loop nest.

The op's region has one block with a rank-0 argument per operand, of the operand's dtype: the
per-element body. It ends in ``tir.yield`` of rank-0 values, one per result. Operands broadcast
against each other like the operands of any elementwise op; element ``i`` of a result is the body
applied to element ``i`` of the broadcast operands. With ``reduce`` set (``"tir.sum"``, ...), the
single yielded value is then reduced over ``axis`` (``keepdims`` as for the reduction op), so a
backend can accumulate inside the same loop nest instead of storing the elementwise result.

Example (``sum(exp(x) * y, axis=1)``)::

    %r = "tir.fused"(%x, %y) ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %e = "tir.exp"(%a) : (tensor<f32>) -> tensor<f32>
      %m = "tir.mul"(%e, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "tir.yield"(%m) : (tensor<f32>) -> ()
    }) {axis = array<i64: 1>, inplace = unit, keepdims = false, reduce = "tir.sum"}
       : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?xf32>

``inplace`` (set by the ``memory`` pass) is the operand whose buffer the result may reuse, or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.ir import Block, Operation, Value
from tensorir.dialects.opdef import IRError, OpDef, cast_result
from tensorir.dialects.types import TensorType

#: reductions that may end a fused group: plain accumulations with only ``axis``/``keepdims``.
FUSABLE_REDUCTIONS = ("tir.sum", "tir.prod", "tir.max", "tir.min", "tir.mean", "tir.all", "tir.any")


def _reduction(name: str) -> OpDef:
    from tensorir.dialects.registry import OPS

    return OPS[name]


class Fused(OpDef):
    """A fused elementwise loop nest; see the module docstring."""

    name = "tir.fused"
    fusion = "opaque"
    num_regions = 1
    attributes = {"reduce": None, "axis": None, "keepdims": False, "inplace": None}

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        if out["axis"] is not None:
            out["axis"] = tuple(int(a) for a in out["axis"])
        out["keepdims"] = bool(out["keepdims"])
        return out

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        raise IRError("tir.fused takes its result types from the fused ops; pass result_types")

    def verify(self, op: Operation) -> None:
        if len(op.regions) != 1 or len(op.regions[0].blocks) != 1:
            raise IRError("tir.fused needs one region with one block")
        block = op.regions[0].block
        if len(block.arguments) != len(op.operands):
            raise IRError(f"tir.fused: {len(op.operands)} operands but {len(block.arguments)} block arguments")
        for i, (arg, v) in enumerate(zip(block.arguments, op.operands)):
            if arg.type != TensorType(v.type.dtype, ()):
                raise IRError(
                    f"tir.fused: block argument {i} must be {TensorType(v.type.dtype, ())} "
                    f"(rank 0, the operand's dtype), got {arg.type}"
                )
        term = block.terminator
        if term is None or term.name != "tir.yield":
            raise IRError("tir.fused: the body must end with tir.yield")
        if len(term.operands) != len(op.results):
            raise IRError(f"tir.fused: body yields {len(term.operands)} values for {len(op.results)} results")
        for inner in block.operations[:-1]:
            if inner.opdef.fusion != "elementwise" or inner.regions:
                raise IRError(f"tir.fused: {inner.name} in the body is not an elementwise op")
            if any(r.type.ndim != 0 for r in inner.results):
                raise IRError(f"tir.fused: {inner.name} in the body must compute rank-0 values")
        reduce = op.attributes["reduce"]
        if reduce is None:
            for i, (v, r) in enumerate(zip(term.operands, op.results)):
                if v.type.dtype != r.type.dtype:
                    raise IRError(f"tir.fused: result {i} has dtype {r.type.dtype}, the body yields {v.type.dtype}")
            return
        if reduce not in FUSABLE_REDUCTIONS:
            raise IRError(f"tir.fused: reduce must be one of {', '.join(FUSABLE_REDUCTIONS)}, got {reduce!r}")
        if len(op.results) != 1:
            raise IRError("tir.fused: a fused reduction has one result")
        expected = (
            _reduction(reduce)
            .infer([TensorType(term.operands[0].type.dtype, ())], {"axis": None, "keepdims": False})[0]
            .dtype
        )
        if op.results[0].type.dtype != expected:
            raise IRError(
                f"tir.fused: {reduce} of {term.operands[0].type.dtype} gives {expected}, "
                f"the result is {op.results[0].type.dtype}"
            )

    def expand(self, b: Builder, op: Operation) -> tuple[list[Operation], list[Value]]:
        """The unfused ops (built with ``b`` on the operands) and the values standing for the results."""
        block = op.regions[0].block
        env: dict[int, Value] = {id(a): v for a, v in zip(block.arguments, op.operands)}
        built: list[Operation] = []
        outputs: list[Value] = []
        for inner in block.operations:
            args = [env[id(v)] for v in inner.operands]
            if inner.name == "tir.yield":
                outputs = args
                break
            new = b.create(inner.opdef, args, inner.attributes)
            built.append(new)
            for r, nr in zip(inner.results, new.results):
                env[id(r)] = nr
        reduce = op.attributes["reduce"]
        if reduce is not None:
            attrs = {"axis": op.attributes["axis"], "keepdims": op.attributes["keepdims"]}
            new = b.create(_reduction(reduce), outputs, attrs)
            built.append(new)
            outputs = list(new.results)
        return built, outputs

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        """Reverse mode through the expanded body: each inner op's vjp, cotangents summed per value."""
        built, outputs = self.expand(b, op)
        cotangent: dict[int, Value] = {}

        def accumulate(v: Value, g: Value) -> None:
            old = cotangent.get(id(v))
            cotangent[id(v)] = g if old is None else b.op("tir.add", old, g)

        for v, g in zip(outputs, grads):
            if g is not None:
                accumulate(v, g)
        for inner in reversed(built):
            gs = [cotangent.get(id(r)) for r in inner.results]
            if all(g is None for g in gs) or not inner.opdef.differentiable:
                continue
            for v, g in zip(inner.operands, inner.opdef.vjp(b, inner, gs)):
                if g is not None:
                    accumulate(v, g)
        return [cotangent.get(id(v)) for v in op.operands]

    def evaluate(
        self,
        op: Operation,
        inputs: Sequence[np.ndarray],
        run_block: Callable[[Block, Sequence[np.ndarray]], list[np.ndarray]] | None = None,
    ) -> list[np.ndarray]:
        """Run the body once on the whole (broadcasting) operand arrays, then the reduction if any.

        The body's ops broadcast like NumPy, so this is the per-element semantics vectorized.
        (``run_block`` is not used: it checks results against the body's rank-0 types.)
        """
        block = op.regions[0].block
        env: dict[int, np.ndarray] = {id(a): np.asarray(x) for a, x in zip(block.arguments, inputs)}
        yielded: list[np.ndarray] = []
        for inner in block.operations:
            args = [env[id(v)] for v in inner.operands]
            if inner.name == "tir.yield":
                yielded = args
                break
            outs = inner.opdef.reference(args, inner.attributes, [r.type for r in inner.results])
            for r, out in zip(inner.results, outs):
                env[id(r)] = np.asarray(out)
        reduce = op.attributes["reduce"]
        if reduce is not None:
            attrs = {"axis": op.attributes["axis"], "keepdims": op.attributes["keepdims"]}
            yielded = list(_reduction(reduce).reference(yielded, attrs, [r.type for r in op.results]))
        return [cast_result(np.array(y), r.type) for y, r in zip(yielded, op.results)]


OPS: list[OpDef] = [Fused()]

__all__ = ["FUSABLE_REDUCTIONS", "Fused", "OPS"]
