"""The collective step of a native plan: ``tir.allreduce`` on a group's communicator.

A communicator is whatever moves bytes between the processes of a group: MPI through mpi4py
(``tensorir.distributed``), NCCL on a side stream when the GPU runtime exists. The runtime knows
only the small interface below, so a transport plugs in by implementing it and being bound to a
group name (``bind_group``); compiled functions name their group, never a transport.

The steps pack the op's operands into a few large buffers (buckets, one dtype each) because a
collective's cost is a latency per message plus a bandwidth term: forty small gradient messages
pay forty latencies. Two forms:

- ``tir.allreduce`` as one step (:class:`AllreduceStep`, ``overlap=False``): buckets of at most
  ``bucket_bytes``, each started as soon as it is packed, all waited before the step returns.
- split (passes/schedule_collectives.py): a :class:`StartStep` per operand, placed right after
  the operand is computed, and a :class:`WaitStep` per operand, placed right before its first
  use, sharing one :class:`Exchange` per split allreduce. The starts run in the order the
  gradients are produced; each copies its operand into its dtype's open bucket and, once the
  bucket holds ``bucket_bytes`` or more (PyTorch DDP's rule: the operand that fills it closes
  it; the first bucket of a call closes at :data:`FIRST_BUCKET_BYTES`) or the last operand is
  in, starts the bucket's transfer. The transfer then runs while the steps between compute; a
  wait blocks only if it has not finished. A wait whose bucket is still
  open (a reduced value used before the last gradient exists) starts it there: every process
  runs the same plan, so every process makes the same messages in the same order.

While native kernels compute, a transfer advances only if something drives it: NCCL's stream
does by itself; Open MPI advances a non-blocking collective only inside MPI calls, which is what
the MPI communicator's progress thread makes (distributed/mpi.py).

Errors of these steps (no communicator, a group of another size, a transfer that times out) are
raised as :class:`~tensorir.dialects.interpret.EvaluationError` naming the op and the user's
line that built the allreduce, and still derive from the cause's type (``DistributedError``).

For NCCL the interface stays; what changes is where the buckets live: they are host NumPy arrays
here, and a GPU step would pack into device buffers (the device's buffer interface) and its
communicator would start ``ncclAllReduce`` on a side stream, its request waiting on an event.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from tensorir.dialects.interpret import EvaluationError
from tensorir.dialects.ir import Operation
from tensorir.runtime.step_traits import StepTraits

__all__ = [
    "AllreduceStep",
    "Bucket",
    "Communicator",
    "Exchange",
    "Request",
    "StartStep",
    "WaitStep",
    "bind_group",
    "bound_group",
    "collective_step",
    "plan_buckets",
    "unbind_group",
]

#: Bucket size when a communicator does not choose one: large enough that a LeNet's or an MLP's
#: float64 gradients travel in one or two messages, small enough that packing the next bucket
#: overlaps the previous transfer (PyTorch DDP and Horovod use 25 and 64 MiB on fast networks).
DEFAULT_BUCKET_BYTES = 4 << 20
#: A split allreduce's first bucket of a call closes at this size if ``bucket_bytes`` is larger
#: (PyTorch DDP's first bucket rule): the first transfer then starts after the last layers'
#: gradients instead of waiting for most of the model's, and has the most backward work left
#: to hide behind.
FIRST_BUCKET_BYTES = 1 << 20


class Request(Protocol):
    """A started transfer."""

    def wait(self) -> None:
        """Block until the transfer is complete (raising if the group failed)."""


class Communicator(Protocol):
    """What the runtime needs of a transport: sum a buffer in place over the group's processes."""

    rank: int
    size: int
    bucket_bytes: int

    def start_allreduce(self, buffer: np.ndarray) -> Request:
        """Start summing the contiguous 1-d ``buffer`` in place over the group; return at once."""


_GROUPS: dict[str, Communicator] = {}


