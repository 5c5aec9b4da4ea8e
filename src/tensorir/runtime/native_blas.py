"""BLAS steps of a native plan: ``tir.gemm``, ``tir.gemv``, ``tir.ger`` and ``tir.dot`` on SciPy's BLAS.

The calls come from generated code (:mod:`tensorir.codegen.cpu.lower_blas`): one small kernel
per routine reads the operands' data pointers, dims and strides from the array objects and
calls SciPy's Fortran BLAS through its ``cython_blas`` function pointer. Python checks shapes
(clear errors), allocates the output and makes one ctypes call. Operands BLAS cannot read in
place (negative or odd strides, misaligned data) are reported by the kernel and passed again
as C-contiguous copies. Only SciPy's BLAS is called (NumPy's bundled copy is not), and its
thread count follows tensorir's pool (:func:`configure_blas_threads`).

For other steps that multiply raw buffers (e.g. a convolution as im2col and one product),
:meth:`BlasKernels.gemm_raw` is the row-major ``C = alpha op(A) op(B) + beta C`` on pointers
and :meth:`BlasKernels.gemm` the same on arrays; get the kernels of a dtype with
:func:`blas_kernels` (``blas_kernels(context.cache, "float32")`` inside a native step).
"""

from __future__ import annotations

import ctypes
import functools
import math
import struct
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from tensorir.codegen.cpu.lower_skinny import PACK_N_ARGS, SKINNY_N_ARGS, skinny_tiles
from tensorir.dialects.tir.control import ScanLayout
from tensorir.runtime.blas import blas_pointer, get_blas_num_threads, set_blas_num_threads
from tensorir.runtime.compile_cache import CompileCache, get_cache
from tensorir.runtime.core_share import thread_cap
from tensorir.runtime.native_kernels import (
    RECORDING,
    KernelContext,
    KernelSet,
    KernelText,
    function_address,
    kernel_name,
    python_work,
    record_copy,
)
from tensorir.runtime.native_panels import PanelProducts
from tensorir.runtime.native_steps import broadcast_into, copy_kernels
from tensorir.runtime.product_table import product_table
from tensorir.runtime.step_traits import PredictsKernels, StepTraits

__all__ = ["SKINNY_CALLS", "BlasKernels", "BlasStep", "SkinnyKernels", "SkinnyPlan", "blas_kernels",
           "configure_blas_threads", "skinny_kind"]

_BLAS_DTYPES = ("float32", "float64")
#: Status bit of a kernel whose sizes exceed Fortran's 32-bit int (see lower_blas.TOO_LARGE).
_TOO_LARGE = 1 << 8


# Below this many multiply-adds a product runs on one BLAS thread. With OpenBLAS's idle threads
# spinning for 0.1 s (its default) two threads lost even at 600x784x10; since tensorir sets
# OPENBLAS_THREAD_TIMEOUT they gain from about 1M multiply-adds on 2 cores: logistic-regression
# step (600x784x10 products) 0.85 -> 0.69 ms, char-LSTM step (32x256x1024 per loop step) 97 -> 86 ms,
# MLP and LeNet unchanged (moving the threshold from 2^24 to 2^20).
SMALL_PRODUCT = 1 << 20
#: Largest inner size of a product whose accumulation ``beta*c + alpha*op(A)op(B)`` is left to
#: BLAS. Beyond its K-block (OpenBLAS's GEMM_Q: 256 or more on x86, both precisions) BLAS adds
#: each block's partial product into C, rounded at C's magnitude once per block. For an update
#: ``W - lr*dot(g, x.T)`` whose step is small against W that is most of the step: float32 W came
#: out 1.2 ulps off on average at k = 8192 and 2.3 at 32768, against 0.25 for a separate product
#: and subtraction (tests/runtime/test_update_precision.py). Past it the product goes to a buffer
#: of its own and is added once (one more pass over C, small beside the k-fold product).
FOLDED_MAX_K = 256
_blas_threads_now: list[int | None] = [None]


def configure_blas_threads(num_threads: int, work: int | None = None) -> None:
    """Give SciPy's BLAS one thread for small products, ``num_threads`` for large ones.

    The switch is one call into OpenBLAS, made only when the wanted count changes.
    """
    want = 1 if work is not None and work < SMALL_PRODUCT else num_threads
    recorder = RECORDING.recorder
    if recorder is None:
        want = min(want, thread_cap())  # a recording keeps the count; its replay applies the cap
    else:
        # A replayed loop sets the count once for all its products (runtime/native_loop.py);
        # a replayed call sets it before each product that wants another count.
        recorder.blas_threads = max(recorder.blas_threads, want)
        if recorder.pool_calls and not recorder.blas_thread_count(want):
            recorder.invalidate("BLAS threads that cannot be set from native code")
    if _blas_threads_now[0] == want:
        return
    try:
        if _blas_threads_now[0] is None and get_blas_num_threads() is None:
            return
        set_blas_num_threads(want)
        _blas_threads_now[0] = want
    except Exception:  # noqa: BLE001 - no BLAS found or the library refuses: keep its default
        _blas_threads_now[0] = want


def note_blas_threads(num_threads: int) -> None:
    """Tell :func:`configure_blas_threads` that native code (a replay) set the count (capped
    there by the thread cap)."""
    _blas_threads_now[0] = min(num_threads, thread_cap())


_I64, _PTR, _F64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double


def _c_contiguous_copy(x: np.ndarray) -> np.ndarray:
    # np.array copies always, so the copy is also aligned (ascontiguousarray keeps a misaligned
    # but contiguous array as it is).
    return np.array(x, order="C")


def blas_kernel_name(kernel: str, dtype: str) -> str:
    """The symbol of a BLAS call kernel (see lower_blas.BLAS_KERNELS), the same in every process."""
    return kernel_name("blas", kernel, str(dtype))


