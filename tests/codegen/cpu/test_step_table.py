"""The CPU step table: one kind per op, and the executor and ``--emit=mlir`` read the same answer."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.module_lowering import lower_to_llvm, lower_to_mlir
from tensorir.codegen.cpu.step_table import NAMED_KINDS, step_kind
from tensorir.codegen.step_kinds import KERNEL_KINDS, StepKind
from tensorir.dialects.ir import Module
from tensorir.dialects.registry import _build
from tensorir.frontend.variable import apply_op
from tensorir.tensor.signal import pool

REGISTRY = _build()


def test_every_named_op_exists_and_is_in_one_family() -> None:
    seen: dict[str, StepKind] = {}
    for kind, names in NAMED_KINDS.items():
        for name in names:
            assert name in REGISTRY, f"{name} ({kind}) is not a registered op"
            assert name not in seen, f"{name} is both {seen[name]} and {kind}"
            seen[name] = kind
            # Elementwise ops are found by their fusion class: a named one would have two kinds.
            assert REGISTRY[name].fusion != "elementwise", f"{name} is elementwise and {kind}"


def _training_functions() -> dict[str, tr.Function]:
    """Small models that together use every kind of step."""
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.ivector("y")
    W = tr.shared(rng.standard_normal((6, 4)) * 0.1, name="W")
    b = tr.shared(np.zeros(4), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    # Data-parallel over a one-process group: the collective step with nothing to send.
    gW, gb = apply_op("tir.allreduce", *tr.grad(cost, [W, b]), reduce="mean")
    logreg = tr.function([x, y], [cost, p.max(axis=1)], updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)])

    images = T.tensor4("images")
    F = tr.shared(rng.standard_normal((3, 1, 3, 3)) * 0.1, name="F")
    h = T.tanh(pool.pool_2d(T.nnet.conv2d(images, F), ws=(2, 2), ignore_border=True))
    conv_cost = T.sum(h**2)
    conv = tr.function([images], [conv_cost, tr.grad(conv_cost, F)])

    seq = T.tensor3("seq")
    U = tr.shared(rng.standard_normal((4, 4)) * 0.1, name="U")
    states, _ = tr.scan(lambda s, prev: T.tanh(s + T.dot(prev, U)), sequences=seq, outputs_info=T.zeros_like(seq[0]))
    loop_cost = T.sum(states[-1])
    loop = tr.function([seq], [loop_cost, tr.grad(loop_cost, U)])

    v = T.vector("v")
    index = tr.function([v], [T.set_subtensor(v[1:3], 0.0), T.inc_subtensor(v[::2], 1.0), v.reshape((2, -1))])
    return {"logreg": logreg, "conv": conv, "loop": loop, "index": index}


@pytest.fixture(scope="module")
def functions() -> dict[str, tr.Function]:
    return _training_functions()


def test_the_executor_builds_each_step_as_the_table_says(functions: dict[str, tr.Function]) -> None:
    used: set[StepKind] = set()
    for name, f in functions.items():
        executor = f.executor
        for op, built in zip(executor.ops, executor.plan_kinds):
            assert built == step_kind(op), f"{name}: {op.name} is {step_kind(op)} in the table, built as {built}"
            used.add(built)
    # The models cover every kind but the reference (which they would only use for lack of a step)
    # and the transfers (which only device=cuda plans have).
    assert used >= set(StepKind) - {StepKind.REFERENCE, StepKind.TRANSFER}, sorted(set(StepKind) - used)


def test_emit_mlir_reports_the_same_kinds(functions: dict[str, tr.Function]) -> None:
    for name, f in functions.items():
        text = lower_to_mlir(Module([f.func]))
        ops = [op for op in f.func.regions[0].block.operations if op.name not in ("func.return", "tir.constant")]
        notes = re.findall(r"^// @\S+: (tir\.\w+): ([^(\n]+?)(?: \(|$)", text, flags=re.M)
        noted = [StepKind(kind) for _, kind in notes]
        expected_notes = [step_kind(op) for op in ops if step_kind(op) not in KERNEL_KINDS]
        assert noted == expected_notes, f"{name}:\n{text[:3000]}"
        kernels = len(re.findall(r"^  func\.func @", text, flags=re.M))
        assert kernels >= sum(step_kind(op) in KERNEL_KINDS for op in ops), name


def test_crossentropy_gradient_lowers_as_its_row_kernel(functions: dict[str, tr.Function]) -> None:
    """The drift the table removed: the executor ran this row kernel, --emit=mlir said reference."""
    f = functions["logreg"]
    grads = [op for op in f.func.regions[0].block.operations if op.name == "tir.softmax_crossentropy_grad"]
    assert grads and all(step_kind(op) is StepKind.ROW for op in grads)
    text = lower_to_mlir(Module([f.func]))
    assert "softmax_crossentropy_grad" not in "\n".join(line for line in text.splitlines() if line.startswith("//"))
    assert re.search(r"func\.func @\w+_softmax_crossentropy_grad", text)


def test_an_op_without_a_native_step_says_why() -> None:
    x = T.matrix("x", dtype="float16")
    f = tr.function([x], T.exp(x))
    text = lower_to_mlir(Module([f.func]))
    assert re.search(r"// @\S+: tir\.exp: NumPy reference \(.+\)", text), text
    assert StepKind.REFERENCE in f.executor.plan_kinds


def test_the_emitted_kernels_compile(functions: dict[str, tr.Function]) -> None:
    for name, f in functions.items():
        llvm_ir = lower_to_llvm(Module([f.func]), opt_level=0)
        n_kernels = sum(step_kind(op) in KERNEL_KINDS for op in f.func.regions[0].block.operations)
        assert llvm_ir.count("define ") >= n_kernels, name
