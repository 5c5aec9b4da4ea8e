"""Plan steps for basic indexing and ``sum_to``: the op's semantics without the interpreter's cost.

These ops move little arithmetic work to native code; what they save is Python time, which inside a
``scan`` body is paid once per loop step (the char-LSTM's backward step runs 4 basic writes, 4
reads and 9 ``sum_to``\\ s that change nothing: about 10 us each through the generic reference).

- ``tir.subtensor`` (basic reads): the NumPy key is built once when the index has no run-time
  operand; the result is a view, as in the reference.
- ``tir.set_subtensor`` / ``tir.inc_subtensor`` (basic writes): the reference copies ``x`` and
  writes into the copy; here ``x`` is written in place when nothing else can see it (a dead
  intermediate that owns its buffer), so a chain of writes into one buffer (the gradient of
  slicing gates apart) copies once instead of once per write. The write itself is one strided
  kernel call (the region is a view; the kernel stores through its strides).
- ``tir.sum_to``: returns its operand when the shapes already agree (the common case a static
  type could not prove), else sums natively over the broadcast axes (a bias gradient).

Anything else (advanced indices, a result that does not fit the static type) goes through the
op's reference, so errors and semantics stay the reference's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, strided_kernel
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.indexing import RUNTIME, numpy_key, parse_index
from tensorir.dialects.tir.reduction import sum_to_axes
from tensorir.runtime.array_pointers import DataOf, Moving
from tensorir.runtime.native_kernels import (
    RECORDING,
    KernelContext,
    KernelSet,
    kernel_name,
    python_work,
    record_copy,
)
from tensorir.runtime.native_steps import ReductionStep
from tensorir.runtime.step_traits import PredictsKernels, StepTraits

__all__ = ["index_step"]

#: Write layouts remembered per step (see IndexWriteStep._launch).
_MAX_LAUNCHES = 64

Step = Callable[[list[np.ndarray]], list[np.ndarray]]


def _static_key(index: str) -> tuple | None:
    """The NumPy key of an index with no run-time part, else None."""
    entries = parse_index(index)
    if any(e[0] == "array" or RUNTIME in e[1:] for e in entries):
        return None
    return numpy_key(entries, ())


class _Step:
    def __init__(self, op: Operation) -> None:
        self.op = op
        result = op.results[0].type
        self.dtype = np.dtype(result.dtype)
        # Only a type with static dims can reject a shape; skip the check for the rest.
        self.static_shape = result if any(d is not None for d in result.shape) else None

    def _fits(self, out: np.ndarray) -> bool:
        return self.static_shape is None or self.static_shape.accepts_shape(out.shape)

    def reference(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        python_work(f"{self.op.name} on its reference")
        return run_op(self.op, inputs)


class SubtensorStep(_Step):
    """``x[key]`` as a view (``fresh_outputs`` is false: the result shares ``x``'s memory)."""

    #: A view of ``x``: a recorded loop moves it with ``x``, as long as the index operands are
    #: the same at every step.
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fixed_operands=tuple(range(1, 64)))

    def __init__(self, op: Operation) -> None:
        super().__init__(op)
        self.entries = parse_index(op.attributes["index"])
        self.key = _static_key(op.attributes["index"])

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if type(x) is not np.ndarray or x.dtype != self.dtype:
            return self.reference(inputs)
        key = self.key if self.key is not None else numpy_key(self.entries, inputs[1:])
        out = x[key]
        if type(out) is not np.ndarray:
            # Every axis indexed by an int: NumPy gives a scalar, a copy a replay would never
            # update; a trailing Ellipsis gives the 0-d view instead.
            out = x[(*key, Ellipsis) if isinstance(key, tuple) else (key, Ellipsis)]
        if not self._fits(out):
            return self.reference(inputs)  # raises the reference's error
        return [out]