class BlasKernels:
    """The BLAS call kernels of one dtype, each loaded on first use.

    A kernel comes from ``modules`` (the executor compiled it with its other kernels: see
    :meth:`BlasStep.predicted_kernels`) or else from the compile cache, one small module each.
    Array methods take NumPy arrays of the dtype (any strides) and a C-contiguous output the
    caller owns; layouts BLAS cannot read in place are copied, never refused.
    """

    def __init__(self, cache: CompileCache | None, dtype: str, modules: dict[str, object] | None = None) -> None:
        if str(dtype) not in _BLAS_DTYPES:
            raise ValueError(f"BLAS kernels exist for {_BLAS_DTYPES}, not {dtype}")
        self.dtype = np.dtype(dtype)
        self._cache = cache
        self._modules = modules if modules is not None else {}
        self._loaded: dict[str, tuple[Callable[..., int], int]] = {}
        self._keep: list[object] = []  # modules whose code the functions run

    def function(self, kernel: str) -> tuple[Callable[..., int], int]:
        """(ctypes function, address of the BLAS routine it calls) of ``kernel``."""
        loaded = self._loaded.get(kernel)
        if loaded is None:
            from tensorir.codegen.cpu.lower_blas import BLAS_KERNELS, blas_kernel, blas_routine

            dtype = self.dtype.name
            name = blas_kernel_name(kernel, dtype)
            module = self._modules.get(name)
            if module is None:
                cache = self._cache if self._cache is not None else get_cache("")
                # O1: the kernel is a few loads and one call; nothing for O3 to find.
                module = cache.get_lazy(name, lambda: blas_kernel(kernel, name, dtype), opt_level=1)
            self._keep.append(module)
            params, _ = BLAS_KERNELS[kernel]
            argtypes = [_PTR] + [_F64 if p == "f64" else _PTR for p in params]
            fn = ctypes.CFUNCTYPE(_I64, *argtypes)(module.address(name))  # type: ignore[attr-defined]
            loaded = self._loaded[kernel] = (fn, blas_pointer(blas_routine(kernel, dtype)))
        return loaded

    def gemm(self, a: np.ndarray, b: np.ndarray, out: np.ndarray, trans_a: bool = False, trans_b: bool = False,
             alpha: float = 1.0, beta: float = 0.0) -> None:
        """``out = alpha op(a) op(b) + beta out`` (``op(x)`` is ``x.T`` when its flag is set); sizes >= 1."""
        fn, routine = self.function("gemm")
        status = fn(routine, id(a), id(b), id(out), trans_a, trans_b, alpha, beta)
        _record("gemm", fn, status, (routine, id(a), id(b), id(out), int(trans_a), int(trans_b)), (alpha, beta))
        if status & (1 | 2):
            a = _c_contiguous_copy(a) if status & 1 else a
            b = _c_contiguous_copy(b) if status & 2 else b
            status = fn(routine, id(a), id(b), id(out), trans_a, trans_b, alpha, beta)
        if status:
            self._too_large(status)
            product = (a.T if trans_a else a) @ (b.T if trans_b else b)
            out[...] = alpha * product + beta * out if beta else alpha * product

    def gemv(self, a: np.ndarray, x: np.ndarray, out: np.ndarray, trans: bool = False, alpha: float = 1.0,
             beta: float = 0.0) -> None:
        """``out = alpha op(a) x + beta out`` for a matrix and a vector; sizes >= 1."""
        fn, routine = self.function("gemv")
        status = fn(routine, id(a), id(x), id(out), trans, alpha, beta)
        _record("gemv", fn, status, (routine, id(a), id(x), id(out), int(trans)), (alpha, beta))
        if status & (1 | 2):
            a = _c_contiguous_copy(a) if status & 1 else a
            x = _c_contiguous_copy(x) if status & 2 else x
            status = fn(routine, id(a), id(x), id(out), trans, alpha, beta)
        if status:
            self._too_large(status)
            product = (a.T if trans else a) @ x
            out[...] = alpha * product + beta * out if beta else alpha * product

    def ger(self, x: np.ndarray, y: np.ndarray, out: np.ndarray, alpha: float) -> None:
        """``out += alpha outer(x, y)``; ``out`` C-contiguous ``len(x) x len(y)``, sizes >= 1."""
        fn, routine = self.function("ger")
        status = fn(routine, id(x), id(y), id(out), alpha)
        _record("ger", fn, status, (routine, id(x), id(y), id(out)), (alpha,))
        if status & (1 | 2):
            x = _c_contiguous_copy(x) if status & 1 else x
            y = _c_contiguous_copy(y) if status & 2 else y
            status = fn(routine, id(x), id(y), id(out), alpha)
        if status:
            self._too_large(status)
            out += alpha * np.outer(x, y)

    def dot(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``x . y`` as a 0-d array, for vectors of one length >= 1."""
        out = np.empty((), self.dtype)
        fn, routine = self.function("dot")
        status = fn(routine, id(x), id(y), id(out))
        _record("dot", fn, status, (routine, id(x), id(y), id(out)), ())
        if status & (1 | 2):
            x = _c_contiguous_copy(x) if status & 1 else x
            y = _c_contiguous_copy(y) if status & 2 else y
            status = fn(routine, id(x), id(y), id(out))
        if status:
            self._too_large(status)
            out[()] = np.dot(x, y)
        return out

    def gemm_raw(self, a: int, b: int, c: int, m: int, n: int, k: int, lda: int, ldb: int, ldc: int,
                 trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0) -> None:
        """Row-major ``C = alpha op(A) op(B) + beta C`` on raw data addresses of this dtype.

        ``A`` is ``m x k`` (``k x m`` when ``trans_a``) with rows ``lda`` elements apart, ``B``
        ``k x n`` (``n x k``) with rows ``ldb`` apart, ``C`` ``m x n`` with rows ``ldc`` apart.
        Sizes must be >= 1 and leading dims at least the row lengths (BLAS's rules); nothing is
        checked but the 32-bit limit (``OverflowError``). The GIL is released during the call.
        """
        fn, routine = self.function("gemm_raw")
        status = fn(routine, a, b, c, m, n, k, lda, ldb, ldc, trans_a, trans_b, alpha, beta)
        if status:
            raise OverflowError(f"gemm of {m}x{k} by {k}x{n}: sizes beyond BLAS's 32-bit integers")

    @staticmethod
    def _too_large(status: int) -> None:
        if status & ~_TOO_LARGE:
            raise RuntimeError(f"BLAS kernel refused C-contiguous operands (status {status})")


def _record(kind: str, fn: Callable[..., int], status: int, ints: tuple[int, ...], floats: tuple[float, ...]) -> None:
    """Give a BLAS call to the active recorder (runtime/native_loop.py); a refused layout (the
    call is repeated on Python-made copies) cannot be replayed."""
    recorder = RECORDING.recorder
    if recorder is None:
        return
    if status:
        recorder.invalidate(f"BLAS {kind} needed copied operands")
    else:
        recorder.blas(kind, function_address(fn), ints, floats)


_KERNELS: dict[tuple[int, str], BlasKernels] = {}
#: Size-keyed kernel choices a skinny step keeps (see SkinnyKernels.variant).
_MAX_CHOSEN = 64


def blas_kernels(cache: CompileCache | None, dtype: str) -> BlasKernels:
    """The process's BLAS kernels of ``dtype`` from ``cache`` (None: the default cache dir)."""
    cache = cache if cache is not None else get_cache("")
    key = (id(cache), str(dtype))
    kernels = _KERNELS.get(key)
    if kernels is None:
        kernels = _KERNELS[key] = BlasKernels(cache, str(dtype))
    return kernels


# -- skinny products: register-tiled kernels instead of BLAS (codegen/cpu/lower_skinny.py) --------
# OpenBLAS's kernels block for wide outputs; with 10 output columns they run at a third of the
# FMA units' rate, and for a small inner size most of a call is overhead. Measured on this
# project's 2-core Zen 3 VM (float32, through BlasStep, best of 3-5 medians of 150-200 calls,
# "one thread" = the skinny kernel unsplit; BLAS with its thread policy above):
#   product                              skinny (1 thread)   BLAS
#   600x784 @ 784x10 (x @ W, packs W)     147                  144-269
#   x.T @ g into 784x10, beta 1          145                  186-347
#   128x500 @ 500x10 (packs)              31                   37
#   128x10 @ (500x10).T (packs)           33                   35
#   h.T @ g into 500x10, beta 1           29                   63
# Where they lose, by 0.4-1 us a call: ``dots`` that must pack op(B) with k < 256 (128x128x10:
# 15.9 vs 15.2 us), ``small_inner`` that must pack it for fewer than 64 rows or 256 columns
# (32x10x500: 17.3 vs 16.9, 128x10x100: 15.4 vs 14.4); without a pack they won at every size
# tried. float64: the same shapes won or tied (x @ W 304 vs 298 us, h.T @ g 49 vs 107).
#: Most output columns of a ``dots`` or ``columns`` product.
SKINNY_MAX_N = 16
#: Most inner size of ``small_inner``: a weight's gradient over a minibatch (``x.T @ g``, k the
#: batch), two of them joined for a tied weight (passes/blas.py). Up to 64 its tiles held their
#: rate; OpenBLAS, blocking for large k, spent most of such a call on the pass over C (a 784 x 500
#: update at k = 20 and 40: about half the time with ``small_inner`` on one thread). The product
#: table has sizes up to this k, so the measurement decides at each size.
SMALL_INNER_MAX_K = 64
#: Least inner size of a ``dots`` product that packs op(B), least rows and columns of a
#: ``small_inner`` one (below them packing costs more than the kernel gains).
DOTS_PACK_MIN_K = 256
SMALL_INNER_PACK_MIN_M = 64
SMALL_INNER_PACK_MIN_N = 256
#: The kernels re-read op(B) for every tile of rows (``short``: op(A) for every strip of
#: columns): beyond half of a core's L2 they would wait on memory (a huge k) where BLAS blocks
#: for the cache.
SKINNY_MAX_B_BYTES = 256 * 1024
#: Most rows of a ``short`` product (a minibatch, an RNN's batch). Measured on one AVX-512 core
#: against OpenBLAS's SkylakeX kernels (float32, one thread): 20 rows of 784 x 500 took half
#: BLAS's time, 64 rows of 784 x 992 three quarters; at 256 rows BLAS's packing won.
SHORT_MAX_M = 64
# Where BLAS's measured costs are known (runtime/product_table.py, measured once per machine) they
# decide between a skinny kernel and BLAS at the nearest measured size; the rule above says which
# kernel can read the operands and, without a measurement, whether it is worth it. Whether rows
# are split over the pool's threads, and the calling thread's share of them (the worker starts
# late), come from the same table: the measured wake-up latency against the kernel's time. On the
# development VM (wake-up 10-70 us) that split the logistic-regression step's 4.7M multiply-add
# products (321 -> 263 us a step) and not the MLP's 640K ones, the caller taking 0.6 of the rows.
#: Skinny products run so far, by kernel kind (for tests and profiles).
SKINNY_CALLS: Counter[str] = Counter()


def skinny_kind(m: int, n: int, k: int, a_steps: tuple[int, int], b_steps: tuple[int, int],
                itemsize: int) -> str | None:
    """The skinny kernel for ``(m x k) @ (k x n)`` with op(A), op(B) element strides ``a_steps``,
    ``b_steps`` (rows, columns), or None where BLAS is faster (see the measurements above).

    ``dots`` needs op(A)'s rows contiguous, ``columns`` its columns (op(B) any layout);
    ``small_inner`` reads op(A) in any layout. ``dots`` and ``small_inner`` pack op(B) when its
    columns (``dots``) or rows are not contiguous.
    """
    if n * k * itemsize > SKINNY_MAX_B_BYTES:
        # ``short`` reads op(B) once (column strips outermost); it re-reads op(A) instead.
        return "short" if _short_fits(m, k, b_steps, itemsize) else None
    if n <= SKINNY_MAX_N:
        if a_steps[1] == 1:
            return "dots" if b_steps[0] == 1 or k >= DOTS_PACK_MIN_K else None
        return "columns" if a_steps[0] == 1 else None
    if k <= SMALL_INNER_MAX_K:
        if b_steps[1] == 1 or (m >= SMALL_INNER_PACK_MIN_M and n >= SMALL_INNER_PACK_MIN_N):
            return "small_inner"
    return "short" if _short_fits(m, k, b_steps, itemsize) else None


def _short_fits(m: int, k: int, b_steps: tuple[int, int], itemsize: int) -> bool:
    """Whether ``short`` may run the product: few rows, op(B)'s rows contiguous (its strips are
    read in place), op(A) small enough to stay in cache while every strip reads it."""
    return m <= SHORT_MAX_M and b_steps[1] == 1 and m * k * itemsize <= SKINNY_MAX_B_BYTES


def _element_steps(x: np.ndarray, transposed: bool) -> tuple[int, int] | None:
    """Element strides (rows, columns) of ``x.T if transposed else x``; None where the kernels cannot
    address it (misaligned data, a stride not a whole number of elements). A dim of length 1 gets
    step 1: its stride is never used, and a unit step lets either kernel read it."""
    size = x.itemsize
    s0, s1 = x.strides
    if s0 % size or s1 % size or not x.flags.aligned:
        return None
    r0 = 1 if x.shape[0] == 1 else s0 // size
    r1 = 1 if x.shape[1] == 1 else s1 // size
    return (r1, r0) if transposed else (r0, r1)


def _float_bits(value: float) -> int:
    """The bits of a float64 as a signed int64 (kernel arguments are integers)."""
    return struct.unpack("<q", struct.pack("<d", value))[0]


def skinny_kernel_name(kind: str, dtype: str, accumulate: bool, whole: tuple[bool, bool] = (False, False)) -> str:
    """The symbol of a skinny product kernel, the same in every process."""
    return kernel_name("skinny", kind, dtype, str(accumulate), *(("whole", repr(whole)) if any(whole) else ()))


def _skinny_text(kind: str, dtype: str, accumulate: bool,
                 whole: tuple[bool, bool] = (False, False)) -> tuple[str, KernelText, int]:
    from tensorir.codegen.cpu.lower_skinny import pack_kernel, skinny_kernel

    name = skinny_kernel_name(kind, dtype, accumulate, whole)
    # Lazy text: the name hashes every argument, so a cache hit never builds it.
    if kind == "pack":
        return name, functools.partial(pack_kernel, name, dtype), PACK_N_ARGS
    return name, functools.partial(skinny_kernel, name, kind, dtype, accumulate, whole), SKINNY_N_ARGS


class SkinnyPlan(NamedTuple):
    """A product as a skinny kernel runs it (see :meth:`SkinnyKernels.plan`)."""

    kind: str
    m: int
    n: int
    k: int
    a_steps: tuple[int, int]
    b_steps: tuple[int, int]
    parallel: bool


class SkinnyKernels:
    """The skinny product kernels of one dtype in one :class:`KernelContext`, compiled on first use."""

    def __init__(self, context: KernelContext, dtype: str) -> None:
        self.context = context
        self.dtype = np.dtype(dtype)
        self.itemsize = self.dtype.itemsize
        name = self.dtype_name = self.dtype.name
        # ``name`` taken here: ``dtype.name`` costs about 2 us a call.
        # Variants: (kind, accumulate), and (kind, accumulate, whole) for whole tiles.
        self.kernels = KernelSet(context, lambda variant: _skinny_text(variant[0], name, *variant[1:]))
        #: (kind, accumulate, m, n) -> the variant :meth:`variant` chose.
        self._chosen: dict[tuple, tuple] = {}

    def plan(self, a: np.ndarray, b: np.ndarray, trans_a: bool, trans_b: bool) -> SkinnyPlan | None:
        """How a skinny kernel computes ``op(a) @ op(b)``, or None where BLAS is faster (the shapes,
        see :func:`skinny_kind`), where the kernels cannot read the operands (misaligned, odd
        strides), for empty products (BLAS's path has their rules) and for products big enough
        for threads while a loop's step is recorded (its replay runs kernels on one thread and
        BLAS on all; a whole call's replay keeps the pool)."""
        m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
        n = b.shape[0] if trans_b else b.shape[1]
        if not (m and n and k):
            return None
        a_steps, b_steps = _element_steps(a, trans_a), _element_steps(b, trans_b)
        if a_steps is None or b_steps is None:
            return None
        kind = skinny_kind(m, n, k, a_steps, b_steps, self.itemsize)
        if kind is None:
            return None
        threads = self.context.pool.num_threads
        table = product_table(self.context, threads)
        parallel = threads > 1 and table.split_pays(threads, m * n * k)
        if table.own_wins(kind, self.dtype_name, m, n, k, threads if parallel else 1) is False:
            return None
        recorder = RECORDING.recorder
        if parallel and recorder is not None and not recorder.pool_calls:
            return None
        return SkinnyPlan(kind, m, n, k, a_steps, b_steps, parallel)

    def run(self, plan: SkinnyPlan, a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray, alpha: float,
            beta: float) -> None:
        """``out = alpha op(a) op(b) + beta c`` as planned; ``out`` C-contiguous ``m x n``, ``c``
        too (read only when beta is not 0; it may be ``out`` itself)."""
        kind, m, n, k, a_steps, b_steps, parallel = plan
        owners: tuple[np.ndarray, ...] = ()
        if kind == "dots" and b_steps[0] != 1:
            b = self._packed(b, (n, k), (b_steps[1], b_steps[0]))  # the columns of op(B) as rows
            b_steps, owners = (1, k), (b,)
        elif kind == "small_inner" and b_steps[1] != 1:
            b = self._packed(b, (k, n), b_steps)
            b_steps, owners = (n, 1), (b,)
        fn = self.kernels.get(self.variant(kind, beta != 0.0, m, n))
        context = self.context
        extent = n if kind == "short" else m  # what the iterations divide (lower_skinny.py)
        size = self._iteration_size(m, n, k, kind) if parallel else extent
        args = (id(a), id(b), id(c), id(out), m, n, k, size, *a_steps, *b_steps, _float_bits(alpha),
                _float_bits(beta))
        context.run(fn, -(-extent // size), context.parallel_min_work if parallel else 0, args, owners)
        SKINNY_CALLS[kind] += 1

    def whole(self, kind: str, m: int, n: int) -> tuple[bool, bool]:
        """Whether an ``m x n`` product of ``kind`` has whole tiles of rows in every iteration
        (:meth:`_iteration_size` keeps them whole) and of columns."""
        rows, columns = skinny_tiles(kind, self.dtype.name)
        return m % rows == 0, n % columns == 0

    def variant(self, kind: str, accumulate: bool, m: int, n: int) -> tuple:
        """The kernel variant for these sizes: without the edge tiles that whole tiles need not,
        when that kernel was compiled ahead (predicted from static sizes: a call never compiles
        one itself), else the general one."""
        chosen = self._chosen.get((kind, accumulate, m, n))
        if chosen is not None:
            return chosen
        rows, columns = self.whole(kind, m, n)
        chosen = (kind, accumulate)
        # The guess may have known one side only: a kernel whole on that side serves too.
        for whole in dict.fromkeys([(rows, columns), (rows, False), (False, columns)]):
            key = (kind, accumulate, whole)
            if any(whole) and (key in self.kernels.variants or skinny_kernel_name(
                    kind, self.dtype.name, accumulate, whole) in self.context.preloaded):
                chosen = key
                break
        # Kernels compiled ahead do not change: the choice holds for every later call (and
        # saves hashing kernel names on the call path). Keyed by sizes, so bounded: a function
        # called with ever new batch sizes must not grow without end.
        if len(self._chosen) >= _MAX_CHOSEN:
            self._chosen.clear()
        self._chosen[(kind, accumulate, m, n)] = chosen
        return chosen

    def _iteration_size(self, m: int, n: int, k: int, kind: str) -> int:
        """Rows (``short``: columns) of each iteration of a split kernel (the pool gives each
        thread one), a multiple of 16 and of the kernel's tile (whole tiles). The calling
        thread's iteration is the first: it takes the larger share, as the workers start late
        (ProductTable.main_share)."""
        threads = self.context.pool.num_threads
        share = product_table(self.context, threads).main_share(threads, m * n * k)
        rows, columns = skinny_tiles(kind, self.dtype.name)
        extent, block = (n, math.lcm(16, columns)) if kind == "short" else (m, math.lcm(16, rows))
        return -(-int(extent * share + 0.5) // block) * block

    def _packed(self, source: np.ndarray, shape: tuple[int, int], steps: tuple[int, int]) -> np.ndarray:
        """The dense ``shape`` matrix whose element ``(r, q)`` is ``source``'s at element offset
        ``r*steps[0] + q*steps[1]``, copied by a native kernel (a recorded loop replays it;
        broadcast_into's strided copy cost 6 us more a call)."""
        packed = np.empty(shape, self.dtype)
        rows, cols = shape
        self.context.run(self.kernels.get(("pack", False)), cols, 0, (id(source), id(packed), rows, cols, *steps),
                         (packed,))
        return packed

    def predicted(self, *variant: object) -> tuple[str, tuple[KernelText, int]]:
        """(name, (text, n_args)) of a kernel variant, for :meth:`KernelContext.load_many`."""
        return self.kernels.spec(variant)


# The kernel each op's native path calls (tir.dot: by the operands' ranks, see BlasStep._dot).
_OP_KERNELS = {"tir.gemm": ("gemm",), "tir.gemv": ("gemv",), "tir.ger": ("ger",)}
_DOT_KERNELS = {(2, 2): "gemm", (2, 1): "gemv", (1, 2): "gemv", (1, 1): "dot"}


def _static_rows(op: object) -> int:
    """A ``tir.gemm``'s static row count m (-1: not static)."""
    a = op.operands[2]  # type: ignore[attr-defined]
    m = a.type.shape[1 if op.attributes["trans_a"] else 0]  # type: ignore[attr-defined]
    return m if m is not None and m >= 0 else -1


def _loop_weight(op: object) -> bool:
    """Whether a product's right operand is a non-sequence of the loop whose body it is in: the
    body's recording may then run it on packed panels (runtime/native_panels.py), whose kernels
    are compiled with the body's."""
    name = op.name  # type: ignore[attr-defined]
    if name not in ("tir.gemm", "tir.dot"):
        return False
    b = op.operands[3 if name == "tir.gemm" else 1]  # type: ignore[attr-defined]
    block = getattr(b, "block", None)
    if block is None or b.type.ndim != 2 or block.parent is None or block.parent.parent is None:
        return False
    loop = block.parent.parent
    if loop.name != "tir.scan":
        return False
    return b.index >= len(block.arguments) - ScanLayout.of(loop).n_nonseq


def _constant_beta(op: object) -> bool | None:
    """Whether a gemm's or gemv's beta is a constant 0 (True) or another constant (False); None
    when it is not a constant (a ``tir.dot`` has none: 0)."""
    if op.name == "tir.dot":  # type: ignore[attr-defined]
        return True
    owner = op.operands[4].owner  # type: ignore[attr-defined]
    if owner is None or owner.name != "tir.constant":
        return None
    return not np.any(owner.attributes["value"])


def reusable(a: object, shape: tuple[int, ...], dtype: np.dtype, donated: object = None,
             private: bool = False) -> bool:
    """Whether ``a`` may be overwritten as the output: a ``donated`` buffer (runtime/donation.py)
    needs only the result's shape and layout; otherwise the plan must have given the step the
    operand's buffer (``private``: runtime/buffer_reuse.py) and it must own a C-contiguous,
    writable buffer of the result's shape and dtype."""
    if a is donated and donated is not None:
        return a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
    return (private and type(a) is np.ndarray and a.base is None and a.shape == shape and a.dtype == dtype
            and a.flags.c_contiguous and a.flags.writeable)


class BlasStep(PredictsKernels):
    """One BLAS op; falls back to the op's NumPy reference for dtypes BLAS has no routine for.

    ``context`` (set by the executor, :meth:`bind`) holds the kernels it compiled ahead and the
    compile cache the others come from.
    """

    #: Its BLAS calls and copies are recorded (other Python work says so: python_work); an
    #: output may not be written while an operand is read (not elementwise, runtime/donation.py).
    #: The rest depends on the op and dtypes: set per step in ``__init__``.
    traits: StepTraits

    def __init__(self, op_name: str, attrs: dict, out_dtype: str, in_dtypes: list[str], reference, num_threads: int):  # noqa: ANN001
        self.op_name = op_name
        self.attrs = attrs
        self.dtype = out_dtype
        self.np_dtype = np.dtype(out_dtype)
        self.native = out_dtype in _BLAS_DTYPES and all(d == out_dtype for d in in_dtypes)
        self.reference = reference
        self.num_threads = num_threads
        self.traits = StepTraits(
            recordable=True,
            # A native step's outputs are new arrays (or its private accumulator), never an
            # argument or a constant: ``Function`` hands them out without a copy.
            fresh_outputs=self.native,
            # alpha and beta are read in Python: a recorded loop needs them the same at every step.
            fixed_operands={"tir.gemm": (1, 4), "tir.gemv": (1, 4), "tir.ger": (1,)}.get(op_name, ()),
            # The accumulated operand, which a donated buffer may be (runtime/donation.py).
            inplace_operands=(0,) if self.native and op_name in _OP_KERNELS else (),
            # The accumulated operand's buffer becomes the output when the plan gives it.
            reuses_dead_operands=self.native and op_name in _OP_KERNELS)
        self.context = None
        self._kernels: BlasKernels | None = None
        self._skinny: SkinnyKernels | None = None
        self._panels: PanelProducts | None = None

    def bind(self, context) -> None:  # noqa: ANN001 - a KernelContext
        """Take the kernels from ``context``: those it preloaded (:meth:`predicted_kernels`),
        else its compile cache."""
        self.context = context
        self._kernels = None
        self._skinny = None
        self._panels = None

    def predicted_kernels(self, op: object) -> dict[str, tuple[object, int | None]]:
        """The BLAS call kernel this op's static ranks call, and the skinny product kernels its
        static shapes choose, for the executor to compile with its other kernels (``n_args``
        None: not a range kernel, see ``KernelContext.load_many``)."""
        if not self.native:
            return {}
        if self.op_name == "tir.dot":
            ranks = tuple(v.type.ndim for v in op.operands)  # type: ignore[attr-defined]
            kernels = (_DOT_KERNELS[ranks],) if ranks in _DOT_KERNELS else ()
        else:
            kernels = _OP_KERNELS[self.op_name]
        def text(kernel: str, name: str):  # noqa: ANN202
            def build() -> str:
                # Imported only when the text is built: a cache hit never needs the generator.
                from tensorir.codegen.cpu.lower_blas import blas_kernel

                return blas_kernel(kernel, name, self.dtype)

            return build

        names = {kernel: blas_kernel_name(kernel, self.dtype) for kernel in kernels}
        predicted: dict[str, tuple[object, int | None]] = {name: (text(kernel, name), None)
                                                         for kernel, name in names.items()}
        if self.context is not None:
            skinny = self.skinny_kernels()
            for variant in self._predicted_skinny(op):
                name, spec = skinny.predicted(*variant)
                predicted[name] = spec
            if self._predicted_apart(op):
                name, spec = scaled_add_kernel_spec(self.dtype)
                predicted[name] = spec
            fill = self._predicted_fill(op)
            if fill is not None:
                name, spec = copy_kernels(self.context, self.dtype).spec(fill)
                predicted[name] = spec
            if _loop_weight(op) and PanelProducts.worth_it(self.context):
                panels = self._panel_kernels()
                zero_beta = _constant_beta(op)
                kinds = ("pack", "product", "accumulate") if zero_beta is None else \
                    ("pack", "product" if zero_beta else "accumulate")
                predicted.update(panels.kernels.spec(kind) for kind in kinds)
        return predicted

    def _predicted_apart(self, op: object) -> bool:
        """Whether a gemm's or gemv's static inner size makes it add its product apart (see
        ``FOLDED_MAX_K``): it then needs the scaled-add kernel."""
        if self.op_name not in ("tir.gemm", "tir.gemv") or _constant_beta(op):
            return False
        a = op.operands[2]  # type: ignore[attr-defined]
        trans = self.attrs["trans_a" if self.op_name == "tir.gemm" else "trans"]
        k = a.type.shape[0 if trans else 1]
        return k is not None and k > FOLDED_MAX_K

    def _predicted_fill(self, op: object) -> tuple[int, int, tuple[str]] | None:
        """The broadcast copy variant that fills the output with the accumulated operand ``c``:
        when its static shape is smaller than the result's (a bias broadcast over rows), or when
        ``c`` is not the product's alone to overwrite (an argument, or a value used elsewhere;
        see :meth:`_accumulator`)."""
        if self.op_name not in ("tir.gemm", "tir.gemv"):
            return None
        c = op.operands[0]  # type: ignore[attr-defined]
        out = op.results[0].type  # type: ignore[attr-defined]
        if _constant_beta(op):
            return None
        shape = c.type.shape
        same_shape = len(shape) == out.ndim and all(d != 1 or o == 1 for d, o in zip(shape, out.shape))
        if same_shape and c.owner is not None and len(c.uses) == 1:
            return None  # c is a temporary only this product reads: written in place, no fill
        if same_shape and self.op_name == "tir.gemm" and 0 <= _static_rows(op) <= SHORT_MAX_M:
            return None  # few rows: a skinny kernel (``short`` at least) reads c in place
        inner = "z" if not shape or shape[-1] == 1 else "u"
        return (len(shape), out.ndim, (inner,))

    def _predicted_skinny(self, op: object) -> list[tuple]:
        """The variants of skinny kernels that a ``tir.gemm`` with a static n (and k, except for
        ``columns``, whose k is the batch) and C-contiguous operands runs: (kind, accumulate),
        or (kind, accumulate, whole) when a static m (or n) makes whole tiles (see
        :meth:`SkinnyKernels.variant`)."""
        if self.op_name != "tir.gemm":
            return []
        ta, tb = bool(self.attrs["trans_a"]), bool(self.attrs["trans_b"])
        _, _, _, b, beta = op.operands  # type: ignore[attr-defined]
        k, n = reversed(b.type.shape) if tb else b.type.shape
        if n is None or n < 0:
            return []
        known_k = k is not None and k >= 0
        k = k if known_k else 256  # a batch: only the choice of ``columns`` is made without k
        a_steps, b_steps = ((1, k) if ta else (k, 1)), ((1, k) if tb else (n, 1))
        a = op.operands[2]  # type: ignore[attr-defined]
        m = a.type.shape[1 if ta else 0]
        known_m = m is not None and m >= 0
        # Any number of rows: the rule's limits on them are for packing with few rows; then, for a
        # known few rows, ``short``.
        kind = skinny_kind(1 << 20, n, k, a_steps, b_steps, self.np_dtype.itemsize)
        if kind is None and known_m and not (_loop_weight(op) and PanelProducts.worth_it(self.context)):
            kind = skinny_kind(m, n, k, a_steps, b_steps, self.np_dtype.itemsize)  # (a loop's weight: panels)
        if kind is None or (not known_k and kind != "columns"):
            return []
        owner = beta.owner
        zero = owner is not None and owner.name == "tir.constant" and not np.any(owner.attributes["value"])
        rows, columns = self.skinny_kernels().whole(kind, m if known_m else 1, n)
        whole = (rows and known_m, columns)
        variants: list[tuple] = [(kind, not zero, whole) if any(whole) else (kind, not zero)]
        if (kind == "dots" and b_steps[0] != 1) or (kind == "small_inner" and b_steps[1] != 1):
            variants.append(("pack", False))
        return variants

    def skinny_kernels(self) -> SkinnyKernels:
        """The skinny product kernels (the step must be bound to a context)."""
        if self._skinny is None:
            self._skinny = SkinnyKernels(self.context, self.dtype)  # type: ignore[arg-type]
        return self._skinny

    def _skinny_product(self, c: object, a: np.ndarray, b: np.ndarray, trans_a: bool, trans_b: bool,
                        alpha: float, beta: float, donated: object = None, private: bool = False
                        ) -> np.ndarray | None:
        """``beta * c + alpha op(a) op(b)`` by a skinny kernel where one beats BLAS (see
        :func:`skinny_kind`), else None. ``c`` (not read when beta is 0) is read in place when it
        has the result's shape and layout (no copy into the output first)."""
        if self.context is None:
            return None
        kernels = self.skinny_kernels()
        plan = kernels.plan(a, b, trans_a, trans_b)
        if plan is None:
            return None
        shape = (plan.m, plan.n)
        if not beta:
            out = c = donated if reusable(donated, shape, self.np_dtype, donated) else np.empty(shape, self.np_dtype)
        elif reusable(c, shape, self.np_dtype, donated, private):
            out = c
        elif (type(c) is np.ndarray and c.shape == shape and c.dtype == self.np_dtype and c.flags.c_contiguous
              and c.flags.aligned):
            out = np.empty(shape, self.np_dtype)
        else:
            out = c = self._accumulator([c], shape, beta)
            if out is None:  # c broadcasts the product to a larger shape
                return None
        kernels.run(plan, a, b, c, out, alpha, beta)
        return out

    def _panel_product(self, a: np.ndarray, b: np.ndarray, trans_b: bool, inputs: list, beta: float,
                       donated: np.ndarray | None = None, private: bool = False) -> np.ndarray | None:
        """``beta * c + a @ op(b)`` (``c = inputs[0]``, beta 0 or 1) on packed panels while a loop
        step is recorded (runtime/native_panels.py), else None."""
        if self.context is None or RECORDING.recorder is None:
            return None
        panels = self._panel_kernels()
        plan = panels.plan(a, b, trans_b)
        if plan is None:
            return None
        m, _, n, _ = plan
        out = self._accumulator(inputs, (m, n), beta, donated, private)
        if out is None:
            return None
        panels.run(plan, a, b, out, accumulate=beta != 0.0)
        return out

    def _panel_kernels(self) -> PanelProducts:
        if self._panels is None:
            self._panels = PanelProducts(self.context, self.dtype)  # type: ignore[arg-type]
        return self._panels

    def kernels(self) -> BlasKernels:
        if self._kernels is None:
            context = self.context
            if context is None:
                self._kernels = blas_kernels(None, self.dtype)
            else:
                self._kernels = BlasKernels(context.cache, self.dtype, context.preloaded_modules)
        return self._kernels

    def _fresh_reference(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The reference's results as new arrays (rare shapes; keeps ``fresh_outputs`` true)."""
        python_work("BLAS op on its reference")
        return [np.array(r) for r in self.reference(inputs)]

    def _array(self, x: np.ndarray) -> np.ndarray:
        """``x`` as an ndarray of the step's dtype (the kernels read raw memory of that dtype)."""
        if type(x) is not np.ndarray or x.dtype != self.np_dtype:
            python_work("BLAS operand conversion")
            x = np.asarray(x).astype(self.np_dtype)
        return x

    def __call__(self, inputs: list[np.ndarray], out: np.ndarray | None = None,
                 free: tuple[int, ...] = ()) -> list[np.ndarray]:
        """The op's result; ``out``: a donated buffer (the accumulated operand) to write it into
        where the shapes allow (runtime/donation.py); ``free``: operands whose buffers the plan
        gives the step (runtime/buffer_reuse.py), of which only the accumulated one is taken."""
        if not self.native:
            python_work("BLAS op on its reference")
            return self.reference(inputs)
        name = self.op_name
        if name == "tir.dot":
            return self._dot(inputs)
        private = 0 in free
        if name == "tir.gemm":
            return self._gemm(inputs, out, private)
        if name == "tir.gemv":
            return self._gemv(inputs, out, private)
        return self._ger(inputs, out, private)

    def _dot(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x, y = (self._array(v) for v in inputs)
        if x.ndim == 2 and y.ndim == 2:
            (m, k), (k2, n) = x.shape, y.shape
            _check_inner(x.shape, y.shape, k, k2)
            # Panels first: in a loop they pack a weight once for every step (a skinny ``short``
            # product would read it unpacked at each).
            out = self._panel_product(x, y, False, [None], 0.0)
            if out is None:
                out = self._skinny_product(None, x, y, False, False, 1.0, 0.0)
            if out is not None:
                return [out]
            configure_blas_threads(self.num_threads, m * n * k)
            out = np.empty((m, n), self.np_dtype)
            if m and n:
                if k:
                    self.kernels().gemm(x, y, out)
                else:
                    python_work("empty product")
                    out.fill(0)
            return [out]
        if x.ndim == 2 and y.ndim == 1:
            return [self._matvec(x, y, False, x.shape, y.shape)]
        if x.ndim == 1 and y.ndim == 2:
            return [self._matvec(y, x, True, x.shape, y.shape)]
        if x.ndim == 1 and y.ndim == 1 and x.shape == y.shape and x.size:
            configure_blas_threads(self.num_threads, x.size)
            return [self.kernels().dot(x, y)]
        return self._fresh_reference(inputs)

    def _matvec(self, a: np.ndarray, x: np.ndarray, trans: bool, left: tuple, right: tuple) -> np.ndarray:
        """``op(a) @ x`` with ``op(a) = a.T`` when ``trans`` (``left @ right`` in the user's terms)."""
        m, k = (a.shape[1], a.shape[0]) if trans else a.shape
        _check_inner(left, right, k, x.shape[0])
        configure_blas_threads(self.num_threads, m * k)
        out = np.empty(m, self.np_dtype)
        self._product(lambda: self.kernels().gemv(a, x, out, trans), out, 0.0, k)
        return out

    def _gemm(self, inputs: list[np.ndarray], donated: np.ndarray | None = None,
              private: bool = False) -> list[np.ndarray]:
        ta, tb = bool(self.attrs["trans_a"]), bool(self.attrs["trans_b"])
        a, b = self._array(inputs[2]), self._array(inputs[3])
        if a.ndim != 2 or b.ndim != 2:
            return self._fresh_reference(inputs)
        m, k = (a.shape[1], a.shape[0]) if ta else a.shape
        k2, n = (b.shape[1], b.shape[0]) if tb else b.shape
        _check_inner((m, k), (k2, n), k, k2)
        alpha, beta = float(inputs[1]), float(inputs[4])
        out = None
        if alpha == 1.0 and beta in (0.0, 1.0) and not ta:  # panels first, as in _dot
            out = self._panel_product(a, b, tb, inputs, beta, donated, private)
        if out is None:
            out = self._skinny_product(inputs[0], a, b, ta, tb, alpha, beta, donated, private)
        if out is not None:
            return [out]
        configure_blas_threads(self.num_threads, m * n * k)
        out = self._accumulator(inputs, (m, n), beta, donated, private)
        if out is not None and beta and k > FOLDED_MAX_K and out.size:
            product = np.empty((m, n), self.np_dtype)
            self.kernels().gemm(a, b, product, ta, tb, alpha, 0.0)
            self._add_scaled(out, beta, product)
            return [out]
        if out is not None:
            self._product(lambda: self.kernels().gemm(a, b, out, ta, tb, alpha, beta), out, beta, k)
            return [out]
        product = np.empty((m, n), self.np_dtype)  # c broadcasts the product to a larger shape
        self._product(lambda: self.kernels().gemm(a, b, product, ta, tb, alpha, 0.0), product, 0.0, k)
        return [_accumulate(product, inputs[0], beta)]

    def _gemv(self, inputs: list[np.ndarray], donated: np.ndarray | None = None,
              private: bool = False) -> list[np.ndarray]:
        trans = bool(self.attrs["trans"])
        a, x = self._array(inputs[2]), self._array(inputs[3])
        if a.ndim != 2 or x.ndim != 1:
            return self._fresh_reference(inputs)
        m, k = (a.shape[1], a.shape[0]) if trans else a.shape
        _check_inner((m, k), x.shape, k, x.shape[0])
        configure_blas_threads(self.num_threads, m * k)
        alpha, beta = float(inputs[1]), float(inputs[4])
        out = self._accumulator(inputs, (m,), beta, donated, private)
        if out is not None and beta and k > FOLDED_MAX_K and out.size:
            product = np.empty(m, self.np_dtype)
            self.kernels().gemv(a, x, product, trans, alpha, 0.0)
            self._add_scaled(out, beta, product)
            return [out]
        if out is not None:
            self._product(lambda: self.kernels().gemv(a, x, out, trans, alpha, beta), out, beta, k)
            return [out]
        product = np.empty(m, self.np_dtype)
        self._product(lambda: self.kernels().gemv(a, x, product, trans, alpha, 0.0), product, 0.0, k)
        return [_accumulate(product, inputs[0], beta)]

    @staticmethod
    def _product(call: Callable[[], None], out: np.ndarray, beta: float, k: int) -> None:
        """Run the BLAS ``call`` writing ``out``, except for empty products (BLAS's rules for
        zero sizes differ between libraries): ``out = beta * out`` then."""
        if not out.size:
            return
        if k:
            call()
            return
        python_work("empty product")
        if beta:
            out *= beta
        else:
            out.fill(0)

    def _accumulator(self, inputs: list[np.ndarray], shape: tuple[int, ...], beta: float,
                     donated: np.ndarray | None = None, private: bool = False) -> np.ndarray | None:
        """The output buffer for ``product + beta * c`` (``c = inputs[0]``) holding ``c`` when beta
        is not 0: c itself when it is private, else a copy (broadcast). None when c broadcasts the
        result beyond ``shape`` (the caller adds it in NumPy)."""
        if not _broadcasts_into(np.shape(inputs[0]), shape):
            return None
        if not beta:
            return donated if reusable(donated, shape, self.np_dtype, donated) else np.empty(shape, self.np_dtype)
        if reusable(inputs[0], shape, self.np_dtype, donated, private):
            return inputs[0]
        out = np.empty(shape, self.np_dtype)
        self._fill(out, inputs[0])
        return out

    def _add_scaled(self, out: np.ndarray, beta: float, product: np.ndarray) -> None:
        """``out = beta * out + product`` for C-contiguous arrays of one shape: each element rounded
        once or twice (beta 1: once), by a native kernel when the step has a context (a recorded
        loop replays it), else NumPy's."""
        if self.context is None:
            python_work("product added in Python")
            if beta != 1.0:
                out *= beta
            out += product
            return
        scale = np.asarray(beta, self.np_dtype)
        context = self.context
        # Elementwise, so reading and writing ``out`` at one index is safe.
        context.run(scaled_add_kernel(context, self.dtype), out.size, out.size,
                    (id(out), id(scale), id(product), id(out)), (scale, product))

    def _fill(self, out: np.ndarray, c: object) -> None:
        """``out[...] = c`` (broadcast): a native copy when the step has kernels (a recorded
        loop replays it), else NumPy's."""
        if self.context is not None and type(c) is np.ndarray and c.dtype == out.dtype:
            broadcast_into(self.context, out, c)
        else:
            out[...] = c
            record_copy(out, c)

    def _ger(self, inputs: list[np.ndarray], donated: np.ndarray | None = None,
             private: bool = False) -> list[np.ndarray]:
        # tir.ger: a + alpha * outer(x, y)
        x, y = self._array(inputs[2]), self._array(inputs[3])
        if x.ndim != 1 or y.ndim != 1:
            return self._fresh_reference(inputs)
        shape = (x.shape[0], y.shape[0])
        if 0 in shape or not _broadcasts_into(np.shape(inputs[0]), shape):
            return self._fresh_reference(inputs)
        configure_blas_threads(self.num_threads, shape[0] * shape[1])
        if reusable(inputs[0], shape, self.np_dtype, donated, private):
            base = inputs[0]
        else:
            base = np.empty(shape, self.np_dtype)
            self._fill(base, inputs[0])
        self.kernels().ger(x, y, base, float(inputs[1]))
        return [base]


def scaled_add_kernel_spec(dtype: str) -> tuple[str, tuple[Callable[[], str], int]]:
    """(name, (text, n_args)) of the flat kernel ``out = c * beta + p`` (``beta`` a scalar)."""
    from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel

    body = ElementwiseBody([dtype] * 3, [dtype], [("tir.mul", {}, (0, 1), dtype), ("tir.add", {}, (3, 2), dtype)],
                           [4])
    name = kernel_name("scaled_add", body.key())
    return name, (lambda: flat_kernel(name, body, (False, True, False)), 4)


def scaled_add_kernel(context: KernelContext, dtype: str) -> Callable[..., None]:
    """The kernel of :func:`scaled_add_kernel_spec` in ``context``, loaded once."""
    fn = context.shared_kernels.get(("scaled_add", dtype))
    if fn is None:
        name, (text, n_args) = scaled_add_kernel_spec(dtype)
        fn = context.shared_kernels[("scaled_add", dtype)] = context.load(text, name, n_args)
    return fn  # type: ignore[return-value]


def _check_inner(a_shape: tuple[int, ...], b_shape: tuple[int, ...], k: int, k2: int) -> None:
    if k != k2:
        raise ValueError(f"shapes {a_shape} and {b_shape} not aligned: {k} (dim 1) != {k2} (dim 0)")


def _broadcasts_into(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` (np.broadcast_shapes costs ~5 us)."""
    if len(shape) > len(target):
        return False
    return all(d == 1 or d == t for d, t in zip(reversed(shape), reversed(target)))


def _accumulate(product: np.ndarray, c: np.ndarray, beta: float) -> np.ndarray:
    """``product + beta * c`` broadcast like the reference (``c`` ignored when beta is 0)."""
    python_work("product broadcast in Python")
    shape = np.broadcast_shapes(product.shape, np.shape(c))
    if beta == 0.0:
        return product if shape == product.shape else np.array(np.broadcast_to(product, shape))
    if shape == product.shape:
        product += beta * c if beta != 1.0 else c
        return product
    return product + beta * c
