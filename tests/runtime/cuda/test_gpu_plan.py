"""What the GPU steps compute before any launch, without a device: cuBLAS's column-major
arguments for row-major products (checked by running a column-major gemm in NumPy), broadcast
strides and reduction layouts; and ``device=cuda`` plans prepared without a GPU
(``TENSORIR_CUDA_PREPARE``): built as the GPU's step table says, their kernels' PTX accepted by
``ptxas``, their calls (on the NumPy reference) equal to the CPU's."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.gpu import step_table as gpu_table
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas
from tensorir.dialects.interpret import run_op
from tensorir.dialects.tir.reduction import sum_to_shape
from tensorir.runtime.cuda.cublas import CUBLAS_OP_T, gemm_arguments
from tensorir.runtime.cuda.prepare import BUNDLE_VARIABLE, PREPARE_VARIABLE, bundle_key, bundle_ptx
from tensorir.runtime.cuda.row_steps import layout
from tensorir.runtime.cuda.steps import broadcast_strides
from tensorir.runtime.cuda.view_steps import probe_view, sum_to_axes


def _column_major_gemm(op_a: int, op_b: int, m: int, n: int, k: int, a: np.ndarray, lda: int, b: np.ndarray,
                       ldb: int, ldc: int) -> np.ndarray:
    """BLAS's ``C = op(A) @ op(B)`` on flat column-major buffers (C m x n, leading dim ldc)."""
    def matrix(flat: np.ndarray, rows: int, cols: int, ld: int) -> np.ndarray:
        return np.array([[flat[i + j * ld] for j in range(cols)] for i in range(rows)])

    A = matrix(a, k, m, lda).T if op_a == CUBLAS_OP_T else matrix(a, m, k, lda)
    B = matrix(b, n, k, ldb).T if op_b == CUBLAS_OP_T else matrix(b, k, n, ldb)
    C = A @ B
    out = np.zeros(ldc * n)
    for j in range(n):
        out[j * ldc:j * ldc + m] = C[:, j]
    return out


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize(("m", "n", "k"), [(3, 5, 4), (1, 6, 2), (4, 1, 7)])
def test_row_major_gemm_arguments(trans_a: bool, trans_b: bool, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.normal(size=(k, m) if trans_a else (m, k))
    b = rng.normal(size=(n, k) if trans_b else (k, n))
    op_b, op_a, mm, nn, kk, ldb, lda, ldc = gemm_arguments(m, n, k, trans_a, trans_b)
    # cuBLAS gets B first: the column-major product of the row-major buffers is C^T.
    flat = _column_major_gemm(op_b, op_a, mm, nn, kk, b.ravel(), ldb, a.ravel(), lda, ldc)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_allclose(flat.reshape(m, n), expected)


@pytest.mark.parametrize(("shape", "out", "strides"), [
    ((3, 4), (3, 4), [4, 1]), ((4,), (3, 4), [0, 1]), ((3, 1), (3, 4), [1, 0]), ((), (2, 2), [0, 0]),
    ((1, 1), (2, 3), [0, 0]), ((2, 1, 5), (2, 3, 5), [5, 0, 1]),
])
def test_broadcast_strides(shape: tuple, out: tuple, strides: list) -> None:
    assert broadcast_strides(shape, out) == strides
    x = np.arange(int(np.prod(shape))).reshape(shape)
    flat = x.ravel()
    expected = np.broadcast_to(x, out)
    for index in np.ndindex(*out):
        assert flat[sum(i * s for i, s in zip(index, strides))] == expected[index]


@pytest.mark.parametrize(("rank", "axes", "kind", "perm"), [
    (2, (1,), "rows", (0, 1)), (2, (0,), "columns", (0, 1)), (3, (1, 2), "rows", (0, 1, 2)),
    (3, (0, 1), "columns", (0, 1, 2)), (3, (1,), "rows", (0, 2, 1)), (3, (0, 1, 2), "rows", (0, 1, 2)),
    (4, (0, 2), "rows", (1, 3, 0, 2)), (1, (), "rows", (0,)),
])
def test_reduction_layout(rank: int, axes: tuple, kind: str, perm: tuple) -> None:
    assert layout(rank, axes) == (kind, perm)


def _mlp(dtype: str, mode: str | None = None) -> tuple[tr.Function, list[np.ndarray], list[tr.SharedVariable]]:
    rng = np.random.default_rng(0)
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    w1 = tr.shared(rng.normal(size=(12, 16)).astype(dtype) * 0.3, name="w1")
    b1 = tr.shared(np.zeros(16, dtype), name="b1")
    w2 = tr.shared(rng.normal(size=(16, 4)).astype(dtype) * 0.3, name="w2")
    h = T.tanh(T.dot(x, w1) + b1)
    p = T.nnet.softmax(T.dot(h, w2))
    loss = T.mean(T.nnet.categorical_crossentropy(p, y)) + 1e-3 * (w1 ** 2).sum()
    params = [w1, b1, w2]
    grads = tr.grad(loss, params)
    f = tr.function([x, y], [loss, T.max(p, axis=1), T.nnet.logsumexp(h, axis=0) + T.nnet.log_softmax(h, axis=0).sum()],
                    updates=[(v, v - 0.5 * g) for v, g in zip(params, grads)], mode=mode)
    data = [rng.normal(size=(10, 12)).astype(dtype), rng.integers(0, 4, 10).astype("int32")]
    return f, data, params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_prepared_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    with tr.change_flags(device="cpu"):
        cpu, data, cpu_params = _mlp(dtype, "REFERENCE")
        expected = [cpu(*data) for _ in range(3)]
    monkeypatch.setenv(PREPARE_VARIABLE, str(tmp_path))
    with tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the host ops' one-time warnings
        f, _, params = _mlp(dtype)
    executor = f.executor
    assert executor.kind == "cuda" and executor.prepared
    for op, built in zip(executor.plan.ops, executor.plan.plan_kinds):
        assert built is gpu_table.step_kind(op), op.name
    built = {kind for _, kind in executor.step_kinds}
    assert {"gpu", "transfer"} <= built
    names = [name for name, kind in executor.step_kinds if kind == "gpu"]
    assert {"tir.gemm", "tir.softmax_crossentropy", "tir.softmax_crossentropy_grad", "tir.logsumexp"} <= set(names)
    text = executor.kernels.module_text()
    ptx = bundle_ptx(tmp_path, text, "sm_90")
    assert ptx is not None and ".visible .entry" in ptx
    assert (tmp_path / f"{bundle_key(text, 'sm_90')}.ptx").is_file()
    if find_ptxas() is not None:
        cubin, messages = assemble(ptx, "sm_90")
        assert cubin, messages
    tolerance = 1e-4 if dtype == "float32" else 1e-9
    for want in expected:
        for got, value in zip(f(*data), want):
            np.testing.assert_allclose(got, value, rtol=tolerance, atol=tolerance)
    for p, q in zip(params, cpu_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=tolerance, atol=tolerance)
    # The device reads the bundle: the same text gives the same PTX without compiling.
    monkeypatch.delenv(PREPARE_VARIABLE)
    monkeypatch.setenv(BUNDLE_VARIABLE, str(tmp_path))
    from tensorir.runtime.cuda.prepare import module_ptx

    assert module_ptx(text, "sm_90", None) == ptx


def _view_op(build: Callable) -> object:
    x = T.tensor3("x")
    i = T.lscalar("i")
    f = tr.function([x, i], build(x, i), mode="REFERENCE", on_unused_input="ignore")
    return next(op for op in f.func.regions[0].block.operations if op.name not in ("tir.constant",))


@pytest.mark.parametrize("build", [
    lambda x, i: x[1:3], lambda x, i: x[:, ::2], lambda x, i: x[::-1], lambda x, i: x.dimshuffle(2, 0, 1),
    lambda x, i: x[i, 1:], lambda x, i: x[:, :, -1], lambda x, i: x.dimshuffle(0, "x", 1, 2),
])
def test_a_probe_gives_the_view_of_the_reference(build: Callable) -> None:
    """probe_view's (shape, element strides, offset) read the same elements as the reference's view."""
    op = _view_op(build)
    shape = (4, 5, 6)
    data = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    others = [np.asarray(2, dtype=v.type.dtype) for v in op.operands[1:]]
    found = probe_view(op, shape, others)
    assert found is not None, op.name
    view_shape, strides, offset = found
    (expected,) = run_op(op, [data, *others])
    flat = data.ravel()
    assert view_shape == expected.shape
    for index in np.ndindex(*view_shape):
        assert flat[offset + sum(k * s for k, s in zip(index, strides))] == expected[index]


@pytest.mark.parametrize(("shape", "target", "axes"), [
    ((8, 5), (5,), (0,)), ((8, 5), (1, 5), (0,)), ((8, 5), (8, 1), (1,)), ((2, 3, 4), (4,), (0, 1)),
    ((2, 3, 4), (2, 3, 4), ()), ((2, 1, 4), (1, 1, 4), (0,)),
])
def test_sum_to_axes(shape: tuple, target: tuple, axes: tuple) -> None:
    assert sum_to_axes(shape, target) == axes
    x = np.ones(shape)
    np.testing.assert_array_equal(np.sum(x, axis=axes).reshape(target), sum_to_shape(x, target))


def test_sum_to_axes_refuses_what_does_not_sum() -> None:
    with pytest.raises(ValueError, match="cannot sum"):
        sum_to_axes((3, 4), (2, 4))
    with pytest.raises(ValueError, match="larger rank"):
        sum_to_axes((4,), (3, 4))
