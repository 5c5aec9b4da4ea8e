"""BLAS steps of a native plan: ``tir.gemm``, ``tir.gemv``, ``tir.ger`` and ``tir.dot`` on SciPy's BLAS.

SciPy's Fortran BLAS is column-major; a C-contiguous ``m x n`` matrix is its transpose in
Fortran order, so ``C = A @ B`` is computed as ``C^T = B^T A^T`` on the transposed views, with no
copy for C- or Fortran-contiguous operands (others are made contiguous first). The result's
transpose is C-contiguous. Only SciPy's BLAS is called (NumPy's bundled copy is not), and its
thread count follows tensorir's pool (:func:`configure_blas_threads`).
"""

from __future__ import annotations

import functools

import numpy as np

from tensorir.runtime.blas import get_blas_num_threads, set_blas_num_threads

__all__ = ["BlasStep", "configure_blas_threads"]

_BLAS_DTYPES = ("float32", "float64")


# Below this many multiply-adds a product runs on one BLAS thread: on 2 cores a 600x784x10
# gemm took 0.46 ms on one thread and 1.2-2.2 ms on two (the threads wait for each other and for
# our kernel pool); a 1600x128x512 one still gains from two (2.5 ms -> 1.3 ms).
SMALL_PRODUCT = 1 << 24
_blas_threads_now: list[int | None] = [None]


def configure_blas_threads(num_threads: int, work: int | None = None) -> None:
    """Give SciPy's BLAS one thread for small products, ``num_threads`` for large ones.

    The switch is one call into OpenBLAS, made only when the wanted count changes.
    """
    want = 1 if work is not None and work < SMALL_PRODUCT else num_threads
    if _blas_threads_now[0] == want:
        return
    try:
        if _blas_threads_now[0] is None and get_blas_num_threads() is None:
            return
        set_blas_num_threads(want)
        _blas_threads_now[0] = want
    except Exception:  # noqa: BLE001 - threadpoolctl missing or the library refuses: keep its default
        _blas_threads_now[0] = want


@functools.cache
def _routines(dtype: str):  # noqa: ANN202
    from scipy.linalg import blas

    p = "s" if dtype == "float32" else "d"
    return getattr(blas, p + "gemm"), getattr(blas, p + "gemv"), getattr(blas, p + "ger"), getattr(blas, p + "dot")


def _fortran_operand(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(array in Fortran order, trans flag) such that op(array) is ``x^T`` in Fortran terms."""
    if x.flags.c_contiguous:
        return x.T, 0
    if x.flags.f_contiguous:
        return x, 1
    return np.ascontiguousarray(x).T, 0


def matmul(a: np.ndarray, b: np.ndarray, alpha: float, dtype: str) -> np.ndarray:
    """``alpha * a @ b`` for matrices, C-contiguous result."""
    m, k = a.shape
    k2, n = b.shape
    if k != k2:
        raise ValueError(f"shapes {a.shape} and {b.shape} not aligned: {k} (dim 1) != {k2} (dim 0)")
    if m == 0 or n == 0 or k == 0:
        return np.zeros((m, n), dtype)
    gemm = _routines(dtype)[0]
    bt, trans_b = _fortran_operand(b)
    at, trans_a = _fortran_operand(a)
    return gemm(alpha, bt, at, trans_a=trans_b, trans_b=trans_a).T


def matvec(a: np.ndarray, x: np.ndarray, alpha: float, dtype: str) -> np.ndarray:
    """``alpha * a @ x`` for a matrix and a vector."""
    m, k = a.shape
    if x.shape[0] != k:
        raise ValueError(f"shapes {a.shape} and {x.shape} not aligned: {k} (dim 1) != {x.shape[0]} (dim 0)")
    if m == 0 or k == 0:
        return np.zeros(m, dtype)
    gemv = _routines(dtype)[1]
    at, trans = _fortran_operand(a)
    # Fortran sees at (k x m) when trans == 0: a @ x = at^T x, so gemv's trans flag is 1 - trans.
    return gemv(alpha, at, x, trans=1 - trans)


class BlasStep:
    """One BLAS op; falls back to the op's NumPy reference for dtypes BLAS has no routine for."""

    def __init__(self, op_name: str, attrs: dict, out_dtype: str, in_dtypes: list[str], reference, num_threads: int):  # noqa: ANN001
        self.op_name = op_name
        self.attrs = attrs
        self.dtype = out_dtype
        self.native = out_dtype in _BLAS_DTYPES and all(d == out_dtype for d in in_dtypes)
        self.reference = reference
        self.num_threads = num_threads

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if not self.native:
            return self.reference(inputs)
        name, dtype = self.op_name, self.dtype
        configure_blas_threads(self.num_threads, _work(name, inputs, self.attrs))
        if name == "tir.dot":
            x, y = inputs
            if x.ndim == 2 and y.ndim == 2:
                return [matmul(x, y, 1.0, dtype)]
            if x.ndim == 2 and y.ndim == 1:
                return [matvec(x, y, 1.0, dtype)]
            if x.ndim == 1 and y.ndim == 2:
                return [matvec(y.T, x, 1.0, dtype)]
            if x.ndim == 1 and y.ndim == 1 and x.shape == y.shape and x.size:
                return [np.asarray(_routines(dtype)[3](x, y), dtype)]
            return self.reference(inputs)
        if name == "tir.gemm":
            c, alpha, a, b, beta = inputs
            a = a.T if self.attrs["trans_a"] else a
            b = b.T if self.attrs["trans_b"] else b
            out = matmul(a, b, float(alpha), dtype)
            return [_accumulate(out, c, float(beta))]
        if name == "tir.gemv":
            y, alpha, a, x, beta = inputs
            a = a.T if self.attrs["trans"] else a
            return [_accumulate(matvec(a, x, float(alpha), dtype), y, float(beta))]
        a, alpha, x, y = inputs  # tir.ger: a + alpha * outer(x, y)
        shape = (x.shape[0], y.shape[0])
        base = np.array(np.broadcast_to(a, np.broadcast_shapes(a.shape, shape)), dtype=dtype)
        if base.shape != shape or 0 in shape:
            return self.reference(inputs)
        ger = _routines(dtype)[2]
        # Fortran sees base.T (n x m): base.T += alpha * y x^T.
        return [ger(float(alpha), y, x, a=base.T, overwrite_a=1).T]


def _work(name: str, inputs: list[np.ndarray], attrs: dict) -> int:
    """Multiply-adds of a BLAS op, to choose its thread count."""
    if name == "tir.gemm":
        a, b = inputs[2], inputs[3]
        m = a.shape[1] if attrs["trans_a"] else a.shape[0]
        k = a.shape[0] if attrs["trans_a"] else a.shape[1]
        n = b.shape[0] if attrs["trans_b"] else b.shape[1]
        return m * n * k
    sizes = [x.size for x in inputs if x.ndim]
    if name == "tir.dot" and len(sizes) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2:
        return inputs[0].shape[0] * inputs[0].shape[1] * inputs[1].shape[1]
    return max(sizes, default=0)


def _accumulate(product: np.ndarray, c: np.ndarray, beta: float) -> np.ndarray:
    """``product + beta * c`` broadcast like the reference (``c`` ignored when beta is 0)."""
    if beta == 0.0:
        shape = np.broadcast_shapes(product.shape, c.shape)
        return product if shape == product.shape else np.array(np.broadcast_to(product, shape))
    shape = np.broadcast_shapes(product.shape, c.shape)
    if shape == product.shape:
        product += beta * c if beta != 1.0 else c
        return product
    return product + beta * c
