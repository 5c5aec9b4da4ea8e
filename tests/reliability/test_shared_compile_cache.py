"""A compile cache the user cannot write (warmed by root, shared on a cluster) and damaged entries.

The read-only test runs its user in a child process with uid/gid 65534 (nobody): root ignores
file permissions, so only another user shows what a shared cache does. The child starts as root,
imports and warms up tensorir (the interpreter may live where nobody cannot read), then drops
its privileges before it touches the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.config import change_flags
from tensorir.runtime import compile_cache
from tensorir.runtime.compile_cache import CompileCache, get_cache
from tensorir.runtime.shared_library import linker_available
from tensorir.tools.cache import main as cache_main

NOBODY = 65534

# Builds f1 = exp(x) + 1 (warmed in the cache by the parent) and f2 = tanh(x) * 3 (new), as the
# user NOBODY when the child runs as root; prints what it saw as JSON.
CHILD = textwrap.dedent("""
    import json, os, sys, warnings
    import numpy as np
    import tensorir as tr
    import tensorir.tensor as T
    from tensorir.frontend.config import change_flags
    from tensorir.runtime.compile_cache import get_cache

    x = T.vector("x")
    with change_flags(compiledir={warmup!r}):  # imports what compiling needs, while still root
        tr.function([x], T.sqrt(x) - 2)(np.ones(3))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid({uid})
        os.setuid({uid})
    a = np.linspace(0.5, 2.0, 7)
    with warnings.catch_warnings(record=True) as caught, change_flags(compiledir={cache!r}):
        warnings.simplefilter("always")
        f1 = tr.function([x], T.exp(x) + 1)
        f2 = tr.function([x], T.tanh(x) * 3)
        ok = bool(np.allclose(f1(a), np.exp(a) + 1) and np.allclose(f2(a), np.tanh(a) * 3))
        f3 = tr.function([x], T.tanh(x) * 3 + 0.5)
        ok = ok and bool(np.allclose(f3(a), np.tanh(a) * 3 + 0.5))
    cache = get_cache({cache!r})
    print(json.dumps({{"ok": ok, "uid": os.geteuid(), "stats": cache.stats,
                      "overlay": str(cache.overlay) if cache.overlay else None,
                      "warnings": [str(w.message) for w in caught if "compile cache" in str(w.message)]}}))
