"""The OpenBLAS settings tensorir chooses before SciPy's OpenBLAS is loaded.

tensorir's products call SciPy's OpenBLAS. OpenBLAS reads its environment once, when the library
loads (at SciPy's first ``scipy.linalg`` import), so these are set when tensorir is imported,
each only when the user has not set it:

- ``OPENBLAS_THREAD_TIMEOUT``: OpenBLAS's idle worker threads spin for about 0.1 s after each
  multi-threaded product and take a core from tensorir's own kernel threads; on 2 cores that
  halved every kernel after a dense product.
- ``OPENBLAS_CORETYPE``: OpenBLAS picks its kernels from the CPU model it recognizes. A CPU with
  AVX-512 that this OpenBLAS release does not know (AMD's Zen 4, for one) gets its AVX2
  (``Haswell``) kernels; its AVX-512 (``SkylakeX``) kernels run the same products up to 1.6x
  faster there (benchmarks/RESULTS.md). With every AVX-512 subset those kernels use, tensorir asks
  for them; on CPUs OpenBLAS already knows, they are what it picks for single and double
  precision anyway.

A program that imported SciPy's linear algebra before tensorir keeps what OpenBLAS chose then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

__all__ = ["SKYLAKEX_FEATURES", "choose_openblas_environment", "cpu_flags", "openblas_core_for"]

#: The AVX-512 subsets OpenBLAS's SkylakeX kernels use.
SKYLAKEX_FEATURES = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})

#: Settings made when unset: variable -> value (the core type is decided from the CPU's flags).
FIXED_SETTINGS: Mapping[str, str] = {"OPENBLAS_THREAD_TIMEOUT": "4"}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's feature flags (empty where the file is not there or unreadable)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def openblas_core_for(flags: frozenset[str]) -> str | None:
    """The OpenBLAS core type to ask for on a CPU with ``flags``, or None to let OpenBLAS choose."""
    return "SkylakeX" if SKYLAKEX_FEATURES <= flags else None


def choose_openblas_environment(environ: MutableMapping[str, str] | None = None,
                                flags: frozenset[str] | None = None) -> dict[str, str]:
    """Set the variables above in ``environ`` (the process's) where unset; returns those set."""
    env = os.environ if environ is None else environ
    chosen = dict(FIXED_SETTINGS)
    core = openblas_core_for(cpu_flags() if flags is None else flags)
    if core is not None:
        chosen["OPENBLAS_CORETYPE"] = core
    made = {}
    for name, value in chosen.items():
        if name not in env:
            env[name] = value
            made[name] = value
    return made
