"""CUDA graph capture without a device: the rule that allows it (and says why not), the signature
that keys the graphs, the cache, and :class:`GraphedCall`'s bookkeeping (warm-up, capture with
the graph's own input buffers and kept allocations, replay, refusals) on host-backed memory with a
graph API that records a capture and replays it by running the captured steps again. What the
driver does with a real capture is checked on a device (``pytest -m gpu``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.runtime.cuda.fake_device import HostBackedMemory

from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.graphs import (
    GRAPHS_VARIABLE,
    OFF,
    CaptureRefused,
    CapturingMemory,
    GraphCache,
    GraphedCall,
    StepSummary,
    call_signature,
    capture_refusal,
    plan_summaries,
)


@pytest.fixture(autouse=True)
def _graphs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRAPHS_VARIABLE, "1")


def test_graphs_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GRAPHS_VARIABLE)
    assert capture_refusal([StepSummary("tir.fused", "gpu")]) == OFF
    assert "TENSORIR_CUDA_GRAPHS=1" in OFF


def test_the_rule_allows_device_steps_only() -> None:
    steps = [StepSummary("tir.fused", "gpu"), StepSummary("tir.gemm", "gpu"), StepSummary("tir.conv2d", "gpu")]
    assert capture_refusal(steps) is None
    assert "until" in capture_refusal(steps, until=True)
    assert "device value" in capture_refusal(steps, count_from_data=True)
    assert capture_refusal([]) == "no steps to capture"
    host = [*steps, StepSummary("tir.argsort", "reference")]
    assert capture_refusal(host) == "tir.argsort runs as a reference step, not on the device's stream"
    download = [StepSummary("tir.to_host", "gpu", host_round_trip=True)]
    assert capture_refusal(download) == "tir.to_host reads or copies host data while the call runs"
    # The first reason, in the rule's order.
    assert "until" in capture_refusal(host, until=True)


def test_plan_summaries_keep_static_uploads_and_returned_downloads() -> None:
    from types import SimpleNamespace

    from tensorir.dialects.builtin import CONSTANT
    from tensorir.dialects.types import TensorType

    def value(owner: Any = None, dtype: str = "float32", ndim: int = 2,  # noqa: ANN401
              users: tuple[str, ...] = ("tir.add",)) -> SimpleNamespace:
        return SimpleNamespace(owner=owner, type=TensorType(dtype, (None,) * ndim),
                               uses=[(SimpleNamespace(name=u), 0) for u in users])

    def op(name: str, operands: list, shape_operands: tuple = (), **result: Any) -> SimpleNamespace:  # noqa: ANN401
        made = SimpleNamespace(name=name, operands=operands, opdef=SimpleNamespace(shape_operands=shape_operands))
        made.results = [value(made, **result)]
        return made

    constant = SimpleNamespace(opdef=CONSTANT)
    device_x = value()  # a device argument
    shape = op("tir.shape_i", [device_x], (0,), dtype="int64", ndim=0)  # its shape: static
    size = op("tir.make_vector", [shape.results[0], value(constant, "int64", 0)], dtype="int64", ndim=1)
    random_state = value(None, "uint32", 1)  # a host array: keyed by shape only, not static
    draw = op("tir.random_uniform", [random_state])
    on_device_draw = plan_summaries([draw], ["gpu"])[0]  # a device step reading it would replay stale values
    assert on_device_draw.host_round_trip
    ops = [shape, size, op("tir.to_device", [size.results[0]]), op("tir.to_device", [value(constant, "float32", 0)]),
           draw, op("tir.to_device", [draw.results[0]]), op("tir.to_host", [device_x]),
           op("tir.to_host", [device_x], users=("func.return",)), op("tir.sum", [device_x])]
    kinds = ["reference", "reference", "transfer", "transfer", "reference", "transfer", "transfer", "transfer", "gpu"]
    summaries = plan_summaries(ops, kinds)
    assert [(s.kind, s.host_round_trip) for s in summaries] == [
        ("gpu", False), ("gpu", False), ("gpu", False), ("gpu", False), ("reference", True), ("gpu", True),
        ("gpu", True), ("gpu", False), ("gpu", False)]
    assert capture_refusal([summaries[k] for k in (0, 1, 2, 3, 7, 8)]) is None
    assert capture_refusal(summaries) == "tir.random_uniform runs as a reference step, not on the device's stream"


def test_signature_keys_shapes_dtypes_scalar_values_and_kept_addresses() -> None:
    memory = HostBackedMemory()
    a = DeviceArray.empty((3, 4), "float32", memory)
    b = DeviceArray.empty((3, 4), "float32", memory)
    key = call_signature([a, np.float32(0.5), np.zeros((2,), "int32")])
    assert key == call_signature([b, np.float32(0.5), np.ones((2,), "int32")])  # data never matters
    assert key != call_signature([b, np.float32(0.25), np.zeros((2,), "int32")])  # a scalar's value does
    assert key != call_signature([DeviceArray.empty((3, 5), "float32", memory), np.float32(0.5), np.zeros(2, "int32")])
    assert key != call_signature([a.view((3, 4)), np.float64(0.5), np.zeros((2,), "int32")])
    assert call_signature([a], [True]) != call_signature([b], [True])  # in place: the address joins the key
    assert call_signature([a], [True]) == call_signature([a], [True])


def test_cache_drops_the_least_recently_used() -> None:
    released: list[str] = []

    class Entry:
        def __init__(self, name: str) -> None:
            self.name = name

        def release(self) -> None:
            released.append(self.name)

    cache = GraphCache(limit=2)
    cache.put(("a",), Entry("a"))
    cache.put(("b",), Entry("b"))
    assert cache.get(("a",)).name == "a"
    cache.put(("c",), Entry("c"))
    assert released == ["b"] and cache.get(("b",)) is None and len(cache) == 2
    cache.clear()
    assert sorted(released) == ["a", "b", "c"] and len(cache) == 0


def test_capturing_memory_keeps_blocks_and_refuses_host_copies() -> None:
    memory = HostBackedMemory()
    capturing = CapturingMemory(memory)
    array = DeviceArray.empty((16,), "float64", capturing)
    address = array.address
    del array  # a step's temporary: the graph still writes there, so the block stays out of the cache
    again = DeviceArray.empty((16,), "float64", memory)
    assert again.address != address
    for call in (lambda: capturing.upload(address, np.zeros(16)), lambda: capturing.download(np.zeros(16), address),
                 capturing.synchronize):
        with pytest.raises(CaptureRefused):
            call()
    capturing.release()
    assert DeviceArray.empty((16,), "float64", memory).address == address  # given back with the graph


class RecordingGraphs:
    """A graph API over host memory: a capture records the steps' function, a launch runs it
    again on the captured buffers (what a replayed graph does)."""

    def __init__(self, call: GraphedCall | None = None) -> None:
        self.call = call
        self.events: list[str] = []
        self.capturing = False

    def begin(self) -> None:
        self.events.append("begin")
        self.capturing = True

    def end(self) -> str:
        self.events.append("end")
        self.capturing = False
        return "graph"

    def instantiate(self, graph: str) -> str:
        self.events.append("instantiate")
        return "exec"

    def launch(self, executable: str) -> None:
        self.events.append("launch")
        entry = next(iter(self.call.cache._entries.values()))
        pending = self.call.context.pending
        before = len(pending)
        replayed = self.call.run(entry.inputs)  # the same kernels on the same addresses
        del pending[before:]  # a graph runs no Python: the checks are GraphedCall's to make
        for out, new in zip(entry.outputs, replayed):
            self.call.context.memory.copy(out.address, new.address, out.nbytes)

    def destroy(self, graph: Any, executable: Any) -> None:  # noqa: ANN401
        self.events.append("destroy")


class Context:
    def __init__(self, memory: Any) -> None:  # noqa: ANN401
        self.memory = memory
        self.pending: list[Any] = []


def _steps(context: Context, log: list[str]):  # noqa: ANN202
    """``out = 2 * x + w`` on device arrays of ``context.memory`` (a kernel's work, done on host)."""
    def run(args: list[Any]) -> list[Any]:  # noqa: ANN401
        x, w = args
        log.append("run")
        out = DeviceArray.empty(x.shape, x.dtype, context.memory)
        host = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_double * x.size).from_address(x.address))
        weights = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_double * w.size).from_address(w.address))
        result = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_double * out.size).from_address(out.address))
        result[...] = 2 * host + weights
        return [out]

    return run


