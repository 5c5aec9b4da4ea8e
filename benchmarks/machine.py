"""Machine description, package versions and the physical limits (copy bandwidth, GEMM rate)."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from importlib import metadata

import numpy as np

PACKAGES = ("tensorir", "numpy", "scipy", "llvmlite", "pytensor", "jax", "jaxlib", "torch")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_isa() -> str:
    """The widest x86 vector extension the CPU reports (what the kernels are compiled for)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    return next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2"))
                 if flag in flags), platform.machine())


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def copy_bandwidth(nbytes: int, repeat: int = 10) -> float:
    """Bytes moved per second by ``np.copyto`` on ``nbytes`` (read + write counted: 2 * nbytes)."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch: page faults are not bandwidth
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return 2 * src.nbytes / statistics.median(times)


def gemm_gflops(n: int, repeat: int = 5) -> float:
    """float32 GEMM rate of NumPy's BLAS on n x n matrices, in GFLOP/s (2 n^3 flops per product)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def machine_markdown(threads: int, copy_bytes: int, gemm_n: int) -> tuple[str, dict[str, float]]:
    """Markdown block describing the machine; also returns the measured limits for the workloads."""
    bw = copy_bandwidth(copy_bytes)
    gf = gemm_gflops(gemm_n)
    vers = versions()
    lines = [
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- CPU: {cpu_model()}, {usable_cores()} usable cores ({os.cpu_count()} logical), "
        f"{platform.system()} {platform.machine()}, {vector_isa()}",
        f"- threads given to every framework: {threads} (OMP/OpenBLAS/MKL env vars, torch.set_num_threads, "
        "XLA intra-op threads)",
        f"- copy bandwidth (np.copyto, {copy_bytes / 1e6:.0f} MB, read+write counted): {bw / 1e9:.2f} GB/s",
        f"- float32 GEMM (NumPy BLAS, {gemm_n}x{gemm_n}): {gf:.1f} GFLOP/s",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
    ]
    return "\n".join(lines), {"copy_bandwidth": bw, "gemm_gflops": gf}
