"""CUDA graphs: a sequence of GPU steps (a whole call, or a scan body's steps) captured once per
shape signature and replayed with one ``cuGraphLaunch``.

Three parts, as tinygrad's TinyJit (capture, then plan the captured list as data, then replay):

1. **The rule** (:func:`capture_refusal`, pure): a sequence may be captured only when every step
   is a device step (a kernel, a cuBLAS or cuDNN call), none reads or writes host memory in the
   middle (downloads, host fallbacks, uploads of non-constant host values: their data would be
   baked into the graph), and for a loop, its step count is known before it starts (no
   ``until``, no count read from a device value). Otherwise the caller runs its steps as they
   are and keeps the ``reason``, as the CPU's ``NativeScan`` does. One predicate, one answer to
   "why is this not replayed".
2. **The key** (:func:`call_signature`, pure): what a replay must match: every array's shape
   and dtype, and the value of every host scalar a step reads (a cuBLAS ``alpha`` is passed by
   value and would be baked in).
3. **Capture and replay** (:class:`GraphedCall`): the first call of a signature runs the steps
   as usual (kernels compile, constants upload, the allocator warms); the second runs them under
   ``cuStreamBeginCapture``/``cuStreamEndCapture`` with its inputs copied into buffers the graph
   owns, instantiates the graph (``cuGraphInstantiate``) and launches it; later calls copy their
   inputs into those buffers and launch it again. While capturing, the steps allocate through a
   :class:`CapturingMemory` that keeps every block for the graph's lifetime (a replay writes to
   the same addresses) and refuses host copies and synchronization, so a sequence the rule
   missed aborts its capture with a reason instead of being replayed wrong.

Outputs of a replay are the graph's own buffers: the caller copies (or downloads) them before
the next launch. Checks a step leaves for after the call (``GpuFunctionContext.pending``: a
label out of range, flagged in a status word the kernel writes) are kept from the capture and
made again after every replay, reading the status words the replayed kernels wrote.

Graphs are off unless ``TENSORIR_CUDA_GRAPHS=1`` (:func:`graphs_enabled`): no capture has run on
a GPU yet, so the default stays the step-by-step path until the device checks have passed with
them on. A capture the driver refuses falls back to the steps, with the driver's message as
the reason. Nothing here has run on a GPU yet; the rule, the key, the cache and the
capture's bookkeeping are tested on the CPU with a host-backed memory and a recording graph API.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorir.runtime.cuda.device_array import DeviceArray

__all__ = ["CAPTURABLE_KINDS", "GRAPHS_VARIABLE", "OFF", "CaptureRefused", "CapturingMemory", "DriverGraphs",
           "GraphCache", "GraphedCall", "StepSummary", "call_signature", "capture_refusal", "graphs_enabled",
           "plan_summaries", "static_values"]

#: The environment variable that turns CUDA graphs on (``1``).
GRAPHS_VARIABLE = "TENSORIR_CUDA_GRAPHS"
#: The reason of every sequence while graphs are off.
OFF = f"CUDA graphs are off ({GRAPHS_VARIABLE}=1 turns them on)"
#: Step kinds (the plan's ``step_kinds`` strings) whose work is all on the device's stream.
CAPTURABLE_KINDS = frozenset({"gpu"})
#: Graphs kept per function (least recently used dropped first). Not measured: a training
#: function sees one or two shapes (the last batch may be smaller).
MAX_GRAPHS = 4
#: Signatures a sequence may show before it stops trying: past them its key changes every time.
_MAX_SIGNATURES = 4 * MAX_GRAPHS


class CaptureRefused(RuntimeError):
    """A step did what a captured sequence cannot (a host copy, a synchronization)."""


@dataclass(frozen=True)
class StepSummary:
    """What the rule needs to know of one step: the op, the kind of step it runs as, and whether
    it reads or writes host memory while the call runs (a download, a label check read back,
    an upload of a host value that changes per call)."""

    op: str
    kind: str
    host_round_trip: bool = False


def graphs_enabled() -> bool:
    """Whether CUDA graphs are on (``TENSORIR_CUDA_GRAPHS=1``; see the module docstring)."""
    return os.environ.get(GRAPHS_VARIABLE, "0") == "1"


def capture_refusal(steps: Sequence[StepSummary], *, until: bool = False, count_from_data: bool = False
                    ) -> str | None:
    """Why ``steps`` (a call's, or a loop body's with the loop's flags) cannot be captured as a
    CUDA graph; None when they can (see the module docstring)."""
    if not graphs_enabled():
        return OFF
    if until:
        return "the loop stops on a condition its body computes (until): the step count is known only by running it"
    if count_from_data:
        return "the loop's step count is read from a device value: each call may run a different number of steps"
    if not steps:
        return "no steps to capture"
    for step in steps:
        if step.kind not in CAPTURABLE_KINDS:
            return f"{step.op} runs as a {step.kind} step, not on the device's stream"
        if step.host_round_trip:
            return f"{step.op} reads or copies host data while the call runs"
    return None


def static_values(ops: Sequence[Any]) -> set[int]:  # noqa: ANN401 - Operations of one block
    """The ids of the host values a call's signature fixes (:func:`call_signature`): host scalar
    arguments (keyed by value), constants, the shapes of anything, and what host ops compute from
    those alone (``tir.shape_i``, ``tir.make_vector``, scalar arithmetic on them). A replay may
    reuse them as the capture saw them. Host arrays of rank >= 1 (a random state) are keyed by
    shape only: not static."""
    from tensorir.dialects.builtin import CONSTANT
    from tensorir.runtime.cuda.device_flag import on_device

    static: set[int] = set()

    def fixed(v: Any) -> bool:  # noqa: ANN401
        if id(v) in static or (v.owner is not None and v.owner.opdef is CONSTANT):
            return True
        # A host scalar argument: in the signature by value.
        return v.owner is None and v.type.ndim == 0 and not on_device(v.type.dtype, v.type.ndim)

    for op in ops:
        shape_only = set(op.opdef.shape_operands)
        if op.name != "tir.to_host" and all(i in shape_only or fixed(v) for i, v in enumerate(op.operands)):
            static.update(id(r) for r in op.results)
    return static


def plan_summaries(ops: Sequence[Any], kinds: Sequence[str]) -> list[StepSummary]:  # noqa: ANN401 - Operations
    """The rule's view of a plan's steps (its ops and their ``step_kinds`` strings): an upload of a
    constant or of a static host value (:func:`static_values`: the transfer keeps its upload from
    call to call while the value stays the same) is a device step after the first call, a
    download of a value the function only returns is the call's, after the plan, and a host step
    that computes a static value from static values needs nothing from the device; any other
    transfer copies between host and device while the call runs, any other host step runs
    Python on the call's data."""
    from tensorir.dialects.builtin import CONSTANT
    from tensorir.runtime.cuda.device_flag import on_device
    from tensorir.runtime.cuda.steps import download_deferred

    static = static_values(ops)
    out = []
    for op, kind in zip(ops, kinds):
        if kind == "transfer":
            source = op.operands[0]
            kept = op.name == "tir.to_device" and (id(source) in static or (
                source.owner is not None and source.owner.opdef is CONSTANT))
            out.append(StepSummary(op.name, "gpu", host_round_trip=not (kept or download_deferred(op))))
        elif kind == "reference" and op.results and all(id(r) in static for r in op.results):
            out.append(StepSummary(op.name, "gpu"))  # Python on shapes and signature values only
        else:
            # A device step reading a host array argument (keyed by shape only) would replay the
            # values the capture saw.
            per_call = any(v.owner is None and v.type.ndim and not on_device(v.type.dtype, v.type.ndim)
                           for v in op.operands)
            out.append(StepSummary(op.name, kind, host_round_trip=per_call))
    return out


def _value_key(value: Any) -> tuple:  # noqa: ANN401
    if isinstance(value, DeviceArray):
        return ("device", value.shape, value.dtype.str)
    array = np.asarray(value)
    if array.ndim == 0:
        return ("scalar", array.dtype.str, array.tobytes())
    return ("host", array.shape, array.dtype.str)


def call_signature(args: Sequence[Any], in_place: Sequence[bool] = ()) -> tuple:  # noqa: ANN401
    """The key a replay must match: per argument its place (device or host), shape and dtype,
    a host scalar's value, and the address of a device argument the graph uses in place."""
    keep = list(in_place) + [False] * (len(args) - len(in_place))
    return tuple(_value_key(a) + ((a.address,) if k and isinstance(a, DeviceArray) else ())
                 for a, k in zip(args, keep))


class GraphCache:
    """At most ``limit`` entries by signature, the least recently used dropped first (its
    ``release`` called)."""

    def __init__(self, limit: int = MAX_GRAPHS) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any:  # noqa: ANN401
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple, entry: Any) -> None:  # noqa: ANN401
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            _, old = self._entries.popitem(last=False)
            old.release()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        while self._entries:
            self._entries.popitem()[1].release()


