"""Compiled functions give their memory back when they are collected.

What a function holds (plan, recorded replays, kernel context, loaded modules) must go with it;
the process-wide compile cache keeps only the modules live functions use plus a few recent ones,
and per-shape tables are bounded. RSS checks run in a child process so that other tests'
allocations do not count, with generous bounds (they catch a leak of kilobytes per function,
not noise).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.config import change_flags
from tensorir.runtime import compile_cache


def test_dropped_functions_release_their_kernels_and_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_cache, "MEMORY_RECENT", 0)  # keep no unused module
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    contexts, modules, functions = [], [], []
    with change_flags(compiledir=str(tmp_path), mode="FAST_RUN"):
        for i in range(6):
            x = T.matrix("x")
            # A mean divides in place through a kernel shared by the executor's steps.
            f = tr.function([x], (T.exp(x) * (i + 2.5)).mean(axis=0))
            np.testing.assert_allclose(f(a), (np.exp(a) * (i + 2.5)).mean(axis=0))
            f(a)
            context = f.executor.context
            contexts.append(weakref.ref(context))
            modules += [weakref.ref(m) for m in context._modules]
            functions.append(weakref.ref(f))
            del f, context
    gc.collect()
    assert modules
    assert all(r() is None for r in functions)
    assert all(r() is None for r in contexts), "a kernel context outlived its function"
    assert all(r() is None for r in modules), "a compiled module outlived every function using it"


def test_the_compile_cache_keeps_modules_live_functions_use(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_cache, "MEMORY_RECENT", 0)
    x = T.vector("x")
    with change_flags(compiledir=str(tmp_path), mode="FAST_RUN"):
        f = tr.function([x], T.exp(x) * 3.5)
        f(np.ones(4))
        gc.collect()
        cache = compile_cache.get_cache(str(tmp_path))
        before = cache.stats["compiled"] + cache.stats["disk"]
        g = tr.function([x], T.exp(x) * 3.5)  # the same kernels: a memory hit, f is alive
        g(np.ones(4))
        assert cache.stats["compiled"] + cache.stats["disk"] == before


# Builds and drops functions, as a hyper-parameter sweep or a long notebook does; prints the RSS
# growth in MiB over the measured ones (after a warm-up that fills the caches that are meant to fill).
CHILD = textwrap.dedent("""
    import gc, json, sys
    import numpy as np
    import tensorir as tr
    import tensorir.tensor as T

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * {page} / 2**20

    a = np.linspace(-1, 1, 64).reshape(8, 8)

    def build(i):
        x = T.matrix("x")
        w = tr.shared(np.eye(8), name="w")
        cost = T.nnet.softmax(T.dot(x, w)).mean() + T.tanh(x * (i % 5 + 1)).sum()
        f = tr.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
        for _ in range(3):
            f(a)

    for i in range(50):
        build(i)
    gc.collect()
    start = rss_mib()
    for i in range({count}):
        build(i)
    gc.collect()
    print(json.dumps({{"growth_mib": rss_mib() - start}}))
""")


def _rss_growth(count: int, compiledir: Path) -> float:
    code = CHILD.format(count=count, page=os.sysconf("SC_PAGE_SIZE"))
    env = dict(os.environ, TENSORIR_COMPILEDIR=str(compiledir), TENSORIR_FLAGS="mode=FAST_RUN")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["growth_mib"]


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the resident size")
def test_building_and_dropping_200_functions_keeps_memory_flat(tmp_path: Path) -> None:
    growth = _rss_growth(200, tmp_path)
    assert growth < 8, f"RSS grew by {growth:.1f} MiB over 200 built and dropped functions"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the resident size")
def test_building_and_dropping_1000_functions_keeps_memory_flat(tmp_path: Path) -> None:
    growth = _rss_growth(1000, tmp_path)
    assert growth < 20, f"RSS grew by {growth:.1f} MiB over 1,000 built and dropped functions"


def test_per_shape_tables_stay_bounded() -> None:
    """A function called with ever new batch sizes keeps a bounded number of recordings and
    per-size choices (each table holds at most its limit)."""
    x = T.matrix("x")
    w = tr.shared(np.ones((7, 5)), name="w")
    f = tr.function([x], T.tanh(T.dot(x, w)).sum(axis=0) + T.exp(x).mean(), mode="FAST_RUN")
    for n in range(1, 300):
        f(np.ones((n, 7)))
        f(np.ones((n, 7)))
    sizes = _table_sizes(f.executor)
    assert sizes and max(sizes) <= 64, sorted(sizes)[-5:]


def _table_sizes(root: object) -> list[int]:
    """Sizes of the dicts reachable from ``root`` through runtime objects (not arrays or IR)."""
    seen: set[int] = set()
    sizes: list[int] = []
    pending = [root]
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, np.ndarray | str | bytes | int | float):
            continue
        seen.add(id(obj))
        module = type(obj).__module__
        if isinstance(obj, dict):
            sizes.append(len(obj))
            pending.extend(obj.values())
        elif isinstance(obj, list | tuple):
            pending.extend(obj)
        elif module.startswith("tensorir.runtime"):
            pending.extend(getattr(obj, "__dict__", {}).values())
    return sizes