class IndexWriteStep(_Step, PredictsKernels):
    """``x`` with ``x[key]`` set to / incremented by ``y``, in place when ``x`` is private.

    With a :class:`KernelContext`, a dtype the elementwise kernels support and a region of rank
    >= 1, the write itself is one strided kernel (see ``strided_kernel``'s ``strided_output``)
    that reads ``y`` broadcast and stores through the region's own strides, so on the in-place
    path all the step's work on values is that one ``context.run`` call: Python only builds the
    view and picks the variant (a recorder replaying native loops captures the call, see
    :attr:`recordable`). Anything else (no context, other dtypes, a single element, a ``y``
    that overlaps ``x``, an increment by another dtype) takes NumPy, as before.
    """

    #: The result is ``x``'s own buffer only when nothing else could see it, else a new copy.
    #: On the native path the step's whole effect on values is one ``context.run`` call (the
    #: index operands, read in Python, must be the same at every step of a recorded loop).
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fresh_outputs=True,
                                              fixed_operands=tuple(range(2, 64)), reuses_dead_operands=True)

    def __init__(self, op: Operation, context: KernelContext | None = None) -> None:
        super().__init__(op)
        self.entries = parse_index(op.attributes["index"])
        self.key = _static_key(op.attributes["index"])
        self.increment = op.name == "tir.inc_subtensor"
        self.context = context
        self.kernels = _write_kernels(context, self.dtype, self.increment) if context is not None else None
        # (kernel, outer iterations, size) by the region's and y's shapes and strides: the
        # checks and the choice of variant are made once per layout, not once per call.
        self._launches: dict[tuple, tuple] = {}

    def __call__(self, inputs: list[np.ndarray], free: tuple[int, ...] = ()) -> list[np.ndarray]:
        x = inputs[0]
        if type(x) is not np.ndarray or x.dtype != self.dtype:
            return self.reference(inputs)
        key = self.key if self.key is not None else numpy_key(self.entries, inputs[2:])
        # x's buffer becomes the result when the plan gives it (runtime/buffer_reuse.py).
        if 0 in free and x.base is None and x.flags.c_contiguous and x.flags.writeable:
            out = x
        else:
            out = np.empty(x.shape, self.dtype)
            np.copyto(out, x)
            record_copy(out, x)  # a native loop replays the copy (a byte copy) or gives up
        region = out[key]
        y = inputs[1]
        if self.kernels is not None and type(region) is np.ndarray:
            if (type(y) is not np.ndarray or y.dtype != self.dtype
                    or ((y.base is not None or y is out) and np.may_share_memory(y, out))):
                y = self._native_operand(y, out)
            if y is not None:
                launch = self._launches.get((region.shape, region.strides, y.shape, y.strides))
                if launch is None:
                    launch = self._launch(region, y)
                if launch:
                    fn, outer, size = launch
                    if fn is not None:
                        if self.increment:
                            # Operand 0 and the output are the region itself (read, then
                            # written, per element).
                            self.context.run(fn, outer, size, (id(region), id(y), id(region)),  # type: ignore[union-attr]
                                             (region, y))
                        else:
                            self.context.run(fn, outer, size, (id(y), id(region)), (region, y))  # type: ignore[union-attr]
                    return [out]
            y = inputs[1]
        python_work("index write through NumPy")
        if type(region) is not np.ndarray:  # a single element
            if self.increment:
                out[key] += y
            else:
                out[key] = y
        elif self.increment:
            # ``out[key] += y`` would also store the sum back through __setitem__: a second pass.
            np.add(region, y, out=region)
        else:
            np.copyto(region, y)
        return [out]

    def predicted_kernels(self, op: Operation) -> dict[str, tuple[object, int]]:
        """The write kernel the static types suggest (x is written C-contiguous, y assumed
        contiguous), for the executor to compile with its other kernels."""
        if self.kernels is None:
            return {}
        x_rank, y_type = op.operands[0].type.ndim, op.operands[1].type
        last_covered = len(self.entries) == x_rank
        region_rank = x_rank - sum(e[0] == "int" for e in self.entries)
        if region_rank < 1 or y_type.ndim > region_rank:
            return {}
        last = self.entries[-1] if last_covered else None
        r_mode = "u" if last is None or (last[0] == "slice" and last[3] in (None, 1)) else "s"
        y_mode = "z" if not y_type.ndim or y_type.shape[-1] == 1 else "u"
        name, spec = self.kernels.spec((region_rank, y_type.ndim, r_mode, y_mode))
        return {name: spec}

    def _native_operand(self, y: object, out: np.ndarray) -> np.ndarray | None:
        """``y`` as an ndarray the kernel can read, or None: NumPy must do the write."""
        converted = type(y) is not np.ndarray
        if converted:
            y = np.asarray(y)
        if y.dtype != self.dtype:
            if self.increment:
                # ``+=`` computes in the common dtype, then casts (or refuses): keep NumPy's result.
                return None
            y = y.astype(self.dtype)  # assignment casts unsafely, as ``astype`` does
            converted = True
        if converted:
            # A new array made in Python: a recorded loop would replay the kernel on this
            # step's value of y.
            python_work("index write converts its value")
        # The kernel reads y while it writes the region: a y inside ``out`` (only a view of a
        # private x could be) must go through NumPy, which buffers overlaps. An array that owns
        # its data and is not ``out`` cannot overlap it; bounds are enough for the rest (a
        # conservative answer only costs the NumPy path).
        if (y.base is not None or y is out) and np.may_share_memory(y, out):
            return None
        return y

    def _launch(self, region: np.ndarray, y: np.ndarray) -> tuple:
        """(kernel or None when there is nothing to write, outer iterations, size) for writing
        ``y`` into ``region``, remembered per layout; ``()`` when NumPy must write (a 0-d region,
        a y of higher rank); ValueError when y does not broadcast to the region."""
        shape = region.shape
        y_shape = y.shape
        if not shape or len(y_shape) > len(shape):
            return ()
        for yd, rd in zip(reversed(y_shape), reversed(shape)):
            if yd != rd and yd != 1:
                if self.increment:
                    raise ValueError(f"operands could not be broadcast together with shapes {shape} {y_shape}")
                raise ValueError(f"could not broadcast input array from shape {y_shape} into shape {shape}")
        size = region.size
        inner = shape[-1]
        if not size:
            launch: tuple = (None, 0, 0)
        else:
            itemsize = region.itemsize
            # Known unit strides along rows let LLVM vectorize (see strided_kernel's ``inner``).
            r_mode = "u" if inner == 1 or region.strides[-1] == itemsize else "s"
            if not y_shape or y_shape[-1] == 1:
                y_mode = "z"
            elif y.strides[-1] == itemsize:
                y_mode = "u"
            else:
                y_mode = "s"
            fn = self.kernels.get((len(shape), len(y_shape), r_mode, y_mode))  # type: ignore[union-attr]
            launch = (fn, size // inner, size)
        if len(self._launches) >= _MAX_LAUNCHES:
            self._launches.clear()  # a function called with ever new shapes must not grow without bound
        self._launches[(shape, region.strides, y_shape, y.strides)] = launch
        return launch


def _write_kernels(context: KernelContext, dtype: np.dtype, increment: bool) -> KernelSet | None:
    """The strided-output kernels of a basic write of ``dtype`` by variant (region rank, y rank,
    region's and y's inner modes), or None when the dtype has no elementwise lowering."""
    d = dtype.name
    try:
        if increment:
            # value 2 = values 0 (the region) + 1 (y); the output is stored back into the region.
            body = ElementwiseBody([d, d], [d], [("tir.add", {}, (0, 1), d)], [2])
        else:
            body = ElementwiseBody.identity(d)
        body.validate()
    except NotLowerable:
        return None
    mode = "inc" if increment else "set"
    n_args = len(body.input_dtypes) + 1
    key = body.key()

    def make(variant: object) -> tuple[str, Callable[[], str], int]:
        out_rank, y_rank, r_mode, y_mode = variant  # type: ignore[misc]
        ranks = (out_rank, y_rank) if increment else (y_rank,)
        inner = (r_mode, y_mode) if increment else (y_mode,)
        # Everything the text depends on is in the name (it keys the JIT symbols and the cache).
        name = kernel_name("index_write", mode, key, f"inplace={0 if increment else None}", repr(ranks),
                           str(out_rank), repr(inner), r_mode)
        # An increment reads the region through the output's address: LLVM vectorizes the row
        # loop instead of failing an overlap check between two pointers to the same array.
        return name, lambda: strided_kernel(name, body, ranks, out_rank, inner, strided_output=True,
                                            output_inner=r_mode, inplace_operand=0 if increment else None), n_args

    return KernelSet(context, make)


class SumToStep(_Step, PredictsKernels):
    """``sum_to(x, like)``: ``x`` itself when the shapes agree, else a native sum over the
    broadcast axes (float dtypes; others take the reference)."""

    #: Returns its operand, or sums through a recordable ReductionStep.
    traits: ClassVar[StepTraits] = StepTraits(recordable=True)

    def __init__(self, op: Operation, context: KernelContext | None) -> None:
        super().__init__(op)
        self.context = context if self.dtype.kind == "f" else None
        self._sums: dict[tuple[int, tuple[int, ...]], ReductionStep] = {}

    def _sum_step(self, rank: int, axes: tuple[int, ...]) -> ReductionStep:
        step = self._sums.get((rank, axes))
        if step is None:
            body = ElementwiseBody.identity(self.dtype.name)
            step = self._sums[(rank, axes)] = ReductionStep(self.context, body, [rank], rank, "tir.sum", axes,
                                                            True, self.dtype.name)
        return step

    def _plan(self, rank: int, axes: tuple[int, ...]) -> list[tuple[ReductionStep, tuple[str, tuple[bool]]]]:
        """The native sums (step, kernel variant) adding up ``axes`` of a contiguous operand, in
        order: one over a leading or trailing block of axes; a trailing block then a leading one
        (a conv bias gradient: axes 0, 2, 3); none for other axes (the reference's sum)."""
        lead = tuple(a for k, a in enumerate(axes) if a == k)
        trail = tuple(a for a in axes if a not in lead)
        if trail != tuple(range(rank - len(trail), rank)):
            return []
        plan = []
        if trail:
            plan.append((self._sum_step(rank, trail), ("rows", (False,))))
        if lead:
            plan.append((self._sum_step(rank, lead), ("columns", (False,))))
        return plan

    def predicted_kernels(self, op: Operation) -> dict[str, tuple[object, int]]:
        """The sums of a ``sum_to`` whose static types fix its axes (a bias gradient), compiled
        with the executor's other kernels."""
        x, like = op.operands[0].type, op.operands[1].type
        if self.context is None or like.ndim > x.ndim:
            return {}
        lead = x.ndim - like.ndim
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(like.shape)
                                          if d == 1 and x.shape[lead + i] != 1)
        if not axes:
            return {}
        predicted: dict[str, tuple[object, int]] = {}
        for step, variant in self._plan(x.ndim, axes):
            name, spec = step.fused_kernels.spec(variant)
            predicted[name] = spec
        return predicted

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if type(x) is not np.ndarray or x.dtype != self.dtype:
            return self.reference(inputs)
        target = np.shape(inputs[1])
        if x.shape == target:
            return [x]
        axes = sum_to_axes(x.shape, target)
        if axes is None or self.context is None or not x.size:
            return self.reference(inputs)
        plan = self._plan(x.ndim, axes) if x.flags.c_contiguous else []
        if len(plan) == 2:
            # Two native sums instead of a transposed copy: both replay in a recording.
            partial = plan[0][0]([x])[0]
            recorder = RECORDING.recorder
            if recorder is not None:
                recorder.own((partial,))  # the replayed sums write and read it at every call
            return [plan[1][0]([partial])[0].reshape(target)]
        return [self._sum_step(x.ndim, axes)([x])[0].reshape(target)]


