"""The collective step of a native plan: ``tir.allreduce`` on a group's communicator.

A communicator is whatever moves bytes between the processes of a group: MPI through mpi4py
(``tensorir.distributed``), NCCL on a side stream when the GPU runtime exists. The runtime knows
only the small interface below, so a transport plugs in by implementing it and being bound to a
group name (``bind_group``); compiled functions name their group, never a transport.

The step packs the op's operands into a few large buffers (buckets, one dtype each, up to the
communicator's ``bucket_bytes``) because a collective's cost is a latency per message plus a
bandwidth term: forty small gradient messages pay forty latencies. Each bucket's transfer starts
as soon as it is packed (non-blocking), so packing the next overlaps the previous one's transfer;
the step waits for all of them before it returns, because a plan's steps are synchronous (see
``AllreduceStep`` for why overlap with the rest of the backward pass is not done yet).

For NCCL the interface stays; what changes is where the buckets live: they are host NumPy arrays
here, and a GPU step would pack into device buffers (the device's buffer interface) and its
communicator would start ``ncclAllReduce`` on a side stream, its request waiting on an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from tensorir.dialects.ir import Operation
from tensorir.runtime.step_traits import StepTraits

__all__ = [
    "AllreduceStep",
    "Bucket",
    "Communicator",
    "Request",
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


class AllreduceStep:
    """``tir.allreduce`` as one step: pack into buckets, start each, wait all, unpack.

    Overlap with the backward pass: the plan runs its steps one after another and a step returns
    its results, so a collective cannot run while later steps compute. Overlap needs the op split
    into a start (returning a request value) and a wait placed by a scheduling rewrite just before
    the first use, with the buckets following the order in which gradients are produced; the
    ``Communicator`` interface (start now, wait later) is already that shape. On CPUs it would
    also need the transfer to progress while native kernels run: Open MPI advances a
    non-blocking collective only inside MPI calls, so it needs a progress thread (NCCL's side
    stream progresses by itself).
    """

    #: Results are views of the step's own bucket buffers (several per buffer): not fresh
    #: arrays; the communicator's calls are not recordable.
    traits: ClassVar[StepTraits] = StepTraits(recordable=False, fresh_outputs=False)

    def __init__(self, op: Operation) -> None:
        self.group = op.attributes["group"]
        self.group_size = op.attributes["group_size"]
        self.mean = op.attributes["reduce"] == "mean"
        self._plans: dict[tuple, list[Bucket]] = {}

    def communicator(self) -> Communicator | None:
        """The group's communicator; None for a one-process group with none bound."""
        comm = bound_group(self.group)
        if comm is None:
            if self.group_size == 1:
                return None
            raise RuntimeError(
                f"tir.allreduce: no communicator is bound to group {self.group!r} of {self.group_size} processes; "
                "call tensorir.distributed.init() before calling the function"
            )
        if comm.size != self.group_size:
            raise RuntimeError(
                f"tir.allreduce: the function was built for {self.group_size} processes in group {self.group!r}, "
                f"but the group has {comm.size}; rebuild it after init()"
            )
        return comm

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
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


def collective_step(op: Operation) -> AllreduceStep:
    """The step of a collective op (one of the step table's ``COLLECTIVE_OPS``)."""
    return AllreduceStep(op)
