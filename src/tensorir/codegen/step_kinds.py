"""The kinds of step a compiled function's plan is made of, the same for every device.

An op (or a fused group) becomes one step of one kind; each device decides the kind once, in its
step table (``codegen/cpu/step_table.py`` for the CPU), and that one decision is read by the
executor (which builds the device's step for the kind), by the module lowering (which emits the
kernels of the kernel kinds) and so by ``tensorir-opt --emit=mlir``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["KERNEL_KINDS", "StepKind"]


class StepKind(StrEnum):
    """What runs an op: a generated kernel family, a library, a view, a loop, or the reference."""

    ELEMENTWISE = "elementwise kernel"  # a fused elementwise body or a lone elementwise op
    REDUCTION = "reduction kernel"  # a reduction, with or without a fused elementwise body
    ROW = "row kernel"  # the softmax family and the cross-entropies, one row at a time
    CONV_POOL = "conv/pool kernel"  # convolutions, pooling and their gradients
    INDEX = "index/view step"  # basic indexing, views, sum_to: NumPy views or strided copies
    BLAS = "BLAS call"  # matrix products on the platform's BLAS
    LOOP = "native loop"  # scan: the body's plan recorded once and replayed per step
    TRANSFER = "transfer"  # tir.to_device / tir.to_host: a copy between host and GPU memory
    COLLECTIVE = "collective step"  # a transfer between processes on the group's communicator (MPI, NCCL)
    REFERENCE = "NumPy reference"  # the op's reference implementation, in Python


#: Kinds whose kernels a device's module lowering emits without knowing the call's shapes.
KERNEL_KINDS = frozenset({StepKind.ELEMENTWISE, StepKind.REDUCTION, StepKind.ROW})