def test_warm_up_capture_and_replay() -> None:
    memory = HostBackedMemory()
    context, log = Context(memory), []
    graphs = RecordingGraphs()
    call = GraphedCall(_steps(context, log), context, None, in_place=[False, True], graphs=graphs)
    graphs.call = call
    w = DeviceArray.from_host(np.arange(4.0), memory)
    results = []
    for k in range(4):
        x = DeviceArray.from_host(np.full(4, float(k)), memory)
        results.append(call([x, w])[0].get())
    for k, got in enumerate(results):
        np.testing.assert_array_equal(got, 2 * k + np.arange(4.0))
    assert graphs.events == ["begin", "end", "instantiate", "launch", "launch", "launch"]
    entry = next(iter(call.cache._entries.values()))
    assert entry.launches == 3 and entry.inputs[1] is w  # w captured in place, x copied in
    assert call.reason is None
    # A new shape: warm-up again, then its own graph.
    call([DeviceArray.from_host(np.zeros(2), memory), DeviceArray.from_host(np.zeros(2), memory)])
    assert len(call.cache) == 1
    call.release()
    assert graphs.events[-1] == "destroy"


def test_a_refused_capture_falls_back_and_says_why() -> None:
    memory = HostBackedMemory()
    context, log = Context(memory), []
    graphs = RecordingGraphs()
    inner = _steps(context, log)

    def uploads(args: list[Any]) -> list[Any]:  # noqa: ANN401
        context.memory.upload(args[0].address, np.zeros(args[0].shape))  # a host value mid-call
        return inner(args)

    call = GraphedCall(uploads, context, None, graphs=graphs)
    graphs.call = call
    args = [DeviceArray.from_host(np.ones(3), memory), DeviceArray.from_host(np.ones(3), memory)]
    for _ in range(3):
        np.testing.assert_array_equal(call(args)[0].get(), np.ones(3))
    assert call.reason == "a step uploads host data while the call runs"
    assert graphs.events == ["begin", "end", "destroy"] and context.memory is memory
    refused = GraphedCall(inner, context, "tir.argsort runs as a reference step, not on the device's stream")
    refused(args)
    refused(args)
    assert refused.reason.startswith("tir.argsort") and len(refused.cache) == 0