def bind_group(name: str, communicator: Communicator) -> None:
    """Make ``communicator`` carry the collectives of group ``name`` in this process."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"bind_group: name must be a non-empty string, got {name!r}")
    _GROUPS[name] = communicator


def unbind_group(name: str) -> None:
    """Forget group ``name`` (its collectives then run only as a one-process group)."""
    _GROUPS.pop(name, None)


def bound_group(name: str) -> Communicator | None:
    """The communicator bound to group ``name``, or None."""
    return _GROUPS.get(name)


@dataclass(frozen=True)
class Bucket:
    """One message: a dtype, its length in elements, and the operands packed into it as
    ``(operand index, offset in elements, element count)``."""

    dtype: np.dtype
    size: int
    parts: tuple[tuple[int, int, int], ...]


def plan_buckets(shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype], bucket_bytes: int) -> list[Bucket]:
    """Operands into buckets in operand order, one dtype per bucket, each at most ``bucket_bytes``
    (an operand larger than that travels alone). Every process computes the same plan from the
    same shapes, so the messages match without negotiating."""
    if bucket_bytes < 1:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    open_buckets: dict[np.dtype, list[tuple[int, int, int]]] = {}
    sizes: dict[np.dtype, int] = {}
    done: list[Bucket] = []
    for index, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        count = int(np.prod(shape, dtype=np.int64))
        used = sizes.get(dtype, 0)
        if used and (used + count) * dtype.itemsize > bucket_bytes:
            done.append(Bucket(dtype, used, tuple(open_buckets.pop(dtype))))
            used = 0
        open_buckets.setdefault(dtype, []).append((index, used, count))
        sizes[dtype] = used + count
    done.extend(Bucket(dtype, sizes[dtype], tuple(parts)) for dtype, parts in open_buckets.items())
    return [b for b in done if b.size]


#: Wrapped error types by cause type: ``EvaluationError`` and the cause's own class together.
_LOCATED: dict[type, type] = {}


def located_error(op: Operation, exc: Exception) -> EvaluationError:
    """``exc`` as an :class:`EvaluationError` naming ``op`` and the user's line, still an instance
    of ``exc``'s type (``except DistributedError`` keeps working)."""
    if isinstance(exc, EvaluationError):
        return exc
    kind = _LOCATED.get(type(exc))
    if kind is None:
        kind = _LOCATED[type(exc)] = type(f"Evaluation{type(exc).__name__}", (EvaluationError, type(exc)), {})
    return kind(op, exc)


def _group_communicator(group: str, group_size: int) -> Communicator | None:
    """The communicator of ``group``; None for a one-process group with none bound."""
    comm = bound_group(group)
    if comm is None:
        if group_size == 1:
            return None
        raise RuntimeError(
            f"tir.allreduce: no communicator is bound to group {group!r} of {group_size} processes; "
            "call tensorir.distributed.init() before calling the function"
        )
    if comm.size != group_size:
        raise RuntimeError(
            f"tir.allreduce: the function was built for {group_size} processes in group {group!r}, "
            f"but the group has {comm.size}; rebuild it after init()"
        )
    return comm


