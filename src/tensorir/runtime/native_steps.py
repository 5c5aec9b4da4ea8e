"""The steps of a native plan: one callable per op, ``step(inputs) -> outputs``.

Every step checks shapes in Python before it calls a kernel (a mismatch raises ``ValueError``,
which the executor turns into an ``EvaluationError`` naming the op), converts operands whose
dtype or byte order is not the kernel's, and allocates fresh C-contiguous outputs, or writes over
an operand's buffer that the plan gives it (``free``, decided in runtime/buffer_reuse.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel, strided_kernel
from tensorir.codegen.cpu.lower_nn import SHORT_COLS, row_kernel, row_kernel_arity, short_row_kernel
from tensorir.codegen.cpu.lower_reduction import columns_kernel, rows_kernel
from tensorir.runtime.native_kernels import (
    RECORDING,
    KernelContext,
    KernelSet,
    KernelText,
    kernel_name,
    python_work,
)
from tensorir.runtime.step_traits import PredictsKernels, StepTraits

__all__ = ["ElementwiseStep", "ReductionStep", "RowStep", "broadcast_into", "broadcast_shape", "is_strided_variant",
           "reusable"]

def reusable(a: object, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether an operand the plan gave the step (runtime/buffer_reuse.py) has the layout of an
    output of ``shape`` and ``dtype``: its own C-contiguous, writable buffer."""
    return (type(a) is np.ndarray and a.base is None and a.shape == shape and a.dtype == dtype
            and a.flags.c_contiguous and a.flags.writeable)


