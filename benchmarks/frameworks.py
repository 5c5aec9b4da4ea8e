"""Framework names, thread settings and lazy imports.

Every framework is imported only inside the workload function that uses it, through the
helpers here, so a missing or broken peer becomes an error cell instead of a crash.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Column order of the tables. tensorir first: it is the subject, the others are peers.
ALL_FRAMEWORKS: tuple[str, ...] = ("tensorir", "numpy", "pytensor", "jax", "torch", "torch-compile")
PEERS: tuple[str, ...] = tuple(f for f in ALL_FRAMEWORKS if f != "tensorir")

# Every framework works in float32, as the Theano tutorial does with floatX=float32.
FLOAT_FLAGS = "floatX=float32"


def configure_threads(threads: int) -> None:
    """Give every framework the same thread budget; must run before numpy/torch/jax are imported.

    BLAS libraries (OpenBLAS under NumPy/SciPy/PyTensor, MKL/OpenMP under PyTorch) read these at
    load time, XLA's CPU client reads its own flag, so setting them later has no effect.
    """
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "TENSORIR_NUM_THREADS"):
        os.environ[var] = n
    # All frameworks share one process and alternate; an idle OpenMP pool that spin-waits
    # (the default) steals the cores from whichever framework runs next.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS's workers do the same for 2^28 cycles (about 0.1 s) after each product: NumPy's
    # kept one of the two cores busy through the next framework's samples (measured: tensorir's
    # W4 step 1.46 ms after tensorir, 2.7 ms after NumPy). 2^4 cycles: they sleep at once.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}")
    # Same float width in every Theano-line framework; appended so a caller's flags survive.
    for var in ("PYTENSOR_FLAGS", "TENSORIR_FLAGS"):
        old = os.environ.get(var, "")
        if "floatX" not in old:
            os.environ[var] = f"{old},{FLOAT_FLAGS}" if old else FLOAT_FLAGS
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["BENCH_THREADS"] = n


def threads() -> int:
    return int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


def import_tensorir() -> tuple[ModuleType, ModuleType]:
    """Return ``(tensorir, tensorir.tensor)``; falls back to the checkout's ``src/`` when not installed."""
    try:
        tr = importlib.import_module("tensorir")
    except ImportError:
        src = str(REPO_ROOT / "src")
        if src not in sys.path:
            sys.path.insert(0, src)
        tr = importlib.import_module("tensorir")
    T = importlib.import_module("tensorir.tensor")
    return tr, T


def import_torch() -> Any:
    import torch

    # torch ignores OMP_NUM_THREADS once its pool exists; set it explicitly as well.
    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())
    return torch


def import_jax() -> Any:
    import jax

    return jax


def import_pytensor() -> tuple[Any, Any]:
    import pytensor
    import pytensor.tensor as pt

    return pytensor, pt
