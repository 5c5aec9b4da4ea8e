"""The compile cache: memory and disk hits, other processes, concurrent compiles, corrupt entries."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel
from tensorir.runtime.compile_cache import CompileCache, cache_key, decode_entry, encode_entry
from tensorir.runtime.shared_library import linker_available

BODY = ElementwiseBody(["float64"], ["float64"], [("tir.exp", {}, (0,), "float64")], [1])
TEXT = flat_kernel("kcache_test", BODY, (False,))

# A child process compiling TEXT through a fresh cache on DIR; prints its stats as a dict.
CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_compile_cache import TEXT
    from tensorir.runtime.compile_cache import CompileCache
    cache = CompileCache({directory!r})
    cache.get(TEXT, 1)
    print(cache.stats)
""")


def run_child(directory: Path) -> subprocess.Popen:
    code = CHILD.format(tests=str(Path(__file__).parent), directory=str(directory))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def stats_of(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return eval(out.strip().splitlines()[-1])  # noqa: S307 - our own child's dict


def test_memory_then_disk_hits(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path)
    first = cache.get(TEXT, 1)
    assert cache.get(TEXT, 1) is first and cache.stats == {"memory": 1, "disk": 0, "compiled": 1}
    again = CompileCache(tmp_path)
    again.get(TEXT, 1)
    assert again.stats == {"memory": 0, "disk": 1, "compiled": 0}
    assert cache_key(TEXT, 1) != cache_key(TEXT, 3)


def test_second_process_reuses_the_entry(tmp_path: Path) -> None:
    CompileCache(tmp_path).get(TEXT, 1)
    assert stats_of(run_child(tmp_path))["disk"] == 1


def test_concurrent_processes_compile_once(tmp_path: Path) -> None:
    procs = [run_child(tmp_path) for _ in range(3)]
    stats = [stats_of(p) for p in procs]
    assert sum(s["compiled"] for s in stats) == 1
    assert sum(s["disk"] for s in stats) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "garbage"])
def test_damaged_entry_is_rebuilt(tmp_path: Path, damage: str) -> None:
    cache = CompileCache(tmp_path)
    cache.get(TEXT, 1)
    path = cache.entry_path(cache_key(TEXT, 1))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "foreign":
        path.write_bytes(encode_entry("00" * 32, ["kcache_test"], data[-100:]))
    else:
        path.write_bytes(b"not an entry")
    fresh = CompileCache(tmp_path)
    fresh.get(TEXT, 1)
    assert fresh.stats["compiled"] == 1
    assert decode_entry(path.read_bytes(), cache_key(TEXT, 1)) is not None


def test_stale_lock_file_does_not_block(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path)
    key = cache_key(TEXT, 1)
    path = cache.entry_path(key)
    path.parent.mkdir(parents=True)
    path.with_suffix(".lock").write_text("left by a crashed process")
    cache.get(TEXT, 1)
    assert cache.stats["compiled"] == 1


# -- shared libraries: a hit loads with dlopen, imports neither llvmlite nor MLIR -----------------
HIT_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorir as tr
    import tensorir.tensor as T
    x, w = T.matrix("x"), T.matrix("w")
    f = tr.function([x, w], T.nnet.softmax(T.tanh(T.dot(x, w)) * 2 + 1).sum(axis=1))
    out = f(np.ones((3, 4)), np.ones((4, 5)))
    assert np.allclose(out, 1.0), out
    print(sorted(m for m in ("mlir", "llvmlite") if m in sys.modules))
""")


def _run_hit_child(directory: Path) -> list[str]:
    env = {**os.environ, "TENSORIR_COMPILEDIR": str(directory)}
    proc = subprocess.run([sys.executable, "-c", HIT_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's list


@pytest.mark.skipif(not linker_available(), reason="no system linker (ld) to make shared libraries")
def test_cache_hit_imports_neither_mlir_nor_llvmlite(tmp_path: Path) -> None:
    assert "mlir" in _run_hit_child(tmp_path)  # the cold run compiles
    assert _run_hit_child(tmp_path) == []  # the warm run only loads shared libraries


def test_cache_hit_without_library_loads_the_object(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path)
    cache.get(TEXT, 1)
    for library in tmp_path.glob("*/*.so"):
        library.write_bytes(b"not a library")  # a damaged library is ignored, the object still loads
    again = CompileCache(tmp_path)
    module = again.get(TEXT, 1)
    assert again.stats["disk"] == 1 and again.library_loads == 0
    assert module.address("kcache_test")


@pytest.mark.skipif(not linker_available(), reason="no system linker (ld) to make shared libraries")
def test_library_binds_imported_functions(tmp_path: Path) -> None:
    # A module that calls a function by name (as kernels call BLAS): the library gets a stub
    # jumping through a pointer the loader fills in.
    text = textwrap.dedent("""
        func.func private @tensorir_test_triple(f64) -> f64
        func.func @apply(%x: f64) -> f64 {
          %y = func.call @tensorir_test_triple(%x) : (f64) -> f64
          return %y : f64
        }
    """)
    callback = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(lambda v: 3.0 * v)
    symbols = {"tensorir_test_triple": ctypes.cast(callback, ctypes.c_void_p).value}
    CompileCache(tmp_path).get(text, 1, symbols)
    again = CompileCache(tmp_path)
    module = again.get(text, 1, symbols)
    assert again.library_loads == 1
    apply = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(module.address("apply"))
    assert apply(2.0) == 6.0


def test_lazy_text_is_built_only_to_compile(tmp_path: Path) -> None:
    built: list[int] = []

    def make() -> str:
        built.append(1)
        return TEXT

    CompileCache(tmp_path).get_lazy("kcache_test v1", make, 1)
    again = CompileCache(tmp_path)
    again.get_lazy("kcache_test v1", make, 1)
    assert len(built) == 1 and again.stats["disk"] == 1
