"""Collective ops: communication between the processes of a data-parallel group.

``tir.allreduce(x_0, ..., x_n)`` gives, on every process of the group ``group`` (``group_size``
processes), the elementwise sum (``reduce = "sum"``) or mean (``"mean"``) over the processes of
each operand. It takes several operands at once so the runtime can pack them into a few large
messages (runtime/collectives.py): one latency per bucket instead of one per gradient.

Semantics declared here, transport elsewhere: the NumPy reference is the identity, which is the
op's meaning for a group of one process; for a larger group the native executor's collective step
calls the communicator bound to the group (MPI from ``tensorir.distributed``; NCCL plugs in behind
the same interface). The reference refuses a larger group rather than silently return local values.

Differentiation: with ``y = sum_r x_r`` on every process and a total loss ``L = sum_r L_r(y)``,
``dL/dx_r = sum_r' dL_r'/dy``: the vjp is the same allreduce of the cotangents (for the mean, the
mean of them), and the op is linear, so its jvp is the allreduce of the tangents.

The op is not pure: every process must issue the same collectives in the same order, so no rewrite
may merge, drop or constant-fold one on some processes only.

Overlap with the backward pass splits an allreduce (passes/schedule_collectives.py) into, per
operand, ``t = tir.allreduce_start(x)`` (the operand handed to the transport: its result is the
value in flight, a handle the runtime keeps, of ``x``'s type) and ``y = tir.allreduce_wait(t)``
(the reduced value), placed far apart. For one process ``wait(start(x)) == allreduce(x)``: both
references are copies. The two carry the allreduce's attributes and ``exchange`` (which split
allreduce of the function they belong to), ``index`` (the operand's position in the order the
starts run: the order the gradients are produced) and ``count`` (the exchange's operands); the
runtime packs the starts of one exchange into buckets in ``index`` order. The split runs after
autodiff, so neither has a vjp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tensorir.dialects.opdef import IRError, OpDef
from tensorir.dialects.types import FLOAT_DTYPES, TensorType

#: What ``reduce`` may be; the runtime maps each to its transport's operation.
REDUCTIONS = ("sum", "mean")


class AllreduceOp(OpDef):
    """``tir.allreduce(x...) {reduce, group, group_size, overlap}``: one result per operand, of its
    type. ``overlap``: split it into starts and waits so the transfer overlaps the computation
    between them (passes/schedule_collectives.py); false keeps one step that starts and waits."""

    name = "tir.allreduce"
    attributes = {"reduce": "mean", "group": "world", "group_size": 1, "overlap": True}
    fusion = "opaque"
    pure = False

    def check_arity(self, n: int) -> None:
        if n < 1:
            raise IRError("tir.allreduce takes at least one operand")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        reduce = attrs["reduce"]
        if reduce not in REDUCTIONS:
            raise IRError(f"tir.allreduce: reduce must be one of {REDUCTIONS}, got {reduce!r}")
        size = attrs["group_size"]
        if not isinstance(size, int) or size < 1:
            raise IRError(f"tir.allreduce: group_size must be a positive integer, got {size!r}")
        for i, t in enumerate(types):
            if reduce == "mean" and t.dtype not in FLOAT_DTYPES:
                raise IRError(f"tir.allreduce: a mean needs float operands, operand {i} is {t.dtype}")
        return list(types)

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        if attrs["group_size"] != 1:
            raise ValueError(
                f"tir.allreduce over the {attrs['group_size']} processes of group {attrs['group']!r} runs only "
                "in the native executor (mode FAST_RUN or FAST_COMPILE), which calls the group's communicator; "
                "the NumPy reference is the one-process case"
            )
        return [x.copy() for x in inputs]

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        present = [g for g in grads if g is not None]
        if not present:
            return [None] * len(grads)
        reduced = iter(b.create(self, present, op.attributes).results)
        return [None if g is None else next(reduced) for g in grads]

    def jvp(self, b, op, tangents):  # noqa: ANN001, ANN201
        return self.vjp(b, op, tangents)


class _SplitAllreduceOp(OpDef):
    """A half of a split ``tir.allreduce``: one operand, one result of its type."""

    attributes = {"reduce": "mean", "group": "world", "group_size": 1, "exchange": 0, "index": 0, "count": 1}
    fusion = "opaque"
    pure = False
    differentiable = False  # made after autodiff (passes/schedule_collectives.py)

    def check_arity(self, n: int) -> None:
        if n != 1:
            raise IRError(f"{self.name} takes one operand, got {n}")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        index, count = attrs["index"], attrs["count"]
        if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
            raise IRError(f"{self.name}: index must be in [0, count), got index {index!r} of count {count!r}")
        return AllreduceOp().infer(types, attrs)

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        return AllreduceOp().reference(inputs, attrs, types)


class AllreduceStartOp(_SplitAllreduceOp):
    """``tir.allreduce_start(x)``: hand ``x`` to the group's transport; the result is the value in flight."""

    name = "tir.allreduce_start"


class AllreduceWaitOp(_SplitAllreduceOp):
    """``tir.allreduce_wait(t)``: the reduced value of the ``tir.allreduce_start`` that made ``t``."""

    name = "tir.allreduce_wait"


OPS: list[OpDef] = [AllreduceOp(), AllreduceStartOp(), AllreduceWaitOp()]