class _KeptBlock:
    """A block handed to a step during a capture: freeing it does nothing (the graph keeps it)."""

    def __init__(self, block: Any) -> None:  # noqa: ANN401
        self.block, self.address, self.size = block, block.address, block.size

    def free(self) -> None:
        pass


class CapturingMemory:
    """The stream's memory of a graph: allocations are kept for the graph's lifetime; while the
    capture records (:attr:`recording`), host copies and synchronization raise
    :class:`CaptureRefused` (see the module docstring). The arrays made during the capture keep
    this memory, so after it they copy to and from the host as usual."""

    def __init__(self, memory: Any) -> None:  # noqa: ANN401 - a StreamMemory
        self.memory = memory
        self.recording = True
        self.kept: list[Any] = []
        self.ordinal = memory.ordinal
        self.stream = getattr(memory, "stream", None)
        self.stream_handle = memory.stream_handle

    def allocate(self, nbytes: int) -> _KeptBlock:
        block = self.memory.allocate(nbytes)
        self.kept.append(block)
        return _KeptBlock(block)

    def copy(self, destination: int, source: int, nbytes: int) -> None:
        self.memory.copy(destination, source, nbytes)

    def fill_bytes(self, address: int, value: int, nbytes: int) -> None:
        self.memory.fill_bytes(address, value, nbytes)

    def upload(self, address: int, host: np.ndarray) -> None:
        if self.recording:
            raise CaptureRefused("a step uploads host data while the call runs")
        self.memory.upload(address, host)

    def download(self, host: np.ndarray, address: int) -> None:
        if self.recording:
            raise CaptureRefused("a step downloads device data while the call runs")
        self.memory.download(host, address)

    def synchronize(self) -> None:
        if self.recording:
            raise CaptureRefused("a step waits for the stream while the call runs")
        self.memory.synchronize()

    def release(self) -> None:
        """Give the kept blocks back to the allocator (when the graph is destroyed)."""
        blocks, self.kept = self.kept, []
        for block in blocks:
            block.free()


