"""The MLIR -> LLVM -> native path: correctness, vectorization, object-code reload, errors,
external symbols, and the MLIR text emitter."""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest

from tensorir.codegen.cpu import (
    CodegenError,
    KernelEmitter,
    NativeModule,
    compile_llvm_ir,
    compile_mlir,
    emit_exp,
    memref_args,
    range_kernel,
)

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_MEMREF = [_PTR, _PTR, _I64, _I64, _I64]


def _saxpy_text() -> str:
    def body(e: KernelEmitter, values: list[str]) -> list[str]:
        x, y = values
        return [e.fma(e.constant(2.5, "f32"), x, y, "f32")]

    return range_kernel("saxpy", ["f32", "f32"], ["f32"], body)


def _call_saxpy(module: NativeModule, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    function = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * 3))(module.address("saxpy"))
    out = np.empty_like(x)
    function(0, x.size, *memref_args(x), *memref_args(y), *memref_args(out))
    return out


@pytest.mark.parametrize("opt_level", [0, 1, 3])
def test_compile_and_run(opt_level: int) -> None:
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    y = np.arange(1001, dtype=np.float32)
    module = compile_mlir(_saxpy_text(), opt_level=opt_level)
    np.testing.assert_allclose(_call_saxpy(module, x, y), 2.5 * x + y, rtol=1e-6)


def test_object_code_reload_without_llvm() -> None:
    module = compile_mlir(_saxpy_text())
    reloaded = NativeModule.from_object_code(module.object_code, module.function_names)
    del module  # the reloaded copy owns its own code
    x = np.ones(100, np.float32)
    np.testing.assert_array_equal(_call_saxpy(reloaded, x, x), np.full(100, 3.5, np.float32))
    assert reloaded.llvm_ir is None
    with pytest.raises(CodegenError):
        reloaded.assembly()


def _host_float_vector_bits() -> int:
    """The widest float vector this CPU has, from the features the JIT compiles for."""
    from llvmlite import binding as llvm

    features = set(llvm.get_host_cpu_features().flatten().split(","))
    return next((bits for feature, bits in (("+avx512f", 512), ("+avx", 256)) if feature in features), 128)


def test_exp_kernel_is_vectorized_for_the_host() -> None:
    """The loop is vectorized to a host register width: 8 lanes (ymm) on AVX2, 8 or 16 (zmm) on AVX-512,
    where LLVM may prefer 256-bit vectors on some models."""
    widest = _host_float_vector_bits()
    if widest < 256:
        pytest.skip("the host has no AVX: this checks AVX/AVX-512 vectorization")
    module = compile_mlir(range_kernel("vexp", ["f32"], ["f32"], lambda e, v: [emit_exp(e, v[0], "f32")]))
    lanes = {int(n) for n in re.findall(r"<(\d+) x float>", module.llvm_ir)}
    allowed = {bits // 32: register for bits, register in ((256, "ymm"), (512, "zmm")) if bits <= widest}
    assert lanes & allowed.keys(), f"loop not vectorized to {sorted(allowed)} lanes; found {sorted(lanes)}"
    assembly = module.assembly()
    widest_used = max(lanes & allowed.keys())
    assert allowed[widest_used] in assembly and "vfmadd" in assembly
    x = np.linspace(-20, 20, 100_003, dtype=np.float32)
    function = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * 2))(module.address("vexp"))
    out = np.empty_like(x)
    function(0, x.size, *memref_args(x), *memref_args(out))
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=3e-7)


def test_external_symbol_binding() -> None:
    callback_type = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)
    callback = callback_type(lambda v: v * 3.0 + 1.0)
    text = """
func.func private @tensorir_test_callback(f64) -> f64
func.func @apply(%x: f64) -> f64 {
  %y = func.call @tensorir_test_callback(%x) : (f64) -> f64
  return %y : f64
}
"""
    address = ctypes.cast(callback, ctypes.c_void_p).value
    module = compile_mlir(text, symbols={"tensorir_test_callback": address})
    apply = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(module.address("apply"))
    assert apply(2.0) == 7.0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("func.func @f( {", "parse"),
        ("func.func @f(%a: f32) -> f32 {\n %b = arith.addf %a, %a : f64\n return %b : f32\n}", "f64"),
        ('func.func @f() {\n "tensorir.unknown"() : () -> ()\n return\n}', "unregistered dialect"),
        # Parses, but tensors are never bufferized: the lowering to LLVM fails.
        ("func.func @f() -> tensor<4xf32> {\n %t = tensor.empty() : tensor<4xf32>\n"
          " return %t : tensor<4xf32>\n}",
         "lowering failed"),
    ],
)
def test_errors_raise_codegen_error(text: str, fragment: str) -> None:
    with pytest.raises(CodegenError) as info:
        compile_mlir(text)
    assert fragment in str(info.value)


def test_bad_llvm_ir_raises() -> None:
    with pytest.raises(CodegenError):
        compile_llvm_ir("define void @f() { ret i32 0 }")


def test_unknown_function_name() -> None:
    module = compile_mlir(_saxpy_text())
    with pytest.raises(KeyError):
        module.address("nope")


def test_emitter_constants_are_exact_and_deduplicated() -> None:
    e = KernelEmitter()
    a = e.constant(float("inf"), "f32")
    assert e.constant(float("inf"), "f32") == a
    assert "0x7F800000 : f32" in e.constant_lines[0]
    e.constant(float("nan"), "f64")
    assert "0x7FF8000000000000 : f64" in e.constant_lines[1]
    e.constant(0.1, "f64")
    assert "0x3FB999999999999A" in e.constant_lines[2]
    e.constant(2.0, "vector<8xf32>")
    assert "dense<0x40000000> : vector<8xf32>" in e.constant_lines[3]
    e.constant(True, "i1")
    assert e.constant_lines[4].endswith("arith.constant 1 : i1")
    assert len(set(e.constant_lines)) == len(e.constant_lines)


def test_emitter_vector_types_lower() -> None:
    # The approximations work on vector types too (e.g. for explicitly vectorized kernels).
    e = KernelEmitter()
    y = emit_exp(e, "%x", "vector<8xf32>")
    text = (
        "func.func @vexp(%p: memref<8xf32>) {\n  %i0 = arith.constant 0 : index\n"
        "  %pad = arith.constant 0.0 : f32\n"
        "  %x = vector.transfer_read %p[%i0], %pad : memref<8xf32>, vector<8xf32>\n"
        f"{e.render('  ')}\n  vector.transfer_write {y}, %p[%i0] : vector<8xf32>, memref<8xf32>\n"
        "  return\n}\n"
    )
    pipeline = ("builtin.module(convert-vector-to-scf, convert-scf-to-cf, convert-vector-to-llvm, "
                "convert-math-to-llvm, finalize-memref-to-llvm, convert-to-llvm, reconcile-unrealized-casts)")
    module = compile_mlir(text, pipeline=pipeline)
    buffer = np.linspace(-3, 3, 8, dtype=np.float32)
    expected = np.exp(buffer.astype(np.float64))
    function = ctypes.CFUNCTYPE(None, *_MEMREF)(module.address("vexp"))
    function(*memref_args(buffer))
    np.testing.assert_allclose(buffer, expected, rtol=3e-7)