class AllreduceStep:
    """``tir.allreduce`` as one step (``overlap=False``): pack into buckets, start each, wait all,
    unpack. The transfer overlaps only the packing of the next bucket."""

    #: Results are views of the step's own bucket buffers (several per buffer): not fresh
    #: arrays; the communicator's calls are not recordable.
    traits: ClassVar[StepTraits] = StepTraits(recordable=False, fresh_outputs=False)

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.group = op.attributes["group"]
        self.group_size = op.attributes["group_size"]
        self.mean = op.attributes["reduce"] == "mean"
        self._plans: dict[tuple, list[Bucket]] = {}

    def communicator(self) -> Communicator | None:
        """The group's communicator; None for a one-process group with none bound."""
        return _group_communicator(self.group, self.group_size)

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._reduce(inputs)
        except Exception as exc:
            raise located_error(self.op, exc) from exc

    def _reduce(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        comm = self.communicator()
        arrays = [np.asarray(a) for a in inputs]
        if comm is None or comm.size == 1:
            # Copies: the op declares no view of its operands, so the memory planner may let a
            # later step overwrite a result, which must not be an operand still in use.
            return [a.copy() for a in arrays]
        key = tuple((a.shape, a.dtype) for a in arrays)
        buckets = self._plans.get(key)
        if buckets is None:
            buckets = plan_buckets([a.shape for a in arrays], [a.dtype for a in arrays], comm.bucket_bytes)
            self._plans[key] = buckets
        outputs: list[np.ndarray] = [np.empty(a.shape, a.dtype) for a in arrays]  # zero-size ones stay
        buffers, requests = [], []
        for bucket in buckets:
            buffer = np.empty(bucket.size, bucket.dtype)
            for index, offset, count in bucket.parts:
                buffer[offset:offset + count] = arrays[index].reshape(-1)
            buffers.append(buffer)
            requests.append(comm.start_allreduce(buffer))
        for bucket, buffer, request in zip(buckets, buffers, requests):
            request.wait()
            if self.mean:
                buffer /= comm.size
            for index, offset, count in bucket.parts:
                outputs[index] = buffer[offset:offset + count].reshape(arrays[index].shape)
        return outputs


class _Flight:
    """A started bucket: its buffer, request and where each operand lies in it."""

    __slots__ = ("buffer", "request", "parts", "done")

    def __init__(self, buffer: np.ndarray, request: Request, parts: dict[int, tuple[int, int]]) -> None:
        self.buffer, self.request, self.parts, self.done = buffer, request, parts, False


class Exchange:
    """One split allreduce during a call: the open buckets its starts fill, the transfers in
    flight, and for each operand (by ``index``) the bucket that carries it.

    One per split allreduce, shared by every plan built from its ops: calls of one function
    from two threads at once would interleave their collectives, which no group can match
    (MPI needs every process to start the same collectives in the same order)."""

    def __init__(self, group: str, group_size: int, mean: bool, count: int) -> None:
        self.group, self.group_size, self.mean, self.count = group, group_size, mean, count
        self.comm: Communicator | None = None
        self._open: dict[np.dtype, list[tuple[int, np.ndarray]]] = {}
        self._open_bytes: dict[np.dtype, int] = {}
        self._open_of: dict[int, np.dtype] = {}
        self._flights: list[_Flight] = []
        self._flight_of: dict[int, _Flight] = {}
        self._shapes: dict[int, tuple[int, ...]] = {}
        #: Messages started in the last call, as (bytes, operand indices): for tests and reports.
        self.messages: list[tuple[int, tuple[int, ...]]] = []

    def begin(self) -> None:
        """A new call (its first start): finish what a failed call left in flight, so no buffer
        is dropped under a transfer, and forget it."""
        for flight in self._flights:
            if not flight.done:
                try:
                    flight.request.wait()
                except Exception:  # noqa: BLE001, S110 - the failed call raised already
                    pass
        self._open.clear()
        self._open_bytes.clear()
        self._open_of.clear()
        self._flights.clear()
        self._flight_of.clear()
        self._shapes.clear()
        self.messages = []
        self.comm = _group_communicator(self.group, self.group_size)

    def add(self, index: int, value: np.ndarray) -> None:
        """Operand ``index``: into its dtype's open bucket (a copy: a later step may write over
        the operand's buffer once it is dead), which starts when full or when it is the last."""
        comm = self.comm
        assert comm is not None
        value = np.asarray(value)
        dtype = value.dtype
        self._open.setdefault(dtype, []).append((index, np.array(value, order="C").reshape(-1)))
        self._open_of[index] = dtype
        self._shapes[index] = value.shape
        filled = self._open_bytes.get(dtype, 0) + value.nbytes
        self._open_bytes[dtype] = filled
        cap = comm.bucket_bytes if self._flights else min(comm.bucket_bytes, FIRST_BUCKET_BYTES)
        if filled >= cap:
            self._launch(dtype)
        if index == self.count - 1:
            for open_dtype in list(self._open):
                self._launch(open_dtype)

    def _launch(self, dtype: np.dtype) -> None:
        comm = self.comm
        assert comm is not None
        parts = self._open.pop(dtype)
        self._open_bytes.pop(dtype)
        buffer = parts[0][1] if len(parts) == 1 else np.concatenate([flat for _, flat in parts])
        where: dict[int, tuple[int, int]] = {}
        offset = 0
        for index, flat in parts:
            where[index] = (offset, flat.size)
            offset += flat.size
            del self._open_of[index]
        flight = _Flight(buffer, comm.start_allreduce(buffer), where)
        self._flights.append(flight)
        for index in where:
            self._flight_of[index] = flight
        self.messages.append((buffer.nbytes, tuple(where)))

    def result(self, index: int) -> np.ndarray:
        """The reduced operand ``index``: waits for its bucket (starting it if still open)."""
        flight = self._flight_of.get(index)
        if flight is None:
            dtype = self._open_of.get(index)
            if dtype is None:
                raise RuntimeError(f"tir.allreduce_wait: operand {index} was not started in this call")
            self._launch(dtype)
            flight = self._flight_of[index]
        if not flight.done:
            flight.request.wait()
            if self.mean:
                flight.buffer /= self.group_size
            flight.done = True
        offset, count = flight.parts[index]
        return flight.buffer[offset:offset + count].reshape(self._shapes[index])


#: The exchange of each split allreduce, keyed by its first start op (alive as long as the IR).
_EXCHANGES: weakref.WeakKeyDictionary[Operation, Exchange] = weakref.WeakKeyDictionary()


def _exchange_of(start: Operation) -> Exchange:
    """The exchange shared by the starts and waits of ``start``'s split allreduce."""
    attrs = start.attributes
    first = start
    if start.parent is not None:
        first = next((op for op in start.parent.operations if op.name == "tir.allreduce_start"
                      and op.attributes["exchange"] == attrs["exchange"] and op.attributes["index"] == 0), start)
    exchange = _EXCHANGES.get(first)
    if exchange is None:
        exchange = _EXCHANGES[first] = Exchange(attrs["group"], attrs["group_size"], attrs["reduce"] == "mean",
                                                attrs["count"])
    return exchange


class _InFlight:
    """What a start step's result slot holds while its operand travels (one object per step, the
    same at every call, so a whole call's replay sees an unchanged value)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<allreduce operand {self.index} in flight>"


class StartStep:
    """``tir.allreduce_start``: hand the operand to its exchange's open bucket (module docstring).
    For a one-process group the value in flight is a copy of the operand."""

    traits: ClassVar[StepTraits] = StepTraits(recordable=False, fresh_outputs=False)

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.index = op.attributes["index"]
        self.exchange = _exchange_of(op)
        self.in_flight = _InFlight(self.index)

    def __call__(self, inputs: list[np.ndarray]) -> list[object]:
        try:
            exchange = self.exchange
            if self.index == 0:
                exchange.begin()
            if exchange.comm is None or exchange.comm.size == 1:
                return [np.array(inputs[0], copy=True)]
            exchange.add(self.index, inputs[0])
            return [self.in_flight]
        except Exception as exc:
            raise located_error(self.op, exc) from exc


class WaitStep:
    """``tir.allreduce_wait``: the reduced operand, a view of its bucket's buffer."""

    traits: ClassVar[StepTraits] = StepTraits(recordable=False, fresh_outputs=False)

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.index = op.attributes["index"]
        start = op.operands[0].owner
        self.exchange = _exchange_of(start if start is not None else op)

    def __call__(self, inputs: list[object]) -> list[np.ndarray]:
        value = inputs[0]
        if type(value) is not _InFlight:
            return [value]  # a one-process group: the start's copy
        try:
            return [self.exchange.result(self.index)]
        except Exception as exc:
            raise located_error(self.op, exc) from exc


#: The step of each collective op (the step table's ``COLLECTIVE_OPS``).
_STEPS: dict[str, Callable[[Operation], object]] = {
    "tir.allreduce": AllreduceStep,
    "tir.allreduce_start": StartStep,
    "tir.allreduce_wait": WaitStep,
}


def collective_step(op: Operation) -> AllreduceStep | StartStep | WaitStep:
    """The step of a collective op (one of the step table's ``COLLECTIVE_OPS``)."""
    return _STEPS[op.name](op)  # type: ignore[return-value]
