"""Native steps for convolution and pooling: ``tir.conv2d`` (and its two gradients), ``tir.pool2d``,
``tir.pool2d_grad`` and ``tir.max_pool2d_select``.

Each step checks its operands in Python (ranks, shapes, groups, the shape operands; the
messages are the references'), resolves the geometry with the reference's own classes, packs
the sizes into one int64 ``params`` array and calls its kernel (see
:mod:`tensorir.codegen.cpu.lower_conv` and :mod:`~tensorir.codegen.cpu.lower_pool`), so no bad
input reaches native code. Outputs and scratch buffers are fresh, which is the kernels' no-overlap
contract. What the kernels do not cover runs the op's NumPy reference: dtypes other than
float32/float64, sizes beyond BLAS's 32-bit ints.

Threads: pooling splits planes over the pool. A convolution splits its batch into one slot per
thread, each running im2col and single-threaded gemms on its own scratch (the measurements are
in ``lower_conv``); with one slot (a single image, or one thread) BLAS gets the threads instead.
"""

from __future__ import annotations

import ctypes
import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from tensorir.codegen.cpu.direct_conv import DIRECT_FILTER_TILE, direct_conv3x3_kernel
from tensorir.codegen.cpu.lower_conv import CONV_DTYPES, CONV_PARAMS, conv_kernel, whole_products
from tensorir.codegen.cpu.lower_pool import POOL_DTYPES, POOL_PARAMS, pool_kernel, tiles_exactly
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.conv import (
    ConvGeometry,
    PoolGeometry,
    check_static_shape,
    conv_attrs,
    group_sizes,
)
from tensorir.runtime.blas import blas_symbols
from tensorir.runtime.native_blas import configure_blas_threads
from tensorir.runtime.native_kernels import KernelContext, KernelSet, kernel_name
from tensorir.runtime.native_steps import reusable
from tensorir.runtime.step_traits import PredictsKernels, StepTraits

__all__ = ["ConvStep", "PoolStep", "conv_pool_step"]

_CONV_KINDS = {"tir.conv2d": "forward", "tir.conv2d_grad_input": "grad_input",
               "tir.conv2d_grad_filters": "grad_filters"}
_POOL_KINDS = {"tir.pool2d": "forward", "tir.pool2d_grad": "grad", "tir.max_pool2d_select": "select"}

#: Fortran BLAS takes 32-bit ints; larger sizes run the reference.
_INT32_MAX = 2**31 - 1
#: Limits of the register-tiled products (see ConvStep.small_products).
_SMALL_BLOCK_BYTES = 256 * 1024
_SMALL_FILTER_ROWS = 64
Step = Callable[[list[np.ndarray]], list[np.ndarray]]


def conv_pool_step(context: KernelContext, op: Operation) -> tuple[Step, str]:
    """The native step of a convolution or pooling op (the step table's ``CONV_POOL_OPS``)."""
    if op.name in _CONV_KINDS:
        return ConvStep(context, op), "kernel"
    return PoolStep(context, op), "kernel"


def _as_dtype(a: Any, dtype: np.dtype) -> np.ndarray:
    """``a`` as an ndarray of ``dtype`` in native byte order (kernels read the array object)."""
    a = np.asarray(a)
    return a if a.dtype == dtype else a.astype(dtype)