def broadcast_shape(arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
    """NumPy's broadcast shape of the operands (ValueError naming the shapes when they clash)."""
    first = arrays[0].shape
    for a in arrays:
        if a.shape != first:
            break
    else:
        return first
    ndim = max(a.ndim for a in arrays)
    out = [1] * ndim
    for a in arrays:
        offset = ndim - a.ndim
        for i, d in enumerate(a.shape):
            current = out[offset + i]
            if d != current:
                if current == 1:
                    out[offset + i] = d
                elif d != 1:
                    shapes = " ".join(str(x.shape) for x in arrays)
                    raise ValueError(f"operands could not be broadcast together with shapes {shapes}")
    return tuple(out)


def _conform(inputs: list[np.ndarray], dtypes: Sequence[np.dtype]) -> list[np.ndarray]:
    """Operands as ndarrays (kernels read the array object itself: a NumPy scalar would be read as
    garbage) in the kernel's dtypes, native byte order."""
    for k, (a, dt) in enumerate(zip(inputs, dtypes)):
        if type(a) is not np.ndarray or a.dtype != dt:
            python_work("operand conversion")
            inputs[k] = np.asarray(a).astype(dt, copy=False)
    return inputs


def _flat_modes(inputs: Sequence[np.ndarray], shape: tuple[int, ...]) -> tuple[bool, ...] | None:
    """Per operand True (a single element) / False (full and contiguous), or None: needs strides."""
    modes = []
    for a in inputs:
        if a.shape == shape and a.flags.c_contiguous:
            modes.append(False)
        elif a.size == 1:
            modes.append(True)
        else:
            return None
    return tuple(modes)


class ElementwiseStep:
    """A fused elementwise body or a lone elementwise op, flat or strided (see lower_elementwise).

    A call's work in Python depends only on the operands' shapes, so it is planned once per
    shape signature (:meth:`_launch`): the broadcast shape, the flat variant's kernel, which
    operands must be checked for contiguity and which may be reused as the output. The call
    itself is then a few attribute reads, one allocation and one ctypes call.
    """

    #: Outputs are new arrays or a dead intermediate's buffer; its native work goes through
    #: recordable calls (Python-side value work says so); element i of the result reads element
    #: i of each operand, so it may overwrite one it reads. Which operands that may be depends
    #: on the dtypes and ranks: set per step in ``__init__``.
    traits: StepTraits
    #: Shape signatures remembered per step (a function called with ever new batch sizes must
    #: not grow without bound).
    MAX_LAUNCHES = 64

    def __init__(self, context: KernelContext, body: ElementwiseBody, ranks: Sequence[int], out_rank: int,
                 inplace_hint: int | None = None) -> None:
        self.context = context
        self.body = body
        self.ranks = tuple(ranks)
        self.out_rank = out_rank
        self.in_dtypes = [np.dtype(d) for d in body.input_dtypes]
        self.out_dtypes = [np.dtype(d) for d in body.output_dtypes]
        order = list(range(len(ranks)))
        if inplace_hint is not None and inplace_hint in order:
            order.remove(inplace_hint)
            order.insert(0, inplace_hint)
        self.reuse_order = order if len(self.out_dtypes) == 1 else []
        # Operands a donated buffer may be (runtime/donation.py): of the result's dtype and rank.
        inplace = tuple(k for k in range(len(ranks)) if len(self.out_dtypes) == 1
                        and self.in_dtypes[k] == self.out_dtypes[0] and ranks[k] == out_rank)
        self.traits = StepTraits(recordable=True, fresh_outputs=True, elementwise=True, inplace_operands=inplace,
                                 reuses_dead_operands=bool(self.reuse_order))
        key = body.key()
        n_args = len(self.in_dtypes) + len(self.out_dtypes)

        def make(variant: object) -> tuple[str, Callable[[], str], int]:
            # Everything the text depends on is in the name: symbols must never clash in the JIT,
            # and the name keys the compile cache (the text is built only to compile it).
            name = kernel_name("elementwise", key, repr(variant), repr(self.ranks), str(out_rank))
            if is_strided_variant(variant):
                return name, lambda: strided_kernel(name, body, self.ranks, out_rank, variant[1]), n_args
            return name, lambda: flat_kernel(name, body, variant), n_args  # type: ignore[arg-type]

        self.kernels = KernelSet(context, make)
        self._launches: dict[tuple, tuple] = {}

    def predicted_variant(self, operand_shapes: Sequence[tuple], out_shape: tuple) -> object:
        """The variant the static types suggest: flat with scalars where an operand is all 1s,
        else strided with contiguous rows (a size-1 last dim broadcasts)."""
        modes = []
        for shape in operand_shapes:
            if all(d == 1 for d in shape) and any(d != 1 for d in out_shape):
                modes.append(True)
            elif len(shape) == len(out_shape) and all(d != 1 or o == 1 for d, o in zip(shape, out_shape)):
                modes.append(False)
            else:
                if not out_shape:
                    return None
                return ("strided", tuple("z" if not s or s[-1] == 1 else "u" for s in operand_shapes))
        return tuple(modes)

    def _launch(self, inputs: list[np.ndarray]) -> tuple:
        """(shape, size, full operands, reusable operands, flat variant or None, caller or None)
        for operands of these shapes; ValueError when they do not broadcast."""
        shape = broadcast_shape(inputs)
        size = 1
        for d in shape:
            size *= d
        modes: list[bool] | None = []
        full = []
        for k, a in enumerate(inputs):
            if a.shape == shape:
                modes.append(False)  # type: ignore[union-attr]
                full.append(k)
            elif a.size == 1:
                modes.append(True)  # type: ignore[union-attr]
            else:
                modes = None
                break
        out_dtype = self.out_dtypes[0]
        reuse = tuple(k for k in self.reuse_order if inputs[k].shape == shape and self.in_dtypes[k] == out_dtype)
        # The flat variant's key, not its kernel: whether the full operands are contiguous is
        # known per call (the launch is keyed on shapes), and a kernel no call runs is not compiled.
        flat = tuple(modes) if modes is not None and size else None
        ctx = self.context
        parallel = size > 1 and size >= ctx.parallel_min_work and ctx.pool.num_threads > 1
        # Small calls go straight to the kernel through a caller for this arity; big ones are split.
        caller = None if parallel else _direct_caller(len(inputs), len(self.out_dtypes))
        launch = (shape, size, tuple(full), reuse, flat, caller)
        if len(self._launches) >= self.MAX_LAUNCHES:
            self._launches.clear()
        self._launches[_signature(inputs)] = launch
        return launch

    def __call__(self, inputs: list[np.ndarray], out: np.ndarray | None = None,
                 free: tuple[int, ...] = ()) -> list[np.ndarray]:
        """The results; ``out``: a donated operand to write the result into where its shape and
        layout allow (runtime/donation.py); ``free``: operands whose buffers the plan gives the
        step (runtime/buffer_reuse.py)."""
        try:
            # Type, dtype and shape of every operand: the plan of operands seen before.
            launch = self._launches.get(_signature(inputs))
        except AttributeError:  # a Python scalar or list: no dtype
            launch = None
        if launch is None:
            # Kernels read the array object itself: a NumPy scalar, another dtype or byte order
            # is converted first, and only converted operands are ever planned.
            inputs = _conform(inputs, self.in_dtypes)
            launch = self._launch(inputs)
        shape, size, full, reuse, flat, caller = launch
        outputs = None
        if out is not None and out.shape == shape and out.dtype == self.out_dtypes[0] and out.flags.c_contiguous:
            outputs = [out]
            reuse = ()
        if free:
            for k in reuse:
                # Shape and dtype were matched per launch; the buffer must be its own and C order.
                if k in free and inputs[k].base is None and inputs[k].flags.c_contiguous and inputs[k].flags.writeable:
                    outputs = [inputs[k]]
                    break
        if outputs is None:
            out_dtypes = self.out_dtypes
            outputs = [np.empty(shape, out_dtypes[0])] if len(out_dtypes) == 1 else [
                np.empty(shape, dt) for dt in out_dtypes]
        if not size:
            return outputs
        if flat is not None:
            for k in full:
                if not inputs[k].flags.c_contiguous:
                    flat = None
                    break
            else:
                flat = self.kernels.get(flat)
        if flat is not None:
            if caller is not None and RECORDING.recorder is None:
                caller(flat, size, inputs, outputs)
            else:
                self.context.run(flat, size, size, (*map(id, inputs), *map(id, outputs)))
            return outputs
        for a, rank in zip(inputs, self.ranks):
            if a.ndim != rank:  # the kernel reads exactly ``rank`` dims of each operand
                raise ValueError(f"operand of rank {a.ndim} where rank {rank} was compiled")
        ids = tuple(id(a) for a in inputs) + tuple(id(o) for o in outputs)
        outer = size // shape[-1]
        self.context.run(self.kernels.get(("strided", _inner_modes(inputs, shape[-1]))), outer, size, ids)
        return outputs


def is_strided_variant(variant: object) -> bool:
    """Whether a variant key names a strided kernel, ``("strided", inner modes)``."""
    return isinstance(variant, tuple) and len(variant) == 2 and variant[0] == "strided"


def _inner_modes(inputs: Sequence[np.ndarray], inner: int) -> tuple[str, ...]:
    """Per operand, its stride along the output's last dim (of size ``inner``) as the strided
    kernel's variants know it: "u" one element, "z" broadcast, "s" anything else."""
    modes = []
    for a in inputs:
        if not a.ndim or a.shape[-1] == 1:
            modes.append("z")
        elif a.strides[-1] == a.itemsize or inner == 1:
            modes.append("u")
        else:
            modes.append("s")
    return tuple(modes)


def _signature(inputs: list[np.ndarray]) -> tuple:
    """What a call's plan depends on: each operand's type, dtype and shape (AttributeError for
    operands that are not NumPy objects)."""
    return tuple([(type(a), a.dtype, a.shape) for a in inputs])


# ``fn(0, size, id(in0), ..., id(out0), ...)`` spelled out for the common arities: unpacking
# ``*map(id, ...)`` costs about as much as the ctypes call itself.
def _call_1_1(fn: Callable[..., None], size: int, ins: list, outs: list) -> None:
    fn(0, size, id(ins[0]), id(outs[0]))


def _call_2_1(fn: Callable[..., None], size: int, ins: list, outs: list) -> None:
    fn(0, size, id(ins[0]), id(ins[1]), id(outs[0]))


def _call_3_1(fn: Callable[..., None], size: int, ins: list, outs: list) -> None:
    fn(0, size, id(ins[0]), id(ins[1]), id(ins[2]), id(outs[0]))


def _call_any(fn: Callable[..., None], size: int, ins: list, outs: list) -> None:
    fn(0, size, *map(id, ins), *map(id, outs))


_CALLERS = {(1, 1): _call_1_1, (2, 1): _call_2_1, (3, 1): _call_3_1}


def _direct_caller(n_in: int, n_out: int) -> Callable[[Callable[..., None], int, list, list], None]:
    return _CALLERS.get((n_in, n_out), _call_any)


def copy_kernels(context: KernelContext, dtype: str) -> KernelSet:
    """The broadcast-copy kernels of ``dtype``, by variant ``(src rank, dst rank, src inner mode)``."""
    kernels = context.shared_kernels.get(("copy", dtype))
    if kernels is None:
        body = ElementwiseBody.identity(dtype)

        def make(variant: object) -> tuple[str, Callable[[], str], int]:
            src_rank, dst_rank, inner = variant  # type: ignore[misc]
            name = kernel_name("broadcast_copy", body.key(), repr(variant))
            return name, lambda: strided_kernel(name, body, [src_rank], dst_rank, inner), 2

        kernels = context.shared_kernels[("copy", dtype)] = KernelSet(context, make)
    return kernels  # type: ignore[return-value]


def broadcast_into(context: KernelContext, dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` with NumPy's broadcasting, by a native strided kernel (so a recording
    of a loop step replays it). ``dst`` is C-contiguous; ``src`` of the same dtype broadcasts to it
    (ValueError otherwise)."""
    shape = dst.shape
    if src.ndim > dst.ndim or any(s != d and s != 1 for s, d in zip(reversed(src.shape), reversed(shape))):
        raise ValueError(f"could not broadcast input array from shape {src.shape} into shape {shape}")
    if not dst.size:
        return
    if not shape:
        dst[()] = src  # a single element; nothing to record that a kernel would do better
        python_work("scalar copy")
        return
    fn = copy_kernels(context, dst.dtype.name).get((src.ndim, dst.ndim, _inner_modes([src], shape[-1])))
    context.run(fn, dst.size // shape[-1], dst.size, (id(src), id(dst)), (src, dst))


def divide_kernel_spec(dtype: str) -> tuple[str, tuple[Callable[[], str], int]]:
    """(name, (text, n_args)) of the kernel dividing a float array in place by a scalar."""
    body = ElementwiseBody([dtype, dtype], [dtype], [("tir.true_div", {}, (0, 1), dtype)], [2])
    name = kernel_name("divide_in_place", body.key())
    return name, (lambda: flat_kernel(name, body, (False, True)), 3)


def _divide_in_place(context: KernelContext, out: np.ndarray, count: int) -> None:
    """``out /= count`` (a mean's last step) by a native kernel for float outputs, so a
    recorded loop step replays it; NumPy's division for the others."""
    dtype = out.dtype.name
    if out.dtype.kind != "f" or not out.flags.c_contiguous:
        python_work("mean divided in Python")
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(out, count, out=out)
        return
    fn = context.shared_kernels.get(("divide", dtype))
    if fn is None:
        name, (text, n_args) = divide_kernel_spec(dtype)
        fn = context.shared_kernels[("divide", dtype)] = context.load(text, name, n_args)
    divisor = np.asarray(count, dtype=out.dtype)
    # Elementwise, so reading and writing ``out`` at one index is safe.
    context.run(fn, out.size, out.size, (id(out), id(divisor), id(out)), (divisor,))


class ReductionStep(PredictsKernels):
    """A reduction over axes, of an operand or of a fused elementwise body (see lower_reduction)."""

    #: Outputs are new arrays (or views of them), never an argument or a constant; its native
    #: work goes through recordable calls (Python-side value work says so: python_work).
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fresh_outputs=True)

    def __init__(self, context: KernelContext, body: ElementwiseBody, ranks: Sequence[int], rank: int,
                 reduction: str, axis: tuple[int, ...] | None, keepdims: bool, out_dtype: str) -> None:
        self.context = context
        self.body = body
        self.rank = rank
        self.reduction = reduction
        self.axes = tuple(range(rank)) if axis is None else tuple(axis)
        self.keepdims = keepdims
        self.out_dtype = np.dtype(out_dtype)
        self.in_dtypes = [np.dtype(d) for d in body.input_dtypes]
        self.materialize = ElementwiseStep(context, body, ranks, rank) if body.ops else None
        identity = ElementwiseBody.identity(body.output_dtypes[0])
        self.identity_dtype = np.dtype(body.output_dtypes[0])

        def maker(b: ElementwiseBody, n_in: int):  # noqa: ANN202
            def make(variant: object) -> tuple[str, Callable[[], str], int]:
                layout, scalars = variant  # type: ignore[misc]
                name = kernel_name("reduce", b.key(), reduction, out_dtype, repr(variant))
                build = rows_kernel if layout == "rows" else columns_kernel
                return name, lambda: build(name, b, reduction, out_dtype, scalars), n_in + 3

            return make

        self.fused_kernels = KernelSet(context, maker(body, len(body.input_dtypes)))
        self.plain_kernels = KernelSet(context, maker(identity, 1))
        # The per-thread partial results of one big reduction are combined by a plain reduction
        # of the output dtype (partial means are sums).
        combine = ElementwiseBody.identity(out_dtype)
        combined_by = "tir.sum" if reduction == "tir.mean" else reduction

        def make_combine(variant: object) -> tuple[str, Callable[[], str], int]:
            name = kernel_name("reduce", combine.key(), combined_by, out_dtype, "combine")
            return name, lambda: rows_kernel(name, combine, combined_by, out_dtype, (False,)), 4

        self.combine_kernels = KernelSet(context, make_combine)

    def predicted_kernels(self, op: object) -> dict[str, tuple[KernelText, int]]:
        """The kernel the static types of ``op``'s operands suggest, for the executor to compile
        with the others before the first call (see ``NativeExecutor``)."""
        predicted: dict[str, tuple[KernelText, int]] = {}
        if self.reduction == "tir.mean" and self.out_dtype.kind == "f":
            name, spec = divide_kernel_spec(self.out_dtype.name)
            predicted[name] = spec
        shapes = [tuple(1 if d == 1 else -1 for d in v.type.shape) for v in op.operands]  # type: ignore[attr-defined]
        if any(len(shape) != self.rank for shape in shapes):
            return predicted
        k = len(self.axes)
        if self.axes == tuple(range(self.rank - k, self.rank)):
            layout = "rows"
        elif self.axes == tuple(range(k)):
            layout = "columns"
        else:
            return predicted
        out_shape = tuple(-1 if any(s[d] != 1 for s in shapes) else 1 for d in range(self.rank))
        modes = self.materialize.predicted_variant(shapes, out_shape) if self.materialize is not None else (False,)
        if not isinstance(modes, tuple) or is_strided_variant(modes):
            return predicted
        name, spec = self.fused_kernels.spec((layout, modes))
        predicted[name] = spec
        return predicted

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        inputs = _conform(inputs, self.in_dtypes)
        shape = broadcast_shape(inputs)
        axes = self.axes
        count = 1
        for a in axes:
            count *= shape[a]
        if count == 0 and self.reduction in ("tir.max", "tir.min"):
            raise ValueError(f"zero-size array to reduction operation {self.reduction[4:]} which has no identity")
        kept = [d for i, d in enumerate(shape) if i not in axes]
        out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape)) if self.keepdims else tuple(kept)
        rest = 1
        for d in kept:
            rest *= d
        k = len(axes)
        suffix = axes == tuple(range(len(shape) - k, len(shape)))
        prefix = axes == tuple(range(k))
        modes = _flat_modes(inputs, shape)
        kernels = self.fused_kernels
        if modes is None or not (suffix or prefix):
            python_work("reduction over a copied operand")
            x = self.materialize(inputs)[0] if self.materialize is not None else inputs[0]
            if not (suffix or prefix):
                x = np.moveaxis(x, axes, range(len(shape) - k, len(shape)))
                suffix = True
            inputs, modes, kernels = [np.ascontiguousarray(x)], (False,), self.plain_kernels
        out = np.empty(rest, self.out_dtype)
        if rest == 0:
            return [out.reshape(out_shape)]
        ids = tuple(id(a) for a in inputs)
        total = rest * count
        ctx = self.context
        if suffix and rest == 1 and total >= ctx.parallel_min_work and ctx.pool.num_threads > 1:
            # One big reduction: a partial result per thread, combined by a second kernel.
            parts = ctx.pool.num_threads
            chunk = -(-total // parts)
            partial = np.empty(parts, self.out_dtype)
            ctx.run(kernels.get(("rows", modes)), parts, total, (*ids, id(partial), chunk, total), (partial,))
            ctx.run(self.combine_kernels.get(0), 1, parts, (id(partial), id(out), parts, parts))
        elif suffix:
            ctx.run(kernels.get(("rows", modes)), rest, total, (*ids, id(out), count, total))
        else:
            ctx.run(kernels.get(("columns", modes)), rest, total, (*ids, id(out), count, rest))
        if self.reduction == "tir.mean":
            _divide_in_place(ctx, out, count)
        return [out.reshape(out_shape)]


class RowStep(PredictsKernels):
    """softmax / log_softmax / logsumexp / softmax_crossentropy (and its gradient) over rows
    (see lower_nn)."""

    #: Outputs are new arrays (or views of them), never an argument or a constant; one recorded
    #: kernel call on contiguous rows (copies and label checks are Python work).
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fresh_outputs=True)

    def __init__(self, context: KernelContext, op_name: str, dtype: str, rank: int, attrs: dict,
                 label_dtype: str | None = None) -> None:
        self.op_name = op_name
        self.dtype = np.dtype(dtype)
        self.rank = rank
        self.context = context
        if op_name in ("tir.softmax", "tir.log_softmax"):
            self.axes: tuple[int, ...] = (attrs["axis"] % rank,)
        elif op_name == "tir.logsumexp":
            self.axes = tuple(range(rank)) if attrs["axis"] is None else tuple(attrs["axis"])
        else:
            self.axes = (rank - 1,)
        self.keepdims = bool(attrs.get("keepdims", False))
        self.label_dtype = np.dtype(label_dtype) if label_dtype else None
        name = kernel_name("rows", op_name, dtype, str(label_dtype))
        # Built now, so an op or dtype without a row kernel raises NotLowerable at plan time (the
        # executor then runs the reference); a cache hit still keys on the name alone.
        text = row_kernel(name, op_name, dtype, label_dtype)
        n_args = row_kernel_arity(op_name)
        short_name = kernel_name("short_rows", op_name, dtype, str(label_dtype))

        def make(variant: object) -> tuple[str, Callable[[], str] | str, int]:
            # Variant "short": rows of at most SHORT_COLS elements, vectorized across rows.
            if variant == "short":
                return short_name, lambda: short_row_kernel(short_name, op_name, dtype, label_dtype), n_args
            return name, lambda: text, n_args  # lazy: a cache hit of the executor's module builds no text

        self.kernels = KernelSet(context, make)

    def variant(self, cols: int) -> object:
        """The kernel variant for rows of ``cols`` elements."""
        return "short" if cols <= SHORT_COLS else 0

    def predicted_kernels(self, op: object) -> dict[str, tuple[KernelText, int]]:
        """The variant for the static row length of ``op`` (the general one when it is not
        static), for the executor to compile with the others before the first call."""
        # The scores are the gradient's second operand (after the per-row cotangent).
        scores = 1 if self.op_name == "tir.softmax_crossentropy_grad" else 0
        shape = op.operands[scores].type.shape  # type: ignore[attr-defined]
        dims = [shape[a] for a in self.axes if a < len(shape)]
        known = len(dims) == len(self.axes) and all(d is not None for d in dims)
        name, spec = self.kernels.spec(self.variant(int(np.prod(dims))) if known else 0)
        return {name: spec}

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.op_name == "tir.softmax_crossentropy_grad":
            return self._crossentropy_grad(*inputs)
        x = np.asarray(inputs[0])
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        n = x.ndim
        k = len(self.axes)
        moved = self.axes != tuple(range(n - k, n))
        if moved:
            x = np.moveaxis(x, self.axes, range(n - k, n))
        x = np.ascontiguousarray(x)
        if x is not inputs[0] and not np.may_share_memory(x, inputs[0]):
            python_work("row op on a converted copy")
        cols = 1
        for d in x.shape[n - k:]:
            cols *= d
        rows = x.size // cols if cols else int(np.prod(x.shape[:n - k]))
        if self.op_name in ("tir.softmax", "tir.log_softmax"):
            out = np.empty(x.shape, self.dtype)
            if x.size:
                self.context.run(self.kernels.get(self.variant(cols)), rows, x.size, (id(x), id(out), cols), (x,))
            return [np.moveaxis(out, n - 1, self.axes[0]) if moved else out]
        out = np.empty(rows, self.dtype)
        if self.op_name == "tir.logsumexp":
            if rows:
                self.context.run(self.kernels.get(self.variant(cols)), rows, rows * cols, (id(x), id(out), cols),
                                 (x,))
            kept = [d for i, d in enumerate(inputs[0].shape) if i not in self.axes]
            shape = tuple(1 if i in self.axes else d for i, d in enumerate(inputs[0].shape)) if self.keepdims \
                else tuple(kept)
            return [out.reshape(shape)]
        y = self._labels(inputs[1], x.shape, cols)
        if rows:
            self._run_checked(rows, rows * cols, (id(x), id(out), id(y)), y, cols)
        return [out.reshape(x.shape[:-1])]

    def _labels(self, y: np.ndarray, shape: tuple[int, ...], cols: int) -> np.ndarray:
        """Labels of scores of ``shape`` (rows x ``cols``), contiguous of the kernel's dtype. Their
        range is checked by the kernel (see lower_nn), so a replayed call checks it too."""
        if y.shape != shape[:-1]:
            raise ValueError(f"labels of shape {y.shape} do not match scores of shape {shape}")
        if y.size and not cols:
            raise ValueError(f"class label {int(y.ravel()[0])} out of range [0, 0)")
        labels = np.ascontiguousarray(y, dtype=self.label_dtype)
        if labels is not y:
            python_work("labels converted in Python")
        return labels

    def _run_checked(self, rows: int, work: int, arrays: tuple[int, ...], labels: np.ndarray, cols: int) -> None:
        """Run the kernel with a status word for bad labels; raise on one (see lower_nn)."""
        status = np.full(1, -1, np.int64)
        self.context.run(self.kernels.get(self.variant(cols)), rows, work, (*arrays, id(status), cols), (status,))
        recorder = RECORDING.recorder
        if recorder is not None:
            recorder.check(status, cols)
        if status[0] >= 0:
            flat = labels.ravel()
            bad = flat[(flat < 0) | (flat >= cols)][0]
            raise ValueError(f"class label {int(bad)} out of range [0, {cols})")

    def _crossentropy_grad(self, dy: np.ndarray, z: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(z, dtype=self.dtype)
        if x is not z:
            python_work("scores converted in Python")
        if x.ndim != self.rank:
            raise ValueError(f"scores of rank {x.ndim}, expected {self.rank}")
        cols = x.shape[-1] if x.ndim else 1
        labels = self._labels(y, x.shape, cols)
        per_row = dy
        if not (type(dy) is np.ndarray and dy.dtype == self.dtype and dy.shape == labels.shape
                and dy.flags.c_contiguous):
            try:
                per_row = np.broadcast_to(np.asarray(dy, dtype=self.dtype), labels.shape)
            except ValueError:
                raise ValueError(f"cotangent of shape {np.shape(dy)} does not broadcast to the labels' "
                                 f"shape {labels.shape}") from None
            per_row = np.ascontiguousarray(per_row)
        if per_row is not dy:
            python_work("cotangents broadcast in Python")
        out = np.empty(x.shape, self.dtype)
        if labels.size:
            self._run_checked(labels.size, x.size, (id(x), id(out), id(labels), id(per_row)), labels, cols)
        return [out]
