"""SciPy's BLAS for compiled code: function pointers and thread control.

Compiled kernels call BLAS directly through the Fortran ABI (every argument by pointer:
``sgemm(char* transa, char* transb, int* m, int* n, int* k, float* alpha, float* a, int* lda,
float* b, int* ldb, float* beta, float* c, int* ldc)``). The pointers come from the capsules in
``scipy.linalg.cython_blas.__pyx_capi__``, so tensorir uses SciPy's OpenBLAS only (NumPy
bundles a second one).

Two things here are about time, not function. ``import scipy.linalg`` costs ~130 ms (it
imports all of SciPy's linear algebra), so ``cython_blas`` is loaded on its own from its file
(~1.5 ms) unless it was imported already. And the thread count of SciPy's OpenBLAS is read and
set by calling OpenBLAS's own ``openblas_get/set_num_threads`` through ctypes, in the library
behind ``cython_blas``; ``threadpoolctl``, which inspects every library in the process (~100 ms
on first use), is only the fallback for other BLAS builds (OpenMP-threaded, MKL, ...).

Row-major ``C = A @ B`` (A: m x k, B: k x n) is the column-major product ``C^T = B^T A^T``:
``gemm('N', 'N', n, m, k, 1, B, n, A, k, 0, C, n)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import importlib.util
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

__all__ = [
    "BLAS_FUNCTIONS",
    "blas_thread_setter",
    "blas_pointer",
    "blas_pointers",
    "blas_symbols",
    "blas_threads",
    "get_blas_num_threads",
    "set_blas_num_threads",
]

#: The BLAS routines tensorir's compiled code may call.
BLAS_FUNCTIONS = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "saxpy", "daxpy", "sdot", "ddot")

_CYTHON_BLAS = "scipy.linalg.cython_blas"


def _capsule_pointer(capsule: object) -> int:
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return int(get_pointer(capsule, get_name(capsule)))


@functools.cache
def _cython_blas() -> ModuleType:
    """``scipy.linalg.cython_blas`` without running ``scipy/linalg/__init__.py`` (module docstring)."""
    module = sys.modules.get(_CYTHON_BLAS)
    if module is not None:
        return module
    try:
        import scipy

        paths = glob.glob(os.path.join(os.path.dirname(scipy.__file__), "linalg", "cython_blas.*"))
        paths = [p for p in paths if p.endswith((".so", ".pyd"))]
        spec = importlib.util.spec_from_file_location(_CYTHON_BLAS, paths[0])
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        if "sgemm" in module.__pyx_capi__:
            return module
    except Exception:  # noqa: BLE001 - any surprise: the ordinary import below
        pass
    from scipy.linalg import cython_blas

    return cython_blas


@functools.cache
def blas_pointer(name: str) -> int:
    """Address of SciPy's Fortran-ABI BLAS routine ``name`` (e.g. ``"sgemm"``)."""
    try:
        capsule = _cython_blas().__pyx_capi__[name]
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


# -- threads ---------------------------------------------------------------------------------------
def _openblas_paths() -> Iterator[str]:
    """Candidate paths of SciPy's OpenBLAS: its wheel's ``scipy.libs`` first, then (read only
    if those fail) any other mapped library named like OpenBLAS that is not NumPy's copy."""
    import scipy

    site = os.path.dirname(os.path.dirname(scipy.__file__))
    seen = sorted(glob.glob(os.path.join(site, "scipy.libs", "*openblas*")))
    yield from seen
    with contextlib.suppress(OSError):
        with open("/proc/self/maps") as maps:
            mapped = [line.split(None, 5)[-1].strip() for line in maps]
        for path in dict.fromkeys(mapped):
            name = os.path.basename(path).lower()
            if "openblas" in name and "numpy" not in path and path not in seen and os.path.isfile(path):
                yield path


@functools.cache
def _openblas_functions() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """OpenBLAS's (get, set) thread-count functions of the library behind ``cython_blas``, or
    None: not found, or threaded with OpenMP (whose per-thread limits threadpoolctl handles)."""
    _cython_blas()  # maps SciPy's OpenBLAS into the process
    mode = getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL  # only libraries already loaded
    for path in _openblas_paths():
        try:
            library = ctypes.CDLL(path, mode=mode)
        except OSError:
            continue
        for prefix, suffix in itertools.product(("scipy_", ""), ("", "64_", "_64")):
            get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is None or set_ is None:
                continue
            parallel = getattr(library, f"{prefix}openblas_get_parallel{suffix}", None)
            if parallel is not None:
                parallel.restype = ctypes.c_int
                if parallel() == 2:  # OpenMP threading
                    return None
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            return get, set_
    return None


def blas_thread_setter() -> Callable[[int], None] | None:
    """OpenBLAS's ``openblas_set_num_threads`` (a ctypes function taking an int), or None when
    SciPy's BLAS is not a pthreads OpenBLAS. A recorded call makes it from native code."""
    functions = _openblas_functions()
    return functions[1] if functions is not None else None


@functools.cache
def _scipy_blas_controller():  # noqa: ANN202
    """A threadpoolctl controller limited to SciPy's OpenBLAS (not NumPy's own copy); the fallback."""
    _cython_blas()
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
    functions = _openblas_functions()
    if functions is not None:
        return int(functions[0]())
    controller = _scipy_blas_controller()
    if controller is None:
        return None
    return max(lib.num_threads for lib in controller.lib_controllers)


def set_blas_num_threads(num_threads: int) -> None:
    """Set the thread count of SciPy's BLAS for the rest of the process."""
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    functions = _openblas_functions()
    if functions is not None:
        functions[1](num_threads)
        return
    controller = _scipy_blas_controller()
    if controller is not None:
        for lib in controller.lib_controllers:
            lib.set_num_threads(num_threads)


@contextlib.contextmanager
def blas_threads(num_threads: int) -> Iterator[None]:
    """Within the block SciPy's BLAS uses ``num_threads`` threads; restored afterwards."""
    before = get_blas_num_threads()
    if before is None:
        yield
        return
    set_blas_num_threads(num_threads)
    try:
        yield
    finally:
        set_blas_num_threads(before)