def _element_strides(a: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``a`` (copied if a stride is not a whole number of elements) and its strides in elements."""
    if any(s % a.itemsize for s in a.strides):
        a = np.ascontiguousarray(a)
    return a, [s // a.itemsize for s in a.strides]


def _shape_operand(name: str, shape: Any, static: Sequence[int]) -> tuple[int, int, int, int]:
    shape = np.asarray(shape)
    check_static_shape(name, shape, static)
    dims = tuple(int(d) for d in shape)
    if min(dims) < 0:
        raise ValueError(f"{name}: negative dimension in shape {dims}")
    return dims  # type: ignore[return-value]


def _buffer(given: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, fill: bool = False) -> np.ndarray:
    """``given`` when it is a C-contiguous, writeable ``shape`` array of ``dtype`` (a replay passes
    the recorded result, so the step writes where the next native calls read, with no fresh
    pages and no swap), else a new array; zeroed when ``fill``."""
    if (type(given) is np.ndarray and given.shape == shape and given.dtype == dtype
            and given.flags.c_contiguous and given.flags.writeable):
        if fill:
            given.fill(0)
        return given
    return np.zeros(shape, dtype) if fill else np.empty(shape, dtype)


def _known(shape: Sequence[int | None], static: Sequence[int]) -> tuple[int | None, ...]:
    """Per dim, the one of ``shape`` (a type's, None unknown) or ``static`` (-1 unknown) that is known."""
    return tuple(d if d is not None else (s if s >= 0 else None) for d, s in zip(shape, static))


def _rank4(name: str, what: str, a: np.ndarray) -> None:
    if a.ndim != 4:
        raise ValueError(f"{name}: {what} must be 4-d, got shape {a.shape}")


#: Direct 3x3 convolutions run so far, by kind (forward, grad_input), for tests and profiles.
DIRECT_CONV_CALLS: Counter[str] = Counter()
#: Most input channels the direct 3x3 kernel takes (beyond them im2col's product is long enough
#: for BLAS or the tiled products to win; see direct_conv_applies).
DIRECT_MAX_CHANNELS = 64


def direct_conv_applies(geo: ConvGeometry, groups: int, channels: int, filters: int) -> bool:
    """Whether a cross-correlation of ``channels`` inputs with ``filters`` filters runs on the
    direct 3x3 kernel: 3x3 filters, unit steps and dilation, one group, any zero padding up to
    2 (the input gradient pads by 2 - p), at most :data:`DIRECT_MAX_CHANNELS` channels and at
    least a register tile of filters (with fewer its one-filter tiles lost to im2col: a 16 -> 3
    input gradient took 0.97 ms against 0.43; with 4 to 64 it won 1.1-2.2x, both passes,
    float32, one thread, batch 32 of 16x16 to 64x64 images)."""
    return (geo.kh == geo.kw == 3 and geo.sh == geo.sw == 1 and geo.dh == geo.dw == 1 and groups == 1
            and 0 < channels <= DIRECT_MAX_CHANNELS and filters >= DIRECT_FILTER_TILE
            and 0 <= geo.ph <= 2 and 0 <= geo.pw <= 2 and geo.oh > 0 and geo.ow > 0)


def direct_kernel_spec(dtype: str) -> tuple[str, tuple[Callable[[], str], int]]:
    """(name, (text, n_args)) of the direct 3x3 kernel of ``dtype``."""
    name = kernel_name("conv", "direct3x3", dtype)
    return name, (functools.partial(direct_conv3x3_kernel, name, dtype), 5)


class ConvStep(PredictsKernels):
    """``tir.conv2d``, ``tir.conv2d_grad_input`` or ``tir.conv2d_grad_filters`` (im2col + gemm).

    ``step(inputs, results=[array])`` writes into ``array`` where it fits (see :func:`_buffer`).
    """

    #: A whole call's replay passes its recorded result arrays (runtime/native_function.py).
    #: Its results are new buffers (or the replay's recorded result arrays): they view nothing.
    traits: ClassVar[StepTraits] = StepTraits(fills_results=True, fresh_outputs=True)

    def __init__(self, context: KernelContext, op: Operation) -> None:
        self.context = context
        self.op = op
        self.name = op.name
        self.kind = _CONV_KINDS[op.name]
        self.attrs = conv_attrs(op)
        self.static = op.attributes.get("static_shape", (-1, -1, -1, -1))
        self.dtype = np.dtype(op.results[0].type.dtype)
        self.native = self.dtype.name in CONV_DTYPES
        self._kernels: dict[tuple[bool, bool, bool], tuple[object, Callable[..., None]]] = {}

    def _kernel_name(self, unit: bool, small: bool, whole: bool = False) -> str:
        return kernel_name("conv", self.kind, self.dtype.name, str(unit), str(small), *(("whole",) if whole else ()))

    def predicted_kernels(self, op: Operation) -> dict[str, tuple[Callable[[], str], int]]:
        """The variants for contiguous operands (BLAS and register-tiled products), compiled with
        the executor's other kernels: one compiler run instead of one per variant at the first
        call. Where the static (or guessed) sizes make the tiled products whole tiles, the
        variant without edge tiles, which a call then runs (see :meth:`product`)."""
        if not self.native:
            return {}
        direct = self._direct_predicted(op)
        predicted: dict[str, tuple[Callable[[], str], int]] = {}
        if direct is not False:
            name, spec = direct_kernel_spec(self.dtype.name)
            predicted[name] = spec
            if direct:
                return predicted
        sizes = self._static_sizes(op)
        variants = [(False, False), (True, False)] if sizes is None else [self.product(*sizes, ahead=None)]
        predicted.update({self._kernel_name(True, small, whole): (
                              functools.partial(conv_kernel, self._kernel_name(True, small, whole), self.kind,
                                                self.dtype.name, True, small, whole), 5)
                          for small, whole in variants})
        return predicted

    def _direct_predicted(self, op: Operation) -> bool | None:
        """Whether the calls of this op run the direct 3x3 kernel (:func:`direct_conv_applies`)
        by its static filter shape and attributes; None when the channel counts are unknown."""
        if self.kind == "grad_filters":
            return False
        filters, channels, kh, kw = op.operands[1].type.shape
        if (kh, kw) != (3, 3):
            return False
        try:
            geo = ConvGeometry((8, 8), (3, 3), self.attrs)  # the pads and steps; any image size
        except ValueError:
            return False
        if filters is None or channels is None or filters < 0 or channels < 0:
            return None if direct_conv_applies(geo, self.attrs["num_groups"], 1, DIRECT_FILTER_TILE) else False
        if self.kind == "grad_input":  # its direct kernel runs the turned filters
            filters, channels = channels, filters
        return direct_conv_applies(geo, self.attrs["num_groups"], channels, filters)

    def product(self, fg: int, kg: int, p: int, ahead: Mapping[str, object] | None,
                unit: bool = True) -> tuple[bool, bool]:
        """(small, whole): register-tiled products (:meth:`small_products`), and of whole tiles
        alone (``lower_conv.whole_products``). A call (``ahead``: the kernels compiled ahead)
        takes the whole variant of its ``unit`` kind only when that was compiled ahead, so it
        never compiles one itself."""
        small = self.small_products(kg, p)
        whole = small and whole_products(self.kind, self.dtype.name, fg, kg, p)
        if (whole and ahead is not None and self._kernel_name(unit, True, True) not in ahead
                and (unit, True, True) not in self._kernels):
            whole = False
        return small, whole

    def _static_sizes(self, op: Operation) -> tuple[int, int, int] | None:
        """``(Fg, Kg, P)`` from the static (or guessed) types; None if unknown."""
        types = [v.type.shape for v in op.operands]
        result = op.results[0].type.shape
        # The output's spatial dims (the output gradient's for the gradients) give P. A
        # gradient's own shape is a run-time operand: its result type has it when the shape is
        # guessed (runtime/shape_guess.py), else the op's static attribute may.
        if self.kind == "forward":
            in_hw, (cg, kh, kw), out_hw = types[0][2:], types[1][1:], result[2:]
        elif self.kind == "grad_input":
            in_hw, (cg, kh, kw), out_hw = _known(result, self.static)[2:], types[1][1:], types[0][2:]
        else:
            in_hw, (cg, kh, kw), out_hw = types[0][2:], _known(result, self.static)[1:], types[1][2:]
        filters = result[0] if self.kind == "grad_filters" else types[1][0]
        groups = self.attrs["num_groups"]
        if any(d is None or d < 0 for d in (cg, kh, kw, filters)) or filters % groups:
            return None
        fg, kg = filters // groups, cg * kh * kw
        if all(d is not None and d >= 0 for d in out_hw):
            return fg, kg, out_hw[0] * out_hw[1]
        if any(d is None or d < 0 for d in in_hw):
            return None
        try:
            geo = ConvGeometry(in_hw, (kh, kw), self.attrs)
        except ValueError:
            return None
        return fg, kg, geo.oh * geo.ow

    def kernel(self, unit: bool, small: bool, whole: bool = False) -> Callable[..., None]:
        """The compiled kernel of a variant; it calls SciPy's BLAS, bound when the module loads."""
        key = (unit, small, whole)
        entry = self._kernels.get(key)
        if entry is None:
            name = self._kernel_name(*key)
            fn = self.context.preloaded.get(name)
            if fn is not None:
                entry = self._kernels[key] = (None, fn)
                return fn
            text = conv_kernel(name, self.kind, self.dtype.name, *key)
            module = self.context.cache.get(text, self.context.opt_level, symbols=blas_symbols())
            fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 7))(module.address(name))
            entry = self._kernels[key] = (module, fn)  # the module owns the machine code
        return entry[1]  # type: ignore[return-value]

    def small_products(self, kg: int, p: int) -> bool:
        """Whether the register-tiled loops beat BLAS (measured on 2 cores, float32, batch 500):
        they won while one group's im2col block stays in L2 (LeNet: 57 and 128 KiB; forward 1.1-1.8x,
        input gradient 1.4-1.7x; a 450 KiB block was 1.1-1.2x slower), and for the filter gradient
        only with few rows (``Kg = 25``: 1.3x faster, ``Kg = 500``: 1.8x slower)."""
        if kg * p * self.dtype.itemsize > _SMALL_BLOCK_BYTES:
            return False
        return self.kind != "grad_filters" or kg <= _SMALL_FILTER_ROWS

    def __call__(self, inputs: list[np.ndarray], results: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        given = results[0] if results else None
        out = getattr(self, self.kind)(*inputs, given=given) if self.native else None
        return run_op(self.op, inputs) if out is None else [out]

    # -- operands ------------------------------------------------------------------------------
    def filters(self, w: Any) -> np.ndarray:
        """C-contiguous filters, flipped for a true convolution (the kernels cross-correlate)."""
        w = _as_dtype(w, self.dtype)
        _rank4(self.name, "the filters", w)
        if self.attrs["filter_flip"]:
            w = w[:, :, ::-1, ::-1]
        return np.ascontiguousarray(w)

    def output_gradient(self, gy: Any, expected: tuple[int, ...], context: str) -> np.ndarray:
        gy = np.ascontiguousarray(_as_dtype(gy, self.dtype))
        if gy.shape != expected:
            raise ValueError(f"output gradient of shape {gy.shape} does not match {context} "
                             f"(expected {expected})")
        return gy

    def run(self, operands: tuple[np.ndarray, np.ndarray], geo: ConvGeometry,
            sizes: tuple[int, int, int, int, int], x_strides: Sequence[int], unit: bool,
            product: tuple[bool, bool], make_output: Callable[[int], np.ndarray]) -> np.ndarray:
        """Call the kernel over the batch: ``sizes`` are (N, C, G, Fg, Kg), ``product`` the
        (small, whole) variant of its products; ``make_output(slots)`` allocates the output once
        the slot count is known."""
        n, c, groups, fg, kg = sizes
        p = geo.oh * geo.ow
        work = n * groups * fg * kg * p
        ctx = self.context
        threads = ctx.pool.num_threads
        slots = min(threads, n) if threads > 1 and n > 1 and work >= ctx.parallel_min_work else 1
        # One slot per thread with a one-thread BLAS each; a lone slot lets BLAS use the threads.
        configure_blas_threads(threads, 0 if slots > 1 else fg * kg * p)
        out = make_output(slots)
        cols = np.empty((slots, c * geo.kh * geo.kw * p), self.dtype)
        per = -(-n // slots)
        values = dict(N=n, per=per, C=c, H=geo.h, W=geo.w, kh=geo.kh, kw=geo.kw, OH=geo.oh, OW=geo.ow,
                      sh=geo.sh, sw=geo.sw, dh=geo.dh, dw=geo.dw, ph=geo.ph, pw=geo.pw, G=groups, Fg=fg,
                      sx0=x_strides[0], sx1=x_strides[1], sx2=x_strides[2], sx3=x_strides[3])
        params = np.array([values[k] for k in CONV_PARAMS] + [v for r in geo.valid_outputs() for v in r], np.int64)
        a, b = operands
        ctx.run(self.kernel(unit, *product), slots, work, (id(a), id(b), id(out), id(cols), id(params)))
        return out

    def blas_sizes_fit(self, geo: ConvGeometry, c: int, fg: int, kg: int) -> bool:
        p = geo.oh * geo.ow
        return max(p, fg, kg, c * geo.kh * geo.kw * p) <= _INT32_MAX

    # -- the three ops (None: not lowered, run the reference) -------------------------------------
    def forward(self, x: Any, w: Any, given: np.ndarray | None = None) -> np.ndarray | None:
        x = _as_dtype(x, self.dtype)
        _rank4(self.name, "the input", x)
        w = self.filters(w)
        n, c = x.shape[:2]
        f = w.shape[0]
        groups = self.attrs["num_groups"]
        cg, fg = group_sizes(c, f, groups, w.shape[1])
        geo = ConvGeometry(x.shape[2:], w.shape[2:], self.attrs)
        kg = cg * geo.kh * geo.kw
        shape = (n, f, geo.oh, geo.ow)
        if 0 in shape or kg == 0:
            return _buffer(given, shape, self.dtype, fill=True)
        if not self.blas_sizes_fit(geo, c, fg, kg):
            return None
        x, strides = _element_strides(x)
        if direct_conv_applies(geo, groups, c, f):
            return self.run_direct(x, w, (geo.oh, geo.ow, geo.ph, geo.pw), strides, _buffer(given, shape, self.dtype))
        unit = geo.sw == 1 and strides[3] == 1
        product = self.product(fg, kg, geo.oh * geo.ow, self.context.preloaded, unit)
        return self.run((x, w), geo, (n, c, groups, fg, kg), strides, unit, product,
                        lambda slots: _buffer(given, shape, self.dtype))

    def run_direct(self, x: np.ndarray, w: np.ndarray, out_and_pads: tuple[int, int, int, int],
                   x_strides: Sequence[int], out: np.ndarray) -> np.ndarray:
        """``out`` = the cross-correlation of ``x`` with 3x3 filters ``w`` (C-contiguous) by the
        direct kernel (codegen/cpu/direct_conv.py), ``out_and_pads`` (OH, OW, ph, pw): one slot
        per thread, each with its zero-padded copy of one image at a time."""
        n, c, h, wd = x.shape
        f = w.shape[0]
        oh, ow, ph, pw = out_and_pads
        ctx = self.context
        work = n * f * c * 9 * oh * ow
        threads = ctx.pool.num_threads
        slots = min(threads, n) if threads > 1 and n > 1 and work >= ctx.parallel_min_work else 1
        per = -(-n // slots)
        scratch = np.empty((slots, c * (oh + 2) * (ow + 2)), self.dtype)
        values = dict(N=n, per=per, C=c, H=h, W=wd, kh=3, kw=3, OH=oh, OW=ow, sh=1, sw=1, dh=1, dw=1, ph=ph, pw=pw,
                      G=1, Fg=f, sx0=x_strides[0], sx1=x_strides[1], sx2=x_strides[2], sx3=x_strides[3])
        params = np.array([values[k] for k in CONV_PARAMS], np.int64)
        ctx.run(self.direct_kernel(), slots, work, (id(x), id(w), id(out), id(scratch), id(params)), (scratch, params))
        DIRECT_CONV_CALLS[self.kind] += 1
        return out

    def direct_kernel(self) -> Callable[..., None]:
        name, (text, n_args) = direct_kernel_spec(self.dtype.name)
        return self.context.load(text, name, n_args)

    def grad_input(self, gy: Any, w: Any, shape: Any, given: np.ndarray | None = None) -> np.ndarray | None:
        n, c, h, wd = _shape_operand(self.name, shape, self.static)
        w = self.filters(w)
        f = w.shape[0]
        groups = self.attrs["num_groups"]
        cg, fg = group_sizes(c, f, groups, w.shape[1])
        geo = ConvGeometry((h, wd), w.shape[2:], self.attrs)
        gy = self.output_gradient(gy, (n, f, geo.oh, geo.ow), f"input shape {(n, c, h, wd)}")
        kg = cg * geo.kh * geo.kw
        if 0 in (n, c, h, wd, f, geo.oh, geo.ow, kg):
            return _buffer(given, (n, c, h, wd), self.dtype, fill=True)
        if not self.blas_sizes_fit(geo, c, fg, kg):
            return None
        if direct_conv_applies(geo, groups, f, c):
            # The input gradient of a unit-step 3x3 cross-correlation padded by p is the
            # cross-correlation of gy padded by 2 - p with the filters turned (channels swapped,
            # taps reversed): dx[c, r, q] = sum w[f, c, a, b] gy[f, r + p - a, q + p - b].
            turned = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
            return self.run_direct(gy, turned, (h, wd, 2 - geo.ph, 2 - geo.pw), [s // gy.itemsize for s in gy.strides],
                                   _buffer(given, (n, c, h, wd), self.dtype))
        product = self.product(fg, kg, geo.oh * geo.ow, self.context.preloaded, geo.sw == 1)
        if product[0]:  # the tiled product reads the filters transposed per group, (G, Kg, Fg)
            w = np.ascontiguousarray(w.reshape(groups, fg, kg).transpose(0, 2, 1))
        return self.run((gy, w), geo, (n, c, groups, fg, kg), (0, 0, 0, 0), geo.sw == 1, product,
                        lambda slots: _buffer(given, (n, c, h, wd), self.dtype))

    def grad_filters(self, x: Any, gy: Any, shape: Any, given: np.ndarray | None = None) -> np.ndarray | None:
        f, cin, kh, kw = _shape_operand(self.name, shape, self.static)
        x = _as_dtype(x, self.dtype)
        _rank4(self.name, "the input", x)
        n, c = x.shape[:2]
        groups = self.attrs["num_groups"]
        cg, fg = group_sizes(c, f, groups, cin)
        geo = ConvGeometry(x.shape[2:], (kh, kw), self.attrs)
        gy = self.output_gradient(gy, (n, f, geo.oh, geo.ow), f"input {x.shape} and filters {(f, cin, kh, kw)}")
        kg = cin * kh * kw
        if 0 in (f, kg, n, geo.oh, geo.ow):
            return _buffer(given, (f, cin, kh, kw), self.dtype, fill=True)
        if not self.blas_sizes_fit(geo, c, fg, kg):
            return None
        x, strides = _element_strides(x)
        unit = geo.sw == 1 and strides[3] == 1
        product = self.product(fg, kg, geo.oh * geo.ow, self.context.preloaded, unit)
        parts = self.run((x, gy), geo, (n, c, groups, fg, kg), strides, unit, product,
                         lambda slots: np.zeros((slots, groups, kg, fg), self.dtype))
        total = parts[0] if parts.shape[0] == 1 else parts.sum(axis=0)
        dw = total.transpose(0, 2, 1).reshape(f, cin, kh, kw)
        if self.attrs["filter_flip"]:
            dw = dw[:, :, ::-1, ::-1]
        out = _buffer(given, dw.shape, self.dtype)
        np.copyto(out, dw)
        return out


class PoolStep(PredictsKernels):
    """``tir.pool2d``, ``tir.pool2d_grad`` or ``tir.max_pool2d_select`` over the last two axes.

    ``step(inputs, results=[array])`` writes into ``array`` where it fits (see :func:`_buffer`).
    """

    #: A whole call's replay passes its recorded result arrays (runtime/native_function.py).
    #: A gradient may also take the pooled input's buffer when the plan gives it.
    traits: ClassVar[StepTraits] = StepTraits(fills_results=True, fresh_outputs=True, reuses_dead_operands=True)

    def __init__(self, context: KernelContext, op: Operation) -> None:
        self.context = context
        self.op = op
        self.name = op.name
        self.kind = _POOL_KINDS[op.name]
        self.attrs = dict(op.attributes)
        self.mode = "max" if self.kind == "select" else self.attrs["mode"]
        self.dtype = np.dtype(op.results[0].type.dtype)

        def make(variant: object) -> tuple[str, Callable[[], str], int]:
            dtype, value_dtype, unit = variant  # type: ignore[misc]
            ws, stride = self.attrs["ws"], self.attrs["stride"]
            name = kernel_name("pool", self.kind, self.mode, dtype, value_dtype, repr(ws), repr(stride), str(unit))
            # Lazy text: the name hashes every argument, so a cache hit never builds it.
            return name, functools.partial(pool_kernel, name, self.kind, self.mode, dtype, value_dtype, ws, stride,
                                           unit), 7

        self.kernels = KernelSet(context, make)

    def predicted_kernels(self, op: Operation) -> dict[str, tuple[Callable[[], str] | str, int]]:
        """The contiguous variant in the static dtypes, compiled with the executor's other kernels."""
        x_dtype = op.operands[0].type.dtype if self.kind == "select" else self.dtype.name
        v_dtype = op.operands[1].type.dtype if self.kind == "select" else self.dtype.name
        if self.kind == "grad":
            v_dtype = self.dtype.name
        if x_dtype not in POOL_DTYPES or self.dtype.name not in POOL_DTYPES or v_dtype not in POOL_DTYPES:
            return {}
        name, (text, n_args) = self.kernels.spec((x_dtype, v_dtype, True))
        return {name: (text, n_args)}

    def __call__(self, inputs: list[np.ndarray], results: Sequence[np.ndarray] | None = None,
                 free: tuple[int, ...] = ()) -> list[np.ndarray]:
        x_private = (self.kind == "grad" and not results and 0 in free
                     and reusable(inputs[0], np.shape(inputs[0]), self.dtype))
        x = np.asarray(inputs[0])
        # Forward and gradient kernels work in the result's dtype (the reference's gradient casts
        # gz to it); select compares in x's dtype and sums v in the result's.
        x_dtype = x.dtype if self.kind == "select" else self.dtype
        if x_dtype.name not in POOL_DTYPES or self.dtype.name not in POOL_DTYPES or x.ndim < 2:
            return run_op(self.op, inputs)
        x = _as_dtype(x, x_dtype)
        geo = PoolGeometry(x.shape[-2:], self.attrs)
        leading = x.shape[:-2]
        pooled = leading + geo.out
        if self.kind == "forward":
            v = x
        else:
            v = np.asarray(inputs[1])
            expected = pooled if self.kind == "grad" else x.shape
            if v.shape != expected:
                what = "output gradient" if self.kind == "grad" else "values"
                raise ValueError(f"{what} of shape {v.shape} does not match the expected {expected} "
                                 f"(input of shape {x.shape})")
            v = _as_dtype(v, self.dtype)
        exact = tiles_exactly(geo.hw, geo.out, geo.ws, geo.st, geo.pad)
        if x_private and exact:
            out = x  # each window is read before its gradient is stored over it (tiles_exactly)
        else:
            out = _buffer(results[0] if results else None, x.shape if self.kind == "grad" else pooled, self.dtype)
        if 0 in pooled:  # nothing pooled: an empty result, or an all-zero gradient
            out.fill(0)
            return [out]
        planes = int(np.prod(leading))
        x3, x_strides = _element_strides(x.reshape((planes, *geo.hw)))
        if v is x:
            v3, v_strides = x3, x_strides
        else:
            if self.kind == "grad":
                v = np.ascontiguousarray(v)  # the kernel indexes gz as C-contiguous
            v3, v_strides = _element_strides(v.reshape((planes, *v.shape[-2:])))
        unit = x_strides[2] == 1 and v_strides[2] == 1
        ilo, ihi, jlo, jhi = geo.valid_outputs()
        # The interior: outputs whose whole window is inside the image (empty when lo == hi).
        row_lo, col_lo = max(ilo), max(jlo)
        row_hi, col_hi = max(row_lo, min(ihi)), max(col_lo, min(jhi))
        values = dict(H=geo.hw[0], W=geo.hw[1], OH=geo.out[0], OW=geo.out[1], sx0=x_strides[0], sx1=x_strides[1],
                      sx2=x_strides[2], sv0=v_strides[0], sv1=v_strides[1], sv2=v_strides[2], ph=geo.pad[0],
                      pw=geo.pad[1], row_lo=row_lo, row_hi=row_hi, col_lo=col_lo, col_hi=col_hi, wsh=geo.ws[0],
                      wsw=geo.ws[1], segments=2,
                      zero_fill=int(not exact))
        params = np.array([values[k] for k in POOL_PARAMS] + ilo + ihi + jlo + jhi, np.int64)
        counts_h = counts_w = scratch = params  # placeholders the kernel does not read
        if self.mode.startswith("average"):
            counts_h, counts_w = geo.axis_counts(self.mode == "average_inc_pad")
        if self.kind != "forward" and self.mode == "max":
            scratch = np.empty(planes * geo.out[1], x3.dtype)  # one row of window maxima per plane
        fn = self.kernels.get((x3.dtype.name, v3.dtype.name, unit))
        args = (id(x3), id(v3), id(out), id(params), id(counts_h), id(counts_w), id(scratch))
        self.context.run(fn, planes, x.size, args)
        return [out]
