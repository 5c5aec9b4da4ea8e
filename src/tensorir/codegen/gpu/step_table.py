"""The GPU's step table: which kind of step (``codegen/step_kinds.py``) each op runs as on a GPU.

An op runs as a GPU kernel where the CPU would run it as a kernel of a kind this backend has
kernels for: the checks that make an op lowerable (its scalar body, its dtypes, its ranks) are
the CPU's, so they are made once (``codegen/cpu/step_table.py``). Products whose form cuBLAS
takes (:data:`CUBLAS_FORMS`) are cuBLAS calls; the transfers ``tir.to_device``/``tir.to_host``
(``passes/device_transfer.py``) are copies. Every other op runs on the host, as its NumPy
reference, for the reason :data:`HOST_FALLBACK` (or the CPU's table) gives it.
"""

from __future__ import annotations

from tensorir.codegen.cpu import step_table as cpu_step_table
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Operation

__all__ = ["CONV_HOST_OPERANDS", "CUBLAS_FORMS", "CUBLAS_HOST_OPERANDS", "GPU_CALL_KINDS", "GPU_KERNEL_KINDS",
           "HOST_FALLBACK", "SCALARS_ON_HOST", "GPU_INDEX_OPS", "TRANSFER_OPS", "host_operands", "step_kind",
           "why_reference"]

#: The kinds with GPU kernels (``lower_elementwise.py``, ``lower_reduction.py``, ``lower_nn.py``;
#: convolution and pooling: ``lower_conv.py`` around cuBLAS or cuDNN, ``lower_pool.py``).
GPU_KERNEL_KINDS = frozenset({StepKind.ELEMENTWISE, StepKind.REDUCTION, StepKind.ROW, StepKind.CONV_POOL})
#: The kinds the GPU runs without a kernel of their own: cuBLAS calls, copies between memories, and
#: loops over a body's GPU steps (``runtime/cuda/scan_steps.py``).
GPU_CALL_KINDS = frozenset({StepKind.BLAS, StepKind.TRANSFER, StepKind.LOOP})

#: Why each other kind runs on the host for now (issue 24's later parts say what replaces it).
HOST_FALLBACK: dict[StepKind, str] = {
    StepKind.INDEX: "GPU set_subtensor, inc_subtensor and pad_leading are not written yet",
    StepKind.COLLECTIVE: "NCCL collectives are not written yet: the allreduce runs over MPI on host buffers",
}

TRANSFER_OPS = ("tir.to_device", "tir.to_host")
#: Index ops the GPU runs: views (in place, or one strided copy; ``runtime/cuda/view_steps.py``)
#: and ``sum_to`` (a reduction). The other index ops run on the host (:data:`HOST_FALLBACK`).
GPU_INDEX_OPS = ("tir.subtensor", "tir.dimshuffle", "tir.reshape", "tir.slice_leading", "tir.flip_leading",
                 "tir.specify_shape", "tir.sum_to")
#: The products cuBLAS runs: op -> (indices of the matrix operands, the ranks they may have).
CUBLAS_FORMS: dict[str, tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]] = {
    "tir.gemm": ((2, 3), ((2, 2),)),
    "tir.gemv": ((2, 3), ((2, 1),)),
    "tir.dot": ((0, 1), ((2, 2), (2, 1))),
    "tir.batched_dot": ((0, 1), ((3, 3),)),
}
#: Operands a cuBLAS step reads on the host (alpha and beta: scalars passed by value).
CUBLAS_HOST_OPERANDS = {"tir.gemm": (1, 4), "tir.gemv": (1, 4)}
#: Operands a conv step reads on the host (the shape to produce, ``runtime/cuda/conv_steps.py``).
CONV_HOST_OPERANDS = {"tir.conv2d_grad_input": (2,), "tir.conv2d_grad_filters": (2,)}
_CUBLAS_DTYPES = ("float32", "float64")
#: Why an elementwise op of scalars runs on the host: scalars live there (Theano's rule), and
#: NumPy on them costs less than a launch and the copies there and back.
SCALARS_ON_HOST = "an op of scalars runs on the host, where scalars live"
_NOT_CUBLAS = ("cuBLAS runs float32 and float64 gemm, gemv, dot of a matrix with a matrix or a vector, and "
               "batched_dot of stacks of matrices; this form runs on the host")


def _cublas_form(op: Operation) -> bool:
    form = CUBLAS_FORMS.get(op.name)
    if form is None or not op.results:
        return False
    matrices, ranks = form
    dtype = op.results[0].type.dtype
    types = [op.operands[i].type for i in matrices]
    return dtype in _CUBLAS_DTYPES and all(t.dtype == dtype for t in types) and tuple(t.ndim for t in types) in ranks


def _decide(op: Operation) -> tuple[StepKind, str | None]:
    if op.name in TRANSFER_OPS:
        return StepKind.TRANSFER, None
    if _cublas_form(op):
        return StepKind.BLAS, None
    kind = cpu_step_table.step_kind(op)
    if kind is StepKind.ELEMENTWISE and all(v.type.ndim == 0 for v in (*op.operands, *op.results)):
        return StepKind.REFERENCE, SCALARS_ON_HOST
    if kind in GPU_KERNEL_KINDS or kind is StepKind.LOOP or (kind is StepKind.INDEX and op.name in GPU_INDEX_OPS):
        return kind, None
    if kind is StepKind.REFERENCE:
        return kind, cpu_step_table.why_reference(op)
    if kind is StepKind.BLAS:
        return StepKind.REFERENCE, _NOT_CUBLAS
    return StepKind.REFERENCE, HOST_FALLBACK[kind]


def step_kind(op: Operation) -> StepKind:
    """The kind of step ``op`` runs as on a GPU."""
    return _decide(op)[0]


def why_reference(op: Operation) -> str | None:
    """Why ``op`` runs its NumPy reference on the host (None when it runs on the GPU)."""
    return _decide(op)[1]


def host_operands(op: Operation) -> tuple[int, ...]:
    """The operands ``op``'s GPU step reads on the host (the transfer rewrite leaves them there):
    a product's alpha and beta, a view's indices and shapes."""
    kind = step_kind(op)
    if kind is StepKind.BLAS:
        return CUBLAS_HOST_OPERANDS.get(op.name, ())
    if kind is StepKind.INDEX:
        return tuple(range(1, len(op.operands)))
    if kind is StepKind.CONV_POOL:
        return CONV_HOST_OPERANDS.get(op.name, ())
    return ()