class ViewStep(_Step):
    """``tir.dimshuffle`` / ``tir.reshape`` / ``tir.slice_leading`` / ``tir.flip_leading`` /
    ``tir.specify_shape``: the reference, which gives a view whenever the layout allows (the
    operand itself for ``specify_shape``, once its shape is checked: a recording is replayed
    only with the shapes it was made with); a copy (a reshape of a non-contiguous array) is
    Python work for a recorder."""

    #: A view moves with its operand in a recorded loop; the shape operands must be fixed.
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fixed_operands=tuple(range(1, 64)))

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        out = run_op(self.op, inputs)
        x = inputs[0]
        if out[0] is x:
            return out
        if type(x) is not np.ndarray or out[0].base is None or not np.may_share_memory(out[0], x):
            python_work(f"{self.op.name} copied its operand")
        return out


class PadLeadingStep(_Step):
    """``tir.pad_leading`` (zero rows around ``x``: the gradient of a leading slice, such as a
    scan's result without its initial rows): two zero fills and a byte copy, which a recorder
    replays; a non-contiguous ``x`` goes through the reference."""

    #: Its fills and copy are recorded; the row counts, read in Python, must be fixed.
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fresh_outputs=True, fixed_operands=(1, 2))

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        before, after = int(inputs[1]), int(inputs[2])
        if type(x) is not np.ndarray or x.dtype != self.dtype or not x.flags.c_contiguous or min(before, after) < 0:
            return self.reference(inputs)
        rows = x.shape[0]
        out = np.empty((before + rows + after, *x.shape[1:]), self.dtype)
        out[:before] = 0
        out[before:before + rows] = x
        out[before + rows:] = 0
        recorder = RECORDING.recorder
        if recorder is not None:
            row = x.itemsize * int(np.prod(x.shape[1:], dtype=np.int64))
            recorder.zero_bytes(Moving(0, 0, out), before * row)
            recorder.copy_bytes(Moving(before * row, 0, out), DataOf(x), rows * row)
            recorder.zero_bytes(Moving((before + rows) * row, 0, out), after * row)
        return [out]