class DriverGraphs:
    """The driver's graph calls (``cuda.bindings.driver``) on one stream."""

    def __init__(self, stream: Any) -> None:  # noqa: ANN401 - a CUstream
        from tensorir.runtime.cuda.driver import require_driver

        self.driver = require_driver()
        self.stream = stream

    def begin(self) -> None:
        from tensorir.runtime.cuda.driver import check

        mode = self.driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
        check(self.driver.cuStreamBeginCapture(self.stream, mode), "cuStreamBeginCapture")

    def end(self) -> Any:  # noqa: ANN401 - a CUgraph
        from tensorir.runtime.cuda.driver import check

        return check(self.driver.cuStreamEndCapture(self.stream), "cuStreamEndCapture")

    def instantiate(self, graph: Any) -> Any:  # noqa: ANN401 - a CUgraphExec
        from tensorir.runtime.cuda.driver import check

        return check(self.driver.cuGraphInstantiate(graph, 0), "cuGraphInstantiate")

    def launch(self, executable: Any) -> None:  # noqa: ANN401
        from tensorir.runtime.cuda.driver import check

        check(self.driver.cuGraphLaunch(executable, self.stream), "cuGraphLaunch")

    def destroy(self, graph: Any, executable: Any) -> None:  # noqa: ANN401
        if executable is not None:
            self.driver.cuGraphExecDestroy(executable)
        if graph is not None:
            self.driver.cuGraphDestroy(graph)


@dataclass
class _Captured:
    """One signature's graph: its inputs' and outputs' buffers and the memory it keeps."""

    graphs: Any
    graph: Any
    executable: Any
    inputs: list[Any]
    outputs: list[Any]
    memory: CapturingMemory
    checks: list[Any] = field(default_factory=list)
    launches: int = field(default=0)

    def release(self) -> None:
        self.graphs.destroy(self.graph, self.executable)
        self.memory.release()


def _abandon(graphs: Any, capturing: CapturingMemory) -> None:  # noqa: ANN401
    """End a capture that failed (its graph, if the driver made one, is destroyed) and give
    back what it allocated."""
    capturing.recording = False
    try:
        graph = graphs.end()
    except Exception:  # noqa: BLE001 - an invalidated capture ends with an error; it is discarded either way
        graph = None
    graphs.destroy(graph, None)
    capturing.release()


