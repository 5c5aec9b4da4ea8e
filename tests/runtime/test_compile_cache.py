"""The compile cache: memory and disk hits, other processes, concurrent compiles, corrupt entries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel
from tensorir.runtime.compile_cache import CompileCache, cache_key, decode_entry, encode_entry

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
