"""The OpenBLAS settings chosen at import (src/tensorir/openblas_environment.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tensorir.openblas_environment import SKYLAKEX_FEATURES, choose_openblas_environment, cpu_flags, openblas_core_for

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})


def test_the_avx512_kernels_only_where_every_subset_they_use_is_there() -> None:
    assert openblas_core_for(AVX2 | SKYLAKEX_FEATURES) == "SkylakeX"
    assert openblas_core_for(AVX2) is None
    assert openblas_core_for(AVX2 | {"avx512f"}) is None  # Knights Landing-like: no BW/VL


def test_a_users_setting_stays() -> None:
    env = {"OPENBLAS_CORETYPE": "Haswell"}
    made = choose_openblas_environment(env, AVX2 | SKYLAKEX_FEATURES)
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and "OPENBLAS_CORETYPE" not in made
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "4"
    env = {}
    assert choose_openblas_environment(env, AVX2) == {"OPENBLAS_THREAD_TIMEOUT": "4"}


def test_cpu_flags_reads_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n\nprocessor\t: 1\nflags\t: other\n")
    assert cpu_flags(str(info)) == {"fpu", "sse", "avx2", "avx512f"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_importing_tensorir_sets_them_before_scipy_loads_openblas() -> None:
    code = ("import os, tensorir, scipy.linalg, threadpoolctl\n"
            "from tensorir.openblas_environment import cpu_flags, openblas_core_for\n"
            "core = openblas_core_for(cpu_flags())\n"
            "assert os.environ['OPENBLAS_THREAD_TIMEOUT'] == '4'\n"
            "assert os.environ.get('OPENBLAS_CORETYPE') == core, os.environ.get('OPENBLAS_CORETYPE')\n"
            "libs = [i for i in threadpoolctl.threadpool_info() if 'scipy_openblas-' in i['filepath']]\n"
            "if core and libs: assert libs[0]['architecture'].lower() == core.lower(), libs\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OPENBLAS_")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
