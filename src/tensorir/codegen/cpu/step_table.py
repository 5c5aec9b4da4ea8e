"""The CPU's step table: which kind of step (``codegen/step_kinds.py``) each op runs as.

The one place that decides it: the native executor builds its steps from :func:`step_kind`, and
the module lowering (``tensorir-opt --emit=mlir``) emits kernels and notes from the same answer.
The op families are data (the name tables below); an op is in at most one of them.
"""

from __future__ import annotations

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import ROW_OPS
from tensorir.codegen.cpu.lower_reduction import NATIVE_REDUCTIONS
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Operation

__all__ = ["BLAS_OPS", "COLLECTIVE_OPS", "CONV_POOL_OPS", "INDEX_OPS", "NAMED_KINDS", "step_kind", "why_reference"]

BLAS_OPS = ("tir.gemm", "tir.gemv", "tir.ger", "tir.dot")
CONV_POOL_OPS = ("tir.conv2d", "tir.conv2d_grad_input", "tir.conv2d_grad_filters",
                 "tir.pool2d", "tir.pool2d_grad", "tir.max_pool2d_select")  # fmt: skip
INDEX_OPS = ("tir.subtensor", "tir.set_subtensor", "tir.inc_subtensor", "tir.sum_to", "tir.dimshuffle",
             "tir.reshape", "tir.slice_leading", "tir.flip_leading", "tir.pad_leading",
             "tir.specify_shape", "tir.join")  # fmt: skip
#: Communication between processes: the runtime's collective step (runtime/collectives.py).
COLLECTIVE_OPS = ("tir.allreduce", "tir.allreduce_start", "tir.allreduce_wait")

#: Ops named by family. Elementwise ops are found by their declared fusion class instead.
NAMED_KINDS: dict[StepKind, tuple[str, ...]] = {
    StepKind.REDUCTION: NATIVE_REDUCTIONS,
    StepKind.ROW: ROW_OPS,
    StepKind.CONV_POOL: CONV_POOL_OPS,
    StepKind.INDEX: INDEX_OPS,
    StepKind.BLAS: BLAS_OPS,
    StepKind.COLLECTIVE: COLLECTIVE_OPS,
}
_KIND_OF_NAME = {name: kind for kind, names in NAMED_KINDS.items() for name in names}
#: Elementwise by fusion class but not a kernel: they make or name values, they compute nothing.
_NOT_KERNELS = ("tir.alloc", "tir.constant")


def _fused_kind(op: Operation) -> StepKind:
    body = ElementwiseBody.from_block(op.regions[0].block)
    body.validate()
    reduce = op.attributes.get("reduce")
    if reduce is not None:
        if reduce not in NATIVE_REDUCTIONS:
            raise NotLowerable(f"{reduce} has no native reduction")
        return StepKind.REDUCTION
    ranks = [v.type.ndim for v in op.operands]
    if ranks and max(ranks) != op.results[0].type.ndim:
        raise NotLowerable("result rank differs from the operands' broadcast rank")
    return StepKind.ELEMENTWISE


def _elementwise_kind(op: Operation) -> StepKind:
    ElementwiseBody.from_op(op).validate()
    ranks = [v.type.ndim for v in op.operands]
    if ranks and max(ranks) != op.results[0].type.ndim:
        raise NotLowerable("result rank differs from the operands' broadcast rank")
    return StepKind.ELEMENTWISE


def _named_kind(op: Operation, kind: StepKind) -> StepKind:
    if kind is StepKind.ROW:
        x = op.operands[1] if op.name == "tir.softmax_crossentropy_grad" else op.operands[0]
        if x.type.ndim == 0:
            raise NotLowerable("a row op of a scalar has no rows")
    return kind


def _classify(op: Operation) -> StepKind:
    """The kind, raising ``NotLowerable`` with the reason when the op must run its reference."""
    if op.name == "tir.fused" and op.results:
        return _fused_kind(op)
    if op.regions:
        if op.name == "tir.scan":
            return StepKind.LOOP
        raise NotLowerable("its region runs through the reference")
    kind = _KIND_OF_NAME.get(op.name)
    if kind is not None:
        return _named_kind(op, kind)
    if op.opdef.fusion == "elementwise" and len(op.results) == 1 and op.name not in _NOT_KERNELS:
        return _elementwise_kind(op)
    raise NotLowerable("no native step")


def step_kind(op: Operation) -> StepKind:
    """The kind of step ``op`` runs as on the CPU."""
    try:
        return _classify(op)
    except NotLowerable:
        return StepKind.REFERENCE


def why_reference(op: Operation) -> str | None:
    """Why ``op`` runs its NumPy reference (None when it has a native step)."""
    try:
        _classify(op)
    except NotLowerable as exc:
        return str(exc)
    return None
