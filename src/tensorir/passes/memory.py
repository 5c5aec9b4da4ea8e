"""Memory planning: results written in place into an operand's buffer at its last use.

An op whose declaration has an ``inplace`` attribute (``tir.fused``, ``tir.gemm``, ``tir.gemv``,
``tir.ger``) may write its result into the buffer of one operand when:

- that operand has the result's dtype and rank, and no dim that is statically 1 where the
  result's is not (the shapes may agree; a backend still checks the run-time shapes);
- this op is its only user (its last use, and not a function result);
- the buffer is the operand's own: made by an op that allocates (not a view such as a
  reshape or dimshuffle, not an identity op, not a constant), or a function argument the caller
  donates (``donated``: argument indices, e.g. shared variables whose update is this result);
- for ``tir.fused``, the body is elementwise (no trailing reduction: element ``i`` of the result
  depends only on element ``i`` of each operand, so overwriting as you go is safe); for the BLAS
  ops only the accumulated operand (``c``, ``y``, ``a``) qualifies, as in Theano's ``Gemm{inplace}``.

The plan is an analysis result (``plan_inplace``) that the pass writes into the ``inplace``
attributes for the native backend; the reference executor ignores it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.ir import BlockArgument, Operation, Value
from tensorir.passes.pass_manager import Pass, PassOptionError

#: ops that return (a view of) their operand: their result does not own a buffer.
ALIASING_OPS = ("tir.zero_grad", "tir.disconnected_grad", "tir.grad_clip", "tir.grad_scale")
ACCUMULATED_OPERAND = {"tir.gemm": 0, "tir.gemv": 0, "tir.ger": 0}


def owns_buffer(v: Value, func: Operation, donated: frozenset[int]) -> bool:
    """Whether ``v`` is a buffer of its own that may be overwritten once it is dead."""
    if isinstance(v, BlockArgument):
        return v.block is func.regions[0].block and v.index in donated
    owner = v.owner
    if owner is None or owner.opdef is CONSTANT or owner.opdef.fusion == "shape" or owner.name in ALIASING_OPS:
        return False
    return True


def _shape_may_match(v: Value, result: Value) -> bool:
    if v.type.dtype != result.type.dtype or v.type.ndim != result.type.ndim:
        return False
    for d, r in zip(v.type.shape, result.type.shape):
        if d is not None and r is not None and d != r:
            return False
        if d == 1 and r != 1:
            return False
    return True


def _candidates(op: Operation) -> Iterable[int]:
    if op.name in ACCUMULATED_OPERAND:
        return (ACCUMULATED_OPERAND[op.name],)
    if op.name == "tir.fused":
        if op.attributes.get("reduce") is not None or len(op.results) != 1:
            return ()
        return range(len(op.operands))
    return ()


def plan_inplace(func: Operation, donated: Iterable[int] = ()) -> dict[Operation, int]:
    """For each op of ``func``'s body that can run in place: the operand whose buffer it reuses."""
    donated_set = frozenset(donated)
    plan: dict[Operation, int] = {}
    claimed: set[int] = set()
    for op in func.regions[0].block.operations:
        if "inplace" not in op.opdef.attributes or len(op.results) != 1:
            continue
        result = op.results[0]
        for i in _candidates(op):
            v = op.operands[i]
            if id(v) in claimed or not _shape_may_match(v, result):
                continue
            if any(user is not op for user, _ in v.uses) or not owns_buffer(v, func, donated_set):
                continue
            plan[op] = i
            claimed.add(id(v))
            break
    return plan


@dataclass
class MemoryPass(Pass):
    """Annotate ops that may write their result into a dead operand's buffer (``inplace`` attribute)."""

    name = "memory"
    summary = "in-place buffer reuse at an operand's last use (inplace attributes for the backend)"
    #: function arguments whose buffers may be overwritten, e.g. "3,4" (shared variables with updates)
    donated: str = ""

    def donated_args(self) -> list[int]:
        try:
            return [int(t) for t in self.donated.replace(",", " ").split()]
        except ValueError:
            raise PassOptionError(f"memory: donated takes argument indices like '0,2', got {self.donated!r}") from None

    def run(self, func: Operation) -> bool:
        plan = plan_inplace(func, self.donated_args())
        changed = False
        for op in func.regions[0].block.operations:
            if "inplace" not in op.opdef.attributes:
                continue
            new = plan.get(op)
            if op.attributes.get("inplace") != new:
                op.attributes["inplace"] = new
                changed = True
        return changed
