"""Plan steps for basic indexing and ``sum_to``: the op's semantics without the interpreter's cost.

These ops move no arithmetic work to native code; what they save is Python time, which inside a
``scan`` body is paid once per loop step (the char-LSTM's backward step runs 4 basic writes, 4
reads and 9 ``sum_to``\\ s that change nothing: about 10 us each through the generic reference).

- ``tir.subtensor`` (basic reads): the NumPy key is built once when the index has no run-time
  operand; the result is a view, as in the reference.
- ``tir.set_subtensor`` / ``tir.inc_subtensor`` (basic writes): the reference copies ``x`` and
  writes into the copy; here ``x`` is written in place when nothing else can see it (a dead
  intermediate that owns its buffer), so a chain of writes into one buffer (the gradient of
  slicing gates apart) copies once instead of once per write.
- ``tir.sum_to``: returns its operand when the shapes already agree (the common case a static
  type could not prove), else sums natively over the broadcast axes (a bias gradient).

Anything else (advanced indices, a result that does not fit the static type) goes through the
op's reference, so errors and semantics stay the reference's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.indexing import RUNTIME, numpy_key, parse_index
from tensorir.runtime.native_kernels import KernelContext
from tensorir.runtime.native_steps import ReductionStep

__all__ = ["INDEX_STEP_OPS", "index_step"]

INDEX_STEP_OPS = ("tir.subtensor", "tir.set_subtensor", "tir.inc_subtensor", "tir.sum_to")

# References to ``x`` inside a write step when only the plan's operand list holds it: that list,
# the local name and getrefcount's argument.
_PRIVATE_REFCOUNT = 3

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
        return run_op(self.op, inputs)


class SubtensorStep(_Step):
    """``x[key]`` as a view (``fresh_outputs`` is false: the result shares ``x``'s memory)."""

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
        if type(out) is not np.ndarray:  # every axis indexed by an int: NumPy gives a scalar
            out = np.asarray(out)
        if not self._fits(out):
            return self.reference(inputs)  # raises the reference's error
        return [out]


class IndexWriteStep(_Step):
    """``x`` with ``x[key]`` set to / incremented by ``y``, in place when ``x`` is private."""

    #: The result is ``x``'s own buffer only when nothing else could see it, else a new copy.
    fresh_outputs = True

    def __init__(self, op: Operation) -> None:
        super().__init__(op)
        self.entries = parse_index(op.attributes["index"])
        self.key = _static_key(op.attributes["index"])
        self.increment = op.name == "tir.inc_subtensor"

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if type(x) is not np.ndarray or x.dtype != self.dtype:
            return self.reference(inputs)
        key = self.key if self.key is not None else numpy_key(self.entries, inputs[2:])
        if (x.base is None and x.flags.c_contiguous and x.flags.writeable
                and sys.getrefcount(x) <= _PRIVATE_REFCOUNT):
            out = x
        else:
            out = np.empty(x.shape, self.dtype)
            np.copyto(out, x)
        x = None  # noqa: F841 - the local name must not outlive the decision above
        region = out[key]
        if type(region) is not np.ndarray:  # a single element
            if self.increment:
                out[key] += inputs[1]
            else:
                out[key] = inputs[1]
        elif self.increment:
            # ``out[key] += y`` would also store the sum back through __setitem__: a second pass.
            np.add(region, inputs[1], out=region)
        else:
            np.copyto(region, inputs[1])
        return [out]


def _sum_axes(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axes ``sum_to`` adds up to turn ``shape`` into ``target`` (keeping them as size 1
    before the leading ones are dropped), or None when it cannot (the reference raises)."""
    lead = len(shape) - len(target)
    if lead < 0:
        return None
    axes = list(range(lead))
    for i, d in enumerate(target):
        have = shape[lead + i]
        if d == 1 and have != 1:
            axes.append(lead + i)
        elif d != have:
            return None
    return tuple(axes)


class SumToStep(_Step):
    """``sum_to(x, like)``: ``x`` itself when the shapes agree, else a native sum over the
    broadcast axes (float dtypes; others take the reference)."""

    def __init__(self, op: Operation, context: KernelContext | None) -> None:
        super().__init__(op)
        self.context = context if self.dtype.kind == "f" else None
        self._sums: dict[tuple[int, tuple[int, ...]], ReductionStep] = {}

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if type(x) is not np.ndarray or x.dtype != self.dtype:
            return self.reference(inputs)
        target = np.shape(inputs[1])
        if x.shape == target:
            return [x]
        axes = _sum_axes(x.shape, target)
        if axes is None or self.context is None or not x.size:
            return self.reference(inputs)
        key = (x.ndim, axes)
        step = self._sums.get(key)
        if step is None:
            body = ElementwiseBody.identity(self.dtype.name)
            step = self._sums[key] = ReductionStep(self.context, body, [x.ndim], x.ndim, "tir.sum", axes, True,
                                                   self.dtype.name)
        return [step([x])[0].reshape(target)]


def index_step(op: Operation, context: KernelContext | None = None) -> tuple[Step, str] | None:
    """A step for ``op`` (one of :data:`INDEX_STEP_OPS`), or None to use the reference.
    ``context``: the executor's kernels, for the sums of ``sum_to``."""
    if op.name == "tir.subtensor":
        return SubtensorStep(op), "view"
    if op.name in ("tir.set_subtensor", "tir.inc_subtensor"):
        return IndexWriteStep(op), "index"
    if op.name == "tir.sum_to":
        return SumToStep(op, context), "view"
    return None
