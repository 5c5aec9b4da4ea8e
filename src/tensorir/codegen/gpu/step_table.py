"""The GPU's step table: which kind of step (``codegen/step_kinds.py``) each op runs as on a GPU.

An op runs as a GPU kernel where the CPU would run it as a kernel of a kind this backend has
kernels for: the checks that make an op lowerable (its scalar body, its dtypes, its ranks) are
the CPU's, so they are made once (``codegen/cpu/step_table.py``). Every other kind runs on the
host, as the op's NumPy reference, for the reason :data:`HOST_FALLBACK` gives it.
"""

from __future__ import annotations

from tensorir.codegen.cpu import step_table as cpu_step_table
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Operation

__all__ = ["GPU_KERNEL_KINDS", "HOST_FALLBACK", "step_kind", "why_reference"]

#: The kinds with GPU kernels (``lower_elementwise.py``, ``lower_reduction.py``, ``lower_nn.py``).
GPU_KERNEL_KINDS = frozenset({StepKind.ELEMENTWISE, StepKind.REDUCTION, StepKind.ROW})

#: Why each other kind runs on the host for now (issue 24's later parts say what replaces it).
HOST_FALLBACK: dict[StepKind, str] = {
    StepKind.CONV_POOL: "GPU convolution and pooling are not written yet (NVIDIA GPUs, part 2)",
    StepKind.INDEX: "GPU indexing and view steps are not written yet",
    StepKind.BLAS: "the cuBLAS calls are not written yet",
    StepKind.LOOP: "GPU loops (scan) are not written yet (NVIDIA GPUs, part 2)",
    StepKind.COLLECTIVE: "NCCL collectives are not written yet: the allreduce runs over MPI on host buffers",
}


def _decide(op: Operation) -> tuple[StepKind, str | None]:
    kind = cpu_step_table.step_kind(op)
    if kind in GPU_KERNEL_KINDS:
        return kind, None
    if kind is StepKind.REFERENCE:
        return kind, cpu_step_table.why_reference(op)
    return StepKind.REFERENCE, HOST_FALLBACK[kind]


def step_kind(op: Operation) -> StepKind:
    """The kind of step ``op`` runs as on a GPU."""
    return _decide(op)[0]


def why_reference(op: Operation) -> str | None:
    """Why ``op`` runs its NumPy reference on the host (None when it has a GPU kernel)."""
    return _decide(op)[1]