def test_checks_left_by_the_captured_steps_are_made_after_every_launch() -> None:
    memory = HostBackedMemory()
    context, log = Context(memory), []
    graphs = RecordingGraphs()
    inner = _steps(context, log)

    def checked(args: list[Any]) -> list[Any]:  # noqa: ANN401
        context.pending.append(("label check", len(log)))  # as a row step leaves its status word's check
        return inner(args)

    call = GraphedCall(checked, context, None, graphs=graphs)
    graphs.call = call
    args = [DeviceArray.from_host(np.ones(3), memory), DeviceArray.from_host(np.ones(3), memory)]
    call(args)  # warm-up: the steps leave their check
    assert len(context.pending) == 1
    context.pending.clear()
    call(args)  # capture, then the first launch
    assert len(context.pending) == 1 and call.cache.get(call_signature(args)).checks
    context.pending.clear()
    call(args)  # a replay: the same check again, and nothing else
    assert len(context.pending) == 1


def test_a_driver_error_while_capturing_falls_back() -> None:
    memory = HostBackedMemory()
    context, log = Context(memory), []

    class Failing(RecordingGraphs):
        def instantiate(self, graph: str) -> str:
            raise RuntimeError("cuGraphInstantiate failed: CUDA_ERROR_NOT_SUPPORTED")

    graphs = Failing()
    call = GraphedCall(_steps(context, log), context, None, graphs=graphs)
    graphs.call = call
    args = [DeviceArray.from_host(np.ones(3), memory), DeviceArray.from_host(np.ones(3), memory)]
    for _ in range(3):
        np.testing.assert_array_equal(call(args)[0].get(), np.full(3, 3.0))
    assert call.reason == "the capture failed: RuntimeError: cuGraphInstantiate failed: CUDA_ERROR_NOT_SUPPORTED"
    assert graphs.events == ["begin", "end", "destroy"] and context.memory is memory


def test_a_key_that_changes_every_call_stops_the_captures() -> None:
    memory = HostBackedMemory()
    context, log = Context(memory), []
    graphs = RecordingGraphs()
    inner = _steps(context, log)
    call = GraphedCall(lambda args: inner(args[:2]), context, None, graphs=graphs)
    graphs.call = call
    args = [DeviceArray.from_host(np.ones(3), memory), DeviceArray.from_host(np.ones(3), memory)]
    for t in range(40):  # a step index passed as a host scalar: a new signature every call
        call([*args, np.int64(t)])
    assert call.reason.startswith("more than 16 signatures") and graphs.events == []
