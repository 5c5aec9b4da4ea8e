"""Which kernel runs a matrix product, decided from costs measured on this machine (issue 33).

A product can run on SciPy's BLAS, on the own register-tiled kernels (``skinny`` products, see
runtime/native_blas.py; ``panels`` in a loop step, runtime/native_panels.py), split over the
pool's threads or not. Which wins depends on the CPU, its core count and the BLAS build, so the
choice is not fixed by the shapes of one benchmark: :func:`measure_product_table` times each own
kernel against BLAS at a grid of sizes per kind, and the worker thread's start latency, and a
:class:`ProductTable` answers from the nearest measured size.

The table is measured once per machine (CPU model and features, usable cores, SciPy version),
on first need or by ``python -m tensorir.tools.tune_products``, and kept as JSON in the user's
cache (``$TENSORIR_PRODUCT_TABLE`` names another file; ``off`` never measures and keeps the
built-in rules). Tests inject a table with :func:`use_product_table` and never time anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_WAKE_SECONDS", "ProductTable", "measure_product_table", "product_table", "table_path",
           "use_product_table"]

TABLE_VERSION = 3
#: Without a measurement: how late the pool's worker starts after the calling thread, and one
#: thread's multiply-add rate in the own kernels (float32), as measured on the development VM
#: (a split product's worker started 5-40 us late).
DEFAULT_WAKE_SECONDS = 30e-6
#: How late the loop helper starts its half of a panel product: it spins between a loop step's
#: splits (runtime/loop_helper.py), so a hand-over is a few cache-line transfers, not the pool's
#: wake-up from sleep.
HELPER_HANDOFF_SECONDS = 2e-6
#: Kinds split with the loop helper rather than the thread pool.
_HELPER_KINDS = frozenset({"panels"})
DEFAULT_FMA_PER_SECOND = 2.5e10
#: Sizes timed per kind: (m, n, k), each kind within its kernels' limits (native_blas.skinny_kind,
#: native_panels.PanelProducts.plan). Spread over batch sizes and layer widths of dense layers.
MEASURED_SIZES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "dots": ((32, 10, 128), (128, 10, 500), (600, 10, 784), (128, 16, 1024)),
    "columns": ((500, 10, 20), (784, 10, 128), (784, 10, 600), (256, 16, 256)),
    "small_inner": ((32, 500, 10), (128, 100, 10), (256, 784, 16), (600, 256, 10), (784, 500, 32),
                    (500, 784, 64)),
    "panels": ((16, 256, 128), (32, 1024, 256), (64, 512, 512), (32, 3 * 256, 256)),
    "short": ((20, 500, 784), (32, 256, 256), (64, 1000, 784), (16, 2048, 512)),
}


@dataclass
class ProductTable:
    """Measured product costs of one machine.

    ``entries``: ``(kind, dtype, m, n, k, own_seconds, blas_seconds)`` for ``op(A) (m x k) @ op(B)
    (k x n)``: the own kernel of ``kind`` on one thread, BLAS with ``threads`` threads.
    ``wake_seconds``: how late the pool's worker starts a split kernel. ``fma_per_second``: one
    thread's rate in the own kernels.
    """

    machine: str = ""
    threads: int = 1
    entries: list[tuple[str, str, int, int, int, float, float]] = field(default_factory=list)
    wake_seconds: float = DEFAULT_WAKE_SECONDS
    fma_per_second: float = DEFAULT_FMA_PER_SECOND
    version: int = TABLE_VERSION

    def nearest(self, kind: str, dtype: str, m: int, n: int, k: int) -> tuple[float, float] | None:
        """``(own_seconds, blas_seconds)`` of the measured size of ``kind`` nearest to ``m, n, k``
        (distance in log2 of each size), scaled to this size's multiply-adds; None when none is
        measured for the kind and dtype (callers keep their built-in rule)."""
        best, best_distance = None, math.inf
        point = [math.log2(max(v, 1)) for v in (m, n, k)]
        for entry in self.entries:
            if entry[0] != kind or entry[1] != dtype:
                continue
            distance = sum((a - math.log2(max(b, 1))) ** 2 for a, b in zip(point, entry[2:5]))
            if distance < best_distance:
                best, best_distance = entry, distance
        if best is None:
            return None
        scale = (m * n * k) / max(best[2] * best[3] * best[4], 1)
        return best[5] * scale, best[6] * scale

    def own_wins(self, kind: str, dtype: str, m: int, n: int, k: int, threads: int = 1) -> bool | None:
        """Whether the own kernel of ``kind`` beats BLAS at this size on ``threads`` threads (the
        own kernel's time divided among them, plus the worker's late start); None: not measured.
        Answers are kept by size (a product's call path asks at every call)."""
        key = (kind, dtype, m, n, k, threads)
        answers = self.__dict__.setdefault("_answers", {})
        if key in answers:
            return answers[key]
        if len(answers) >= _MAX_ANSWERS:
            answers.clear()  # ever new batch sizes must not grow it without end
        answer = answers[key] = self._own_wins(kind, dtype, m, n, k, threads)
        return answer

    def _own_wins(self, kind: str, dtype: str, m: int, n: int, k: int, threads: int) -> bool | None:
        costs = self.nearest(kind, dtype, m, n, k)
        if costs is None:
            return None
        own, blas = costs
        if threads > 1:
            own = own / threads + (HELPER_HANDOFF_SECONDS if kind in _HELPER_KINDS else self.wake_seconds)
        return own <= blas

    def split_pays(self, threads: int, fma: int) -> bool:
        """Whether splitting a kernel of ``fma`` multiply-adds over ``threads`` threads saves more
        than the workers' late start costs twice over (they start late and are waited for)."""
        return self.split_pays_seconds(threads, fma / self.fma_per_second)

    def split_pays_seconds(self, threads: int, whole: float) -> bool:
        """:meth:`split_pays` for a kernel that takes ``whole`` seconds on one thread."""
        return threads > 1 and whole * (1 - 1 / threads) > 2 * self.wake_seconds

    def main_share(self, threads: int, fma: int) -> float:
        """The calling thread's share of a kernel split over ``threads`` threads whose workers
        start ``wake_seconds`` late: with ``t`` the whole kernel's time on one thread, equal
        finishing times give ``1/p + (wake/t) (1 - 1/p)`` (at most 1)."""
        if threads <= 1:
            return 1.0
        whole = max(fma / self.fma_per_second, 1e-9)
        return min(1.0, 1 / threads + (self.wake_seconds / whole) * (1 - 1 / threads))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ProductTable:
        data = json.loads(text)
        if data.get("version") != TABLE_VERSION:
            raise ValueError(f"product table version {data.get('version')}, expected {TABLE_VERSION}")
        data["entries"] = [tuple(e) for e in data["entries"]]
        return cls(**data)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_key(threads: int) -> str:
    """What a table is valid for: the CPU, the threads, the BLAS (SciPy's version, and the
    OpenBLAS kernels ``OPENBLAS_CORETYPE`` asks for: they set BLAS's side of every comparison),
    the own kernels' vector width (``TENSORIR_VECTOR_BITS`` may narrow it), and the table's
    version: two tensorir versions on one machine keep a table each instead of measuring again
    on every alternation."""
    from tensorir.codegen.cpu.registers import host_registers
    from tensorir.runtime.compile_cache import _distribution_versions, _host_cpu

    core = os.environ.get("OPENBLAS_CORETYPE", "")
    text = (f"{_host_cpu()}\n{_usable_cores()} cores, {threads} threads\n{_distribution_versions(('scipy',))}"
            f"\nOpenBLAS core {core}\nown kernels {host_registers().bits}-bit\ntable version {TABLE_VERSION}")
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def table_path(threads: int) -> Path | None:
    """The table's file: ``$TENSORIR_PRODUCT_TABLE`` when set (None for ``off``), else one per
    machine key in the user's cache directory (beside, not inside, the compile cache: a fresh
    compile directory must not measure again)."""
    env = os.environ.get("TENSORIR_PRODUCT_TABLE")
    if env == "off":
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tensorir-tuning" / f"products-{machine_key(threads)}.json"


#: Sizes whose answers a table keeps (see ProductTable.own_wins).
_MAX_ANSWERS = 256
_LOCK = threading.Lock()
_TABLES: dict[int, ProductTable] = {}
_INJECTED: list[ProductTable] = []


@contextlib.contextmanager
def use_product_table(table: ProductTable) -> Iterator[ProductTable]:
    """Decide every product by ``table`` inside the block (tests: nothing is measured)."""
    _INJECTED.append(table)
    try:
        yield table
    finally:
        _INJECTED.remove(table)


def product_table(context: object, threads: int) -> ProductTable:
    """The table for ``threads`` threads: injected, already loaded, read from its file, or
    measured now with ``context``'s kernels and saved (once per machine). Cheap after the first
    call."""
    if _INJECTED:
        return _INJECTED[-1]
    table = _TABLES.get(threads)
    if table is not None:
        return table
    with _LOCK:
        table = _TABLES.get(threads)
        if table is None:
            table = _TABLES[threads] = _load_or_measure(context, threads)
    return table


def _load_or_measure(context: object, threads: int) -> ProductTable:
    path = table_path(threads)
    if path is None:
        return ProductTable(machine="built-in rules", threads=threads)
    try:
        return ProductTable.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        pass  # none yet, or an older or damaged one: measure again
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("")
    except OSError:
        # A read-only cache: every process would measure again, so none does.
        return ProductTable(machine="built-in rules (the cache folder is not writable)", threads=threads)
    print(f"tensorir: timing matrix-product kernels against BLAS once for this machine (a few seconds); "
          f"saved to {path}, `tensorir-tune-products` measures again", file=sys.stderr)
    try:
        table = measure_product_table(context, threads)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        tmp.write_text(table.to_json())
        os.replace(tmp, path)
    except OSError:
        pass  # the folder went away meanwhile: the table lives for this process only
    return table


def _best_time(call: Callable[[], None], repeat: int = 5, inner: int = 3) -> float:
    """The least median-of-``inner`` time of ``call`` over ``repeat`` rounds (the quietest round
    on a busy machine)."""
    call()
    rounds = []
    for _ in range(repeat):
        times = []
        for _ in range(inner):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        rounds.append(statistics.median(times))
    return min(rounds)


def measure_product_table(context: object, threads: int, dtypes: tuple[str, ...] = ("float32", "float64"),
                          sizes: dict[str, tuple[tuple[int, int, int], ...]] | None = None) -> ProductTable:
    """Time the own kernels against BLAS at ``sizes`` (default :data:`MEASURED_SIZES`) in a
    :class:`~tensorir.runtime.native_kernels.KernelContext`; a few hundred milliseconds plus the
    kernels' first compilation. Nothing is recorded into a loop being recorded."""
    from tensorir.runtime.native_blas import BlasKernels, SkinnyKernels
    from tensorir.runtime.native_kernels import RECORDING
    from tensorir.runtime.native_panels import PanelProducts

    sizes = MEASURED_SIZES if sizes is None else sizes
    recorder, RECORDING.recorder = RECORDING.recorder, None
    rng = np.random.default_rng(0)
    table = ProductTable(machine=machine_key(threads), threads=threads)
    try:
        for dtype in dtypes:
            kernels = (BlasKernels(context.cache, dtype), SkinnyKernels(context, dtype),  # type: ignore[attr-defined]
                       PanelProducts(context, dtype))  # type: ignore[arg-type]
            for kind, shapes in sizes.items():
                for m, n, k in shapes:
                    own, blas = _own_and_blas(kernels, kind, rng, m, n, k, dtype, threads)
                    table.entries.append((kind, dtype, m, n, k, own, blas))
        rates = [e[2] * e[3] * e[4] / e[5] for e in table.entries if e[0] != "panels" and e[1] == dtypes[0]]
        if rates:
            table.fma_per_second = max(rates)
        table.wake_seconds = _wake_time(context, threads)
    finally:
        RECORDING.recorder = recorder
    return table


def _own_and_blas(kernels: tuple, kind: str, rng: np.random.Generator, m: int, n: int, k: int, dtype: str,
                  threads: int) -> tuple[float, float]:
    """(own kernel on one thread, BLAS on ``threads``) seconds for one size of ``kind``."""
    from tensorir.runtime.native_blas import SkinnyPlan, configure_blas_threads

    blas, skinny, panels = kernels
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    if kind == "panels":
        own = _panel_time(panels, a, b, out)
    else:
        # The layout each kernel reads in place: ``columns`` op(A) by columns, ``dots`` op(B) by
        # columns (both Fortran order here), ``small_inner`` op(B) by rows.
        a_in = np.asfortranarray(a) if kind == "columns" else a
        b_in = np.asfortranarray(b) if kind == "dots" else b
        plan = SkinnyPlan(kind, m, n, k, (1, m) if kind == "columns" else (k, 1), (1, k) if kind == "dots" else (n, 1),
                          False)
        own = _best_time(lambda: skinny.run(plan, a_in, b_in, out, out, 1.0, 0.0))
    configure_blas_threads(threads, m * n * k)
    return own, _best_time(lambda: blas.gemm(a, b, out))


def _panel_time(panels: object, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> float:
    """One thread's time of a panel product (op(B) packed once, as a loop packs it once a run)."""
    m, k = a.shape
    n = b.shape[1]
    width = panels.width  # type: ignore[attr-defined]
    pack, product = panels.kernels.get("pack"), panels.kernels.get("product")  # type: ignore[attr-defined]
    packed = np.empty(n * k, a.dtype)
    item = a.dtype.itemsize
    pack(0, n // width, id(b), id(packed), k, n, b.strides[0] // item, b.strides[1] // item)
    return _best_time(lambda: product(0, n // width, id(a), id(packed), id(out), m, k, n))


def _wake_time(context: object, threads: int) -> float:
    """How late the pool's worker starts a split kernel: a kernel's time split in two parts
    minus half its time whole, the least of a few."""
    pool = context.pool  # type: ignore[attr-defined]
    if threads <= 1 or pool.num_threads <= 1:
        return DEFAULT_WAKE_SECONDS
    from tensorir.runtime.native_steps import divide_kernel_spec

    name, (text, n_args) = divide_kernel_spec("float64")
    fn = context.load(text, name, n_args)  # type: ignore[attr-defined]
    n = 2 * max(pool.min_chunk, pool.align)
    data, divisor = np.ones(n), np.ones(())
    args = (id(data), id(divisor), id(data))
    split = _best_time(lambda: pool.run(fn, n, args), repeat=7)
    whole = _best_time(lambda: fn(0, n, *args), repeat=7)
    return max(split - whole / 2, 1e-6)
