"""The large-buffer reuse switch: applied once, harmless, and it keeps results right."""

from __future__ import annotations

import os
import subprocess
import sys

from tensorir.runtime.allocation import reuse_large_buffers


def test_reuse_large_buffers_is_idempotent() -> None:
    first = reuse_large_buffers()
    assert reuse_large_buffers() is first


def test_large_outputs_stay_correct_after_reuse() -> None:
    # A freed 48 MB block is handed out again: results must not leak from one call into the next.
    code = (
        "import numpy as np, tensorir, tensorir.tensor as T\n"
        "x = T.vector('x', dtype='float32')\n"
        "f = tensorir.function([x], x * 2)\n"
        "for k in range(3):\n"
        "    v = np.full(12_000_000, k, np.float32)\n"
        "    out = f(v)\n"
        "    assert out.shape == v.shape and np.all(out == 2 * k), k\n"
        "    del out\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def test_flag_off_leaves_malloc_alone() -> None:
    code = (
        "import tensorir, tensorir.tensor as T\n"
        "from tensorir.runtime import allocation\n"
        "x = T.vector('x')\n"
        "tensorir.function([x], x + 1)\n"
        "print(allocation.reuse_large_buffers.cache_info().currsize)\n"
    )
    env = {**os.environ, "TENSORIR_FLAGS": "reuse_large_buffers=False"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"
