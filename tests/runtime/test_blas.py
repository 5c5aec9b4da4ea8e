"""SciPy's BLAS called from JIT-compiled code, and BLAS thread control."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorir.codegen.cpu import compile_mlir
from tensorir.runtime.blas import (
    BLAS_FUNCTIONS,
    blas_pointer,
    blas_symbols,
    blas_threads,
    get_blas_num_threads,
    set_blas_num_threads,
)


def _gemm_module(prefix: str, element: str):
    # Row-major C = A @ B through column-major gemm: C^T = B^T A^T, i.e.
    # gemm('N', 'N', n, m, k, 1, B, n, A, k, 0, C, n). Fortran ABI: every argument by pointer.
    name = f"tensorir_blas_{prefix}gemm"
    text = f"""
llvm.func @{name}(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr,
                  !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr)
llvm.func @matmul(%a: !llvm.ptr, %b: !llvm.ptr, %c: !llvm.ptr, %m: i32, %n: i32, %k: i32) {{
  %one = llvm.mlir.constant(1 : i32) : i32
  %chr = llvm.mlir.constant(78 : i8) : i8
  %f1 = llvm.mlir.constant(1.0 : {element}) : {element}
  %f0 = llvm.mlir.constant(0.0 : {element}) : {element}
  %trans = llvm.alloca %one x i8 : (i32) -> !llvm.ptr
  llvm.store %chr, %trans : i8, !llvm.ptr
  %pm = llvm.alloca %one x i32 : (i32) -> !llvm.ptr
  %pn = llvm.alloca %one x i32 : (i32) -> !llvm.ptr
  %pk = llvm.alloca %one x i32 : (i32) -> !llvm.ptr
  llvm.store %m, %pm : i32, !llvm.ptr
  llvm.store %n, %pn : i32, !llvm.ptr
  llvm.store %k, %pk : i32, !llvm.ptr
  %alpha = llvm.alloca %one x {element} : (i32) -> !llvm.ptr
  %beta = llvm.alloca %one x {element} : (i32) -> !llvm.ptr
  llvm.store %f1, %alpha : {element}, !llvm.ptr
  llvm.store %f0, %beta : {element}, !llvm.ptr
  llvm.call @{name}(%trans, %trans, %pn, %pm, %pk, %alpha, %b, %pn, %a, %pk, %beta, %c, %pn)
    : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr,
       !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
  llvm.return
}}
"""
    module = compile_mlir(text, symbols=blas_symbols())
    function = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int32, ctypes.c_int32, ctypes.c_int32)(module.address("matmul"))
    return module, function


@pytest.mark.parametrize("prefix, dtype, rtol", [("s", np.float32, 1e-4), ("d", np.float64, 1e-12)])
def test_gemm_from_jit_code(prefix: str, dtype: type, rtol: float) -> None:
    rng = np.random.default_rng(0)
    m, k, n = 67, 45, 93  # non-square and odd, so a transposition mistake shows
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = np.full((m, n), np.nan, dtype)
    _module, matmul = _gemm_module(prefix, "f32" if dtype is np.float32 else "f64")
    matmul(a.ctypes.data, b.ctypes.data, c.ctypes.data, m, n, k)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=rtol, atol=rtol * 10)


def test_all_pointers_resolve() -> None:
    pointers = {name: blas_pointer(name) for name in BLAS_FUNCTIONS}
    assert len(set(pointers.values())) == len(BLAS_FUNCTIONS)
    assert all(p > 0 for p in pointers.values())
    with pytest.raises(KeyError):
        blas_pointer("nonexistent_routine")


def test_ddot_pointer_is_callable_by_ctypes() -> None:
    ddot = ctypes.CFUNCTYPE(ctypes.c_double, *[ctypes.c_void_p] * 5)(blas_pointer("ddot"))
    x = np.arange(10.0)
    n, inc = ctypes.c_int(10), ctypes.c_int(1)
    result = ddot(ctypes.addressof(n), x.ctypes.data, ctypes.addressof(inc),
                  x.ctypes.data, ctypes.addressof(inc))
    assert result == float(x @ x)


def test_thread_control() -> None:
    before = get_blas_num_threads()
    assert before is not None and before >= 1
    with blas_threads(1):
        assert get_blas_num_threads() == 1
    assert get_blas_num_threads() == before
    set_blas_num_threads(1)
    try:
        assert get_blas_num_threads() == 1
    finally:
        set_blas_num_threads(before)


def test_thread_control_needs_neither_threadpoolctl_nor_scipy_linalg() -> None:
    # Both cost ~100 ms at the first BLAS call of a process; OpenBLAS is asked directly.
    code = textwrap.dedent("""
        import sys
        from tensorir.runtime import blas
        if blas._openblas_functions() is None:
            print("no direct control")
        else:
            before = blas.get_blas_num_threads()
            blas.set_blas_num_threads(1)
            assert blas.get_blas_num_threads() == 1
            blas.set_blas_num_threads(before)
            assert blas.blas_pointer("sgemm")
            print(sorted(m for m in ("threadpoolctl", "scipy.linalg") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    if last == "no direct control":
        pytest.skip("SciPy's BLAS is not an OpenBLAS with pthreads here (threadpoolctl is used)")
    assert last == "[]"