class GraphedCall:
    """Runs ``run(args)`` (a sequence of GPU steps on ``context.memory``'s stream) as a CUDA graph
    per signature: run once, capture at the second call, replay after (module docstring).

    ``refusal`` is :func:`capture_refusal`'s answer for the steps; when it is not None, or when
    a capture is refused, every call runs the steps and :attr:`reason` says why. Arguments
    flagged ``in_place`` (shared variables: the same buffer every call) are captured at their
    own addresses, which join the key; the others are copied into the graph's buffers.
    """

    def __init__(self, run: Callable[[list[Any]], list[Any]], context: Any, refusal: str | None,  # noqa: ANN401
                 in_place: Sequence[bool] = (), graphs: Any = None) -> None:  # noqa: ANN401 - or a test's stand-in
        self.run, self.context = run, context
        self.in_place = list(in_place)
        #: Where steps leave their after-call checks (``GpuFunctionContext.pending``), if anywhere.
        self.pending: list[Any] | None = getattr(context, "pending", None)
        self.reason = refusal
        self.graphs = graphs
        self.cache = GraphCache()
        self._seen: set[tuple] = set()

    def __call__(self, args: list[Any], in_place: Sequence[bool] | None = None) -> list[Any]:  # noqa: ANN401
        """The steps' outputs for ``args`` (``in_place``: this call's flags, else the step's)."""
        if self.reason is not None:
            return self.run(args)
        if in_place is not None:
            self.in_place = list(in_place)
        key = call_signature(args, self.in_place)
        entry = self.cache.get(key)
        if entry is None:
            if key not in self._seen:  # the warm-up call: compiles, uploads constants
                self._seen.add(key)
                if len(self._seen) > _MAX_SIGNATURES:
                    self.reason = (f"more than {_MAX_SIGNATURES} signatures (a host scalar argument that changes "
                                   "from call to call, such as a loop index, is part of the key)")
                    self.cache.clear()
                return self.run(args)
            try:
                entry = self._capture(args)
            except CaptureRefused as exc:
                self.reason = str(exc)
                return self.run(args)
            except Exception as exc:  # noqa: BLE001 - the driver refused the capture: run the steps
                self.reason = f"the capture failed: {type(exc).__name__}: {exc}"
                return self.run(args)
            self.cache.put(key, entry)
        self._copy_inputs(entry, args)
        entry.graphs.launch(entry.executable)
        entry.launches += 1
        if self.pending is not None:
            self.pending.extend(entry.checks)  # the replayed kernels wrote their status words again
        return list(entry.outputs)

    def _copy_inputs(self, entry: _Captured, args: list[Any]) -> None:  # noqa: ANN401
        memory = self.context.memory
        for buffer, value in zip(entry.inputs, args):
            if isinstance(buffer, DeviceArray) and buffer.address != value.address and buffer.nbytes:
                memory.copy(buffer.address, value.address, buffer.nbytes)

    def _capture(self, args: list[Any]) -> _Captured:  # noqa: ANN401
        graphs = self.graphs if self.graphs is not None else DriverGraphs(self.context.memory.stream)
        real = self.context.memory
        capturing = CapturingMemory(real)
        # The graph's own input buffers (device arguments copied in before each launch).
        keep = self.in_place + [False] * (len(args) - len(self.in_place))
        inputs = [DeviceArray(a.shape, a.dtype, capturing, capturing.allocate(max(a.nbytes, 1)))
                  if isinstance(a, DeviceArray) and not k else a for a, k in zip(args, keep)]
        for buffer, value in zip(inputs, args):
            if isinstance(buffer, DeviceArray) and buffer is not value and buffer.nbytes:
                real.copy(buffer.address, value.address, buffer.nbytes)
        try:
            graphs.begin()
        except BaseException:
            capturing.release()
            raise
        self.context.memory = capturing
        first_check = len(self.pending) if self.pending is not None else 0
        try:
            outputs = self.run(inputs)
        except BaseException:
            self.context.memory = real
            self._drop_checks(first_check)
            _abandon(graphs, capturing)
            raise
        self.context.memory = real
        capturing.recording = False
        checks = self._drop_checks(first_check)  # nothing ran yet: they are made after each launch
        try:
            graph = graphs.end()
        except BaseException:
            capturing.release()
            raise
        try:
            executable = graphs.instantiate(graph)
        except BaseException:
            graphs.destroy(graph, None)
            capturing.release()
            raise
        return _Captured(graphs, graph, executable, inputs, outputs, capturing, checks)

    def _drop_checks(self, first: int) -> list[Any]:
        """The checks the captured steps left (removed from the pending list)."""
        if self.pending is None:
            return []
        checks = self.pending[first:]
        del self.pending[first:]
        return checks

    def release(self) -> None:
        """Destroy every graph and give its memory back."""
        self.cache.clear()