class JoinStep(_Step):
    """``tir.join`` along the leading axis of C-contiguous operands of the result's dtype (a
    gradient's pieces joined into one vector, as PyMC's logp graphs do): one byte copy per
    operand into its rows of a new array, which a recorder replays. Other axes, layouts and
    dtypes go through the reference."""

    #: Its copies are recorded; it reads no operand in Python.
    traits: ClassVar[StepTraits] = StepTraits(recordable=True, fresh_outputs=True)

    def __init__(self, op: Operation) -> None:
        super().__init__(op)
        self.leading = op.attributes["axis"] == 0

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        dtype = self.dtype
        if not self.leading or any(type(x) is not np.ndarray or x.dtype != dtype or not x.flags.c_contiguous
                                   or x.ndim != inputs[0].ndim for x in inputs):
            return self.reference(inputs)
        inner = inputs[0].shape[1:]
        if any(x.shape[1:] != inner for x in inputs):
            return self.reference(inputs)  # the reference raises NumPy's error naming the shapes
        out = np.empty((sum(x.shape[0] for x in inputs), *inner), dtype)
        recorder = RECORDING.recorder
        offset = 0
        for x in inputs:
            rows = x.shape[0]
            out[offset:offset + rows] = x
            if recorder is not None and x.nbytes:
                start = offset * (out.strides[0] if out.ndim else 0)
                recorder.copy_bytes(Moving(start, 0, out), DataOf(x), x.nbytes)
            offset += rows
        return [out]


def index_step(op: Operation, context: KernelContext | None = None) -> tuple[Step, str] | None:
    """A step for ``op`` (one of the step table's ``INDEX_OPS``), or None to use the reference.
    ``context``: the executor's kernels, for the sums of ``sum_to`` and the basic writes (None:
    those take NumPy)."""
    if op.name == "tir.subtensor":
        return SubtensorStep(op), "view"
    if op.name in ("tir.set_subtensor", "tir.inc_subtensor"):
        return IndexWriteStep(op, context), "index"
    if op.name == "tir.sum_to":
        return SumToStep(op, context), "view"
    if op.name in ("tir.dimshuffle", "tir.reshape", "tir.slice_leading", "tir.flip_leading", "tir.specify_shape"):
        return ViewStep(op), "view"
    if op.name == "tir.pad_leading":
        return PadLeadingStep(op), "copy"
    if op.name == "tir.join":
        return JoinStep(op), "copy"
    return None
