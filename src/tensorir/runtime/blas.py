"""SciPy's BLAS for compiled code: function pointers and thread control.

Compiled kernels call BLAS directly through the Fortran ABI (every argument by pointer:
``sgemm(char* transa, char* transb, int* m, int* n, int* k, float* alpha, float* a, int* lda,
float* b, int* ldb, float* beta, float* c, int* ldc)``). The pointers come from the capsules in
``scipy.linalg.cython_blas.__pyx_capi__``, so tensorir uses SciPy's OpenBLAS only (NumPy
bundles a second one). Its thread count is controlled through ``threadpoolctl``, limited to
that one library.

Row-major ``C = A @ B`` (A: m x k, B: k x n) is the column-major product ``C^T = B^T A^T``:
``gemm('N', 'N', n, m, k, 1, B, n, A, k, 0, C, n)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator

__all__ = [
    "BLAS_FUNCTIONS",
    "blas_pointer",
    "blas_pointers",
    "blas_symbols",
    "blas_threads",
    "get_blas_num_threads",
    "set_blas_num_threads",
]

#: The BLAS routines tensorir's compiled code may call.
BLAS_FUNCTIONS = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "saxpy", "daxpy", "sdot", "ddot")


def _capsule_pointer(capsule: object) -> int:
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return int(get_pointer(capsule, get_name(capsule)))


@functools.cache
def blas_pointer(name: str) -> int:
    """Address of SciPy's Fortran-ABI BLAS routine ``name`` (e.g. ``"sgemm"``)."""
    from scipy.linalg import cython_blas

    try:
        capsule = cython_blas.__pyx_capi__[name]
    except KeyError:
        raise KeyError(f"SciPy's cython_blas has no routine {name!r}") from None
    return _capsule_pointer(capsule)


def blas_pointers(names: tuple[str, ...] = BLAS_FUNCTIONS) -> dict[str, int]:
    """``{name: address}`` for several routines."""
    return {name: blas_pointer(name) for name in names}


def blas_symbols(prefix: str = "tensorir_blas_", names: tuple[str, ...] = BLAS_FUNCTIONS) -> dict[str, int]:
    """Symbols for :func:`tensorir.codegen.cpu.compile_mlir`: ``{"tensorir_blas_sgemm": address, ...}``.

    A prefix keeps the JIT from binding the name to another BLAS already in the process.
    """
    return {prefix + name: blas_pointer(name) for name in names}


@functools.cache
def _scipy_blas_controller():
    """A threadpoolctl controller limited to SciPy's OpenBLAS (not NumPy's own copy)."""
    import scipy.linalg  # noqa: F401 - loads SciPy's OpenBLAS
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    libraries = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    scipy_libraries = [lib for lib in libraries if "scipy" in lib.filepath.lower()
                       and "numpy" not in lib.filepath.lower()]
    selected = scipy_libraries or libraries
    if not selected:
        return None
    return controller.select(filepath=[lib.filepath for lib in selected])


def get_blas_num_threads() -> int | None:
    """Threads SciPy's BLAS uses now (None when no BLAS was found)."""
    controller = _scipy_blas_controller()
    if controller is None:
        return None
    return max(lib.num_threads for lib in controller.lib_controllers)


def set_blas_num_threads(num_threads: int) -> None:
    """Set the thread count of SciPy's BLAS for the rest of the process."""
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    controller = _scipy_blas_controller()
    if controller is not None:
        for lib in controller.lib_controllers:
            lib.set_num_threads(num_threads)


@contextlib.contextmanager
def blas_threads(num_threads: int) -> Iterator[None]:
    """Within the block SciPy's BLAS uses ``num_threads`` threads; restored afterwards."""
    controller = _scipy_blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=num_threads):
        yield