""")


@pytest.fixture
def shared_cache() -> Iterator[Path]:
    """A cache directory warmed with f1's kernels, then made read-only for everyone; a fresh
    directory under /tmp (pytest's own is private to root, so nobody could not reach it)."""
    base = Path(tempfile.mkdtemp(prefix="tensorir-shared-cache-", dir="/tmp"))
    os.chmod(base, 0o755)
    cache = base / "cache"
    x = T.vector("x")
    with change_flags(compiledir=str(cache)):
        tr.function([x], T.exp(x) + 1)(np.ones(3))
    for k in range(256):  # a well-used cache has every key prefix's directory
        (cache / f"{k:02x}").mkdir(exist_ok=True)
    for root, _dirs, files in os.walk(cache):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        os.chmod(root, 0o555)
    try:
        yield base
    finally:
        for root, _dirs, _files in os.walk(base):
            os.chmod(root, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def _run_as_user(base: Path, home: Path, tmp: Path) -> dict:
    """The child's report, run as NOBODY with ``home`` and ``tmp`` made theirs."""
    if os.geteuid() == 0:
        for path in (home, tmp):
            path.mkdir(exist_ok=True)
            os.chown(path, NOBODY, NOBODY)
    elif os.access(base / "cache", os.W_OK):
        pytest.skip("the read-only cache is writable by this user (permissions are not enforced here)")
    return _run_child(base, home, tmp)


def _run_child(base: Path, home: Path, tmp: Path) -> dict:
    code = CHILD.format(warmup=str(base / "warmup"), cache=str(base / "cache"), uid=NOBODY)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "TMPDIR": str(tmp), "TENSORIR_FLAGS": "mode=FAST_RUN"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode and "PermissionError" in done.stderr and "setuid" in done.stderr:
        pytest.skip("cannot switch to another user here")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_read_only_cache_is_read_and_new_kernels_go_to_a_user_overlay(shared_cache: Path) -> None:
    home, tmp = shared_cache / "home", shared_cache / "tmp"
    first = _run_as_user(shared_cache, home, tmp)
    assert first["ok"] and (first["uid"] == NOBODY or os.geteuid() != 0)
    assert first["stats"]["disk"] >= 1, first  # f1's kernels came from the read-only cache
    assert first["stats"]["compiled"] >= 1, first
    assert len(first["warnings"]) == 1, first["warnings"]
    assert str(shared_cache / "cache") in first["warnings"][0]
    overlay = Path(first["overlay"])
    assert overlay.is_relative_to(home / ".cache"), overlay
    assert any(overlay.rglob("*.kernel"))
    # A second process of the same user finds f2 in its overlay: nothing to compile.
    second = _run_as_user(shared_cache, home, tmp)
    assert second["ok"] and second["stats"]["compiled"] == 0, second


def test_read_only_cache_without_any_writable_overlay_compiles_in_memory(shared_cache: Path) -> None:
    home, tmp = shared_cache / "home", shared_cache / "tmp"
    home.mkdir()
    tmp.mkdir()
    os.chmod(home, 0o555)  # root's, and no one else may write them
    os.chmod(tmp, 0o555)
    if os.geteuid() != 0 and os.access(home, os.W_OK):
        pytest.skip("permissions are not enforced here")
    result = _run_child(shared_cache, home, tmp)
    assert result["ok"] and result["overlay"] is None, result
    assert len(result["warnings"]) == 1 and "memory only" in result["warnings"][0]


# -- damaged libraries -------------------------------------------------------------------------------
def _damage_libraries(directory: Path) -> list[Path]:
    libraries = sorted(directory.rglob("*.so"))
    for library in libraries:
        data = bytearray(library.read_bytes())
        data[len(data) // 2] ^= 0xFF
        library.write_bytes(bytes(data))
    return libraries


def _fresh_process_cache(monkeypatch: pytest.MonkeyPatch, directory: Path) -> CompileCache:
    """A new CompileCache for ``directory`` in place of this process's (what another process sees)."""
    cache = CompileCache(directory)
    monkeypatch.setitem(compile_cache._CACHES, os.path.abspath(directory), cache)
    return cache


@pytest.mark.skipif(not linker_available(), reason="no system linker: the cache stores no libraries")
def test_damaged_library_is_relinked_and_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    x = T.vector("x")
    a = np.linspace(-1, 1, 5)
    with change_flags(compiledir=str(tmp_path)):
        tr.function([x], T.exp(x) * 2)(a)
    assert _damage_libraries(tmp_path)
    assert cache_main(["list", "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:-1] and all("damaged library" in line for line in lines[:-1]), lines
    assert "damaged library" in lines[-1] or "relinked" in lines[-1]
    fresh = _fresh_process_cache(monkeypatch, tmp_path)
    with change_flags(compiledir=str(tmp_path)):
        np.testing.assert_allclose(tr.function([x], T.exp(x) * 2)(a), np.exp(a) * 2)
    assert fresh.repaired >= 1 and fresh.stats["compiled"] == 0
    assert all(entry.status == "ok" for entry in CompileCache(tmp_path).entries())
    # The next process loads the libraries again: no llvmlite, no repair.
    again = _fresh_process_cache(monkeypatch, tmp_path)
    with change_flags(compiledir=str(tmp_path)):
        tr.function([x], T.exp(x) * 2)(a)
    assert again.library_loads >= 1 and again.repaired == 0 and again.stats["compiled"] == 0
    assert get_cache(str(tmp_path)) is again


def test_list_reports_a_missing_library_as_damaged(tmp_path: Path) -> None:
    if not linker_available():
        pytest.skip("no system linker: the cache stores no libraries")
    x = T.vector("x")
    with change_flags(compiledir=str(tmp_path)):
        tr.function([x], T.exp(x) - 3)(np.ones(2))
    for library in tmp_path.rglob("*.so"):
        library.unlink()
    statuses = {entry.status for entry in CompileCache(tmp_path).entries()}
    assert statuses == {"damaged library"}
