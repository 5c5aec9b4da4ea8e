"""The GPU step table: one kind per op on each device, the GPU's read from the same checks as the
CPU's; what has no GPU kernel yet runs on the host and says why; ``--emit=ptx`` reports it."""

from __future__ import annotations

import re

import pytest
from tests.codegen.cpu.test_step_table import _training_functions

import tensorir as tr
from tensorir.codegen.cpu import step_table as cpu
from tensorir.codegen.gpu import step_table as gpu
from tensorir.codegen.gpu.conv_pool_kernels import CONV_KERNELS
from tensorir.codegen.gpu.module_lowering import lower_to_gpu_mlir, lower_to_ptx
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.ir import Module
from tensorir.dialects.registry import _build

REGISTRY = _build()


def test_every_kind_has_exactly_one_gpu_decision() -> None:
    kernels, calls, fallback = set(gpu.GPU_KERNEL_KINDS), set(gpu.GPU_CALL_KINDS), set(gpu.HOST_FALLBACK)
    assert not kernels & fallback and not calls & fallback and not kernels & calls
    assert kernels | calls | fallback | {StepKind.REFERENCE} == set(StepKind)
    assert all(reason for reason in gpu.HOST_FALLBACK.values())


def test_every_named_op_has_a_gpu_decision() -> None:
    for kind, names in cpu.NAMED_KINDS.items():
        for name in names:
            assert name in REGISTRY
            decisions = (kind in gpu.GPU_KERNEL_KINDS, kind in gpu.GPU_CALL_KINDS, kind in gpu.HOST_FALLBACK)
            assert sum(decisions) == 1, (name, kind)


@pytest.fixture(scope="module")
def functions() -> dict[str, tr.Function]:
    """The CPU table's models, whose ops take every kind of step on the CPU."""
    return _training_functions()


def _ops(f: tr.Function) -> list:
    return [op for op in f.func.regions[0].block.operations if op.name not in ("func.return", "tir.constant")]


def _kernel_count(ops: list) -> int:
    """Kernels ``--emit=ptx`` gives these ops: one per GPU kernel op, a convolution's implicit GEMM
    kernels (``conv_pool_kernels.CONV_KERNELS``) for a convolution."""
    return sum(len(CONV_KERNELS.get(op.name, (None,))) for op in ops if gpu.step_kind(op) in gpu.GPU_KERNEL_KINDS)


def test_each_op_has_one_kind_per_device(functions: dict[str, tr.Function]) -> None:
    seen: set[StepKind] = set()
    for name, f in functions.items():
        for op in _ops(f):
            on_cpu, on_gpu = cpu.step_kind(op), gpu.step_kind(op)
            seen.add(on_cpu)
            if on_cpu in gpu.GPU_KERNEL_KINDS and on_gpu is StepKind.REFERENCE:  # scalars stay on the host
                assert gpu.why_reference(op) == gpu.SCALARS_ON_HOST and op.results[0].type.ndim == 0, (name, op.name)
            elif on_cpu in gpu.GPU_KERNEL_KINDS:
                assert on_gpu is on_cpu and gpu.why_reference(op) is None, (name, op.name)
            elif on_gpu is StepKind.INDEX:  # a view or sum_to
                assert op.name in gpu.GPU_INDEX_OPS and gpu.why_reference(op) is None, (name, op.name)
            elif on_gpu is StepKind.LOOP:  # a scan: its body's GPU steps
                assert on_cpu is StepKind.LOOP and op.name == "tir.scan", (name, op.name)
            elif on_gpu is StepKind.BLAS:  # a product cuBLAS takes (batched_dot's reference on the CPU)
                assert on_cpu in (StepKind.BLAS, StepKind.REFERENCE) and gpu.why_reference(op) is None, (name, op.name)
            else:
                assert on_gpu is StepKind.REFERENCE and gpu.why_reference(op), (name, op.name, on_cpu)
            if on_cpu in gpu.HOST_FALLBACK and on_gpu is StepKind.REFERENCE:
                assert gpu.why_reference(op) == gpu.HOST_FALLBACK[on_cpu]
    # Transfers appear in device=cuda plans only (passes/device_transfer.py).
    assert seen >= set(StepKind) - {StepKind.REFERENCE, StepKind.TRANSFER}, sorted(set(StepKind) - seen)


def test_emit_ptx_notes_the_host_steps(functions: dict[str, tr.Function]) -> None:
    for name, f in functions.items():
        text = lower_to_gpu_mlir(Module([f.func]))
        ops = _ops(f)
        noted = re.findall(r"^// @\S+: (tir\.\w+): NumPy reference on the host \((.+)\)$", text, flags=re.M)
        assert noted == [(op.name, gpu.why_reference(op)) for op in ops if gpu.step_kind(op) is StepKind.REFERENCE]
        kernels = re.findall(r"^    gpu\.func @(\w+)\(", text, flags=re.M)
        assert len(kernels) == _kernel_count(ops), name


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas is not installed")
def test_a_training_step_assembles(functions: dict[str, tr.Function]) -> None:
    f = functions["logreg"]
    ptx = lower_to_ptx(Module([f.func]), "sm_80")
    cubin, messages = assemble(ptx, "sm_80")
    assert cubin, messages
    kinds = {gpu.step_kind(op) for op in _ops(f)}
    assert {StepKind.ELEMENTWISE, StepKind.REDUCTION, StepKind.ROW} <= kinds
    assert ptx.count(".visible .entry") == _kernel_count(_ops(f))
