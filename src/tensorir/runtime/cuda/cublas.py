"""cuBLAS through ctypes: the library of the ``nvidia-cublas`` wheel, found by ``cuda.pathfinder``.

Row-major products on a column-major library: a row-major ``C (m x n) = op(A) @ op(B)`` is the
column-major ``C^T = op(B)^T @ op(A)^T``, so every call passes B before A and swaps m and n; a
transposed operand is the same memory with the other ``op`` (transposes are folded into the call,
never materialized). ``alpha`` and ``beta`` are host scalars (the default pointer mode).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from tensorir.runtime.cuda.driver import CudaUnavailable

__all__ = ["CUBLAS_OP_N", "CUBLAS_OP_T", "Cublas", "gemm_arguments"]

CUBLAS_OP_N = 0
CUBLAS_OP_T = 1
_STATUS_SUCCESS = 0
_c_int, _p = ctypes.c_int, ctypes.c_void_p


@functools.cache
def _library() -> ctypes.CDLL:
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib
    except ImportError:
        raise CudaUnavailable("cuda-python (cuda.pathfinder) is not installed: pip install 'tensorir[gpu]'") from None
    try:
        loaded = load_nvidia_dynamic_lib("cublas")
    except Exception as exc:  # noqa: BLE001 - pathfinder's DynamicLibNotFoundError and its kin
        raise CudaUnavailable(f"cuBLAS was not found ({exc}): pip install 'tensorir[gpu]' (nvidia-cublas)") from None
    return ctypes.CDLL(loaded.abs_path)


def gemm_arguments(m: int, n: int, k: int, trans_a: bool, trans_b: bool) -> tuple[int, int, int, int, int, int, int,
                                                                                   int]:
    """The column-major ``gemm`` arguments for the row-major ``C (m x n) = op(A) @ op(B)`` with
    ``op(A)`` m x k and ``op(B)`` k x n, the matrices C-contiguous: ``(op for B, op for A, m', n',
    k', ldb, lda, ldc)`` in the order cuBLAS takes them when B is passed first."""
    lda = m if trans_a else k  # A is stored k x m when transposed, else m x k
    ldb = k if trans_b else n
    return (CUBLAS_OP_T if trans_b else CUBLAS_OP_N, CUBLAS_OP_T if trans_a else CUBLAS_OP_N, n, m, k, ldb, lda, n)


class Cublas:
    """One cuBLAS handle bound to one stream."""

    def __init__(self, stream: int) -> None:
        lib = self.lib = _library()
        handle = ctypes.c_void_p()
        self._check(lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self.handle = handle
        self._check(lib.cublasSetStream_v2(handle, ctypes.c_void_p(stream)), "cublasSetStream")

    @staticmethod
    def _check(status: int, call: str) -> None:
        if status != _STATUS_SUCCESS:
            raise RuntimeError(f"{call} failed: cuBLAS status {status}")

    @staticmethod
    def _scalar(dtype: str, value: float) -> Any:  # noqa: ANN401 - a ctypes scalar
        return ctypes.c_float(value) if dtype == "float32" else ctypes.c_double(value)

    def gemm(self, dtype: str, m: int, n: int, k: int, alpha: float, a: int, b: int, beta: float, c: int,
             trans_a: bool = False, trans_b: bool = False) -> None:
        """Row-major ``C = alpha * op(A) @ op(B) + beta * C`` on device addresses."""
        op_b, op_a, mm, nn, kk, ldb, lda, ldc = gemm_arguments(m, n, k, trans_a, trans_b)
        fn = self.lib.cublasSgemm_v2 if dtype == "float32" else self.lib.cublasDgemm_v2
        al, be = self._scalar(dtype, alpha), self._scalar(dtype, beta)
        self._check(fn(self.handle, _c_int(op_b), _c_int(op_a), _c_int(mm), _c_int(nn), _c_int(kk), ctypes.byref(al),
                       _p(b), _c_int(max(ldb, 1)), _p(a), _c_int(max(lda, 1)), ctypes.byref(be), _p(c),
                       _c_int(max(ldc, 1))), "cublasGemm")

    def gemm_batched(self, dtype: str, batch: int, m: int, n: int, k: int, a: int, b: int, c: int) -> None:
        """Row-major ``C[i] = A[i] @ B[i]`` for C-contiguous stacks of matrices."""
        op_b, op_a, mm, nn, kk, ldb, lda, ldc = gemm_arguments(m, n, k, False, False)
        fn = self.lib.cublasSgemmStridedBatched if dtype == "float32" else self.lib.cublasDgemmStridedBatched
        al, be = self._scalar(dtype, 1.0), self._scalar(dtype, 0.0)
        ll = ctypes.c_longlong
        self._check(fn(self.handle, _c_int(op_b), _c_int(op_a), _c_int(mm), _c_int(nn), _c_int(kk), ctypes.byref(al),
                       _p(b), _c_int(max(ldb, 1)), ll(k * n), _p(a), _c_int(max(lda, 1)), ll(m * k),
                       ctypes.byref(be), _p(c), _c_int(max(ldc, 1)), ll(m * n), _c_int(batch)),
                    "cublasGemmStridedBatched")

    def gemv(self, dtype: str, rows: int, cols: int, alpha: float, a: int, x: int, beta: float, y: int,
             trans: bool = False) -> None:
        """Row-major ``y = alpha * op(A) @ x + beta * y`` for A C-contiguous ``rows x cols``.

        Column-major, the row-major A is ``A^T`` (cols x rows, leading dimension cols): ``A @ x``
        is ``gemv('T')`` on it and ``A^T @ x`` is ``gemv('N')``."""
        fn = self.lib.cublasSgemv_v2 if dtype == "float32" else self.lib.cublasDgemv_v2
        al, be = self._scalar(dtype, alpha), self._scalar(dtype, beta)
        op = CUBLAS_OP_N if trans else CUBLAS_OP_T
        self._check(fn(self.handle, _c_int(op), _c_int(cols), _c_int(rows), ctypes.byref(al), _p(a),
                       _c_int(max(cols, 1)), _p(x), _c_int(1), ctypes.byref(be), _p(y), _c_int(1)), "cublasGemv")
