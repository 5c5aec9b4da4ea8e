"""``tir.scan`` on the GPU: the body as a plan of GPU steps, sequences and states in device memory,
each step's body replayed as one CUDA graph where the capture rule allows it.

The loop is ``ScanDef.evaluate``'s (``dialects/tir/control.py``: taps, windows, ``keep``,
``reverse``, ``until``, results stacked in step order), over device arrays:

- the body's own transfers are inserted once, when the step is built (``passes/device_transfer``
  on the scan's block: its arguments live where ``on_device`` puts their types, as a function's
  do), and its plan is built with the function's GPU steps and kernels (one module);
- a sequence's rows are views of its device buffer (no copy); a state's history holds the
  device arrays the body returned; rows a body reads on the host (scalars) come from one
  download of the sequence per call;
- the body runs through a :class:`~tensorir.runtime.cuda.graphs.GraphedCall`: the first step of a
  signature runs its steps, the second captures them, every later step (and call with the same
  shapes) replays one graph launch. Where the rule refuses (``until``, a host step in the body,
  a transfer inside it) the steps run one by one, and :attr:`GpuScanStep.reason` says why, as
  the CPU's ``NativeScan.reason`` does (graphs are off unless ``TENSORIR_CUDA_GRAPHS=1``:
  ``graphs.py``). ``until`` reads its condition on the host every step;
- each result is stacked into one device array at the end (a copy per row): a replayed graph
  writes its outputs into the same buffers every step, so each step's outputs are copied out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.control import ScanLayout, checked_scan_inputs, push_step_outputs, scan_label, seq_shift
from tensorir.dialects.tir.transfer import TO_DEVICE, TO_HOST
from tensorir.passes.device_transfer import insert_transfers
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.device_flag import on_device
from tensorir.runtime.cuda.graphs import GraphedCall, capture_refusal, plan_summaries
from tensorir.runtime.step_traits import StepTraits

__all__ = ["GpuScanStep", "scan_host_operands"]


def _value_on_device(t: Any) -> bool:  # noqa: ANN401 - a TensorType
    return on_device(t.dtype, t.ndim)


def scan_host_operands(op: Operation) -> tuple[int, ...]:
    """The operands a GPU scan reads on the host: ``n_steps`` and every operand whose type lives
    on the host (scalars: the body reads those on the host too)."""
    return (0, *(i for i, v in enumerate(op.operands) if i and not _value_on_device(v.type)))


def _place(value: Any, device: bool, memory: Any) -> Any:  # noqa: ANN401
    """``value`` where the body reads it (an upload or a download where it is on the other side)."""
    if device and not isinstance(value, DeviceArray):
        return DeviceArray.from_host(np.ascontiguousarray(value), memory)
    if not device and isinstance(value, DeviceArray):
        return value.get()
    return value


def _rows(x: Any) -> list[Any]:  # noqa: ANN401
    """The rows of ``x`` along its first axis (views of a device array)."""
    if not isinstance(x, DeviceArray):
        return list(np.asarray(x))
    shape = x.shape[1:]
    size = int(np.prod(shape)) if shape else 1
    return [x.view(shape, k * size) for k in range(x.shape[0])]


class GpuScanStep:
    """One ``tir.scan`` on the GPU (module docstring)."""

    #: New device arrays; never recorded (the CPU's recorders replay CPU calls only).
    traits: ClassVar[StepTraits] = StepTraits(fresh_outputs=True)

    def __init__(self, executor: Any, op: Operation) -> None:  # noqa: ANN401 - the parent NativeExecutor
        from tensorir.runtime.cuda.steps import host_operands, runs_on_device
        from tensorir.runtime.native import NativeExecutor

        self.op, self.lay, self.label = op, ScanLayout.of(op), scan_label(op)
        self.gpu = executor.device_context
        block = op.regions[0].block
        if not any(inner.opdef in (TO_DEVICE, TO_HOST) for inner in block.operations):
            insert_transfers(op, runs_on_device, _value_on_device, host_operands)
        self.arg_on_device = [_value_on_device(a.type) for a in block.arguments]
        self.body = NativeExecutor(block, executor.opt_level, cache_dir=executor.cache_dir, native_loops=False,
                                   native_calls=False, parent=executor, device=executor.device)
        kinds = [kind for _, kind in self.body.step_kinds]
        #: Why the body's steps are not replayed as a CUDA graph (None when they are).
        self.reason = capture_refusal(plan_summaries(self.body.ops, kinds), until=self.lay.until)
        nonseq_args = self.lay.split_args(list(range(self.lay.n_args)))[3]
        in_place = [False] * self.lay.n_args
        for k in nonseq_args:  # the same buffers at every step: captured where they are
            in_place[k] = True
        self.run_body = GraphedCall(self.body.run, self.gpu, self.reason, in_place)
        # The body's after-step checks (labels) are the call's: the function's context keeps them.

    @property
    def kind(self) -> str:
        return "gpu" if not self.lay.until else "loop"

    def __call__(self, inputs: list[Any]) -> list[Any]:  # noqa: ANN401
        op, lay, memory = self.op, self.lay, self.gpu.memory
        a = op.attributes
        seqs, inits, nonseqs, n = checked_scan_inputs(op, inputs)
        _i, seq_places, state_places, nonseq_places = lay.split_args(self.arg_on_device)
        windows = lay.windows()
        hist = []
        for x in inits:
            rows = _rows(x)
            hist.append(rows[::-1] if a["reverse"] else rows)
        keep = [op.opdef.keep_of(op, j) for j in range(len(op.results))]
        limits = [max(keep[j], w) if keep[j] else 0 for j, w in enumerate(windows)]
        nits: list[list[Any]] = [[] for _ in range(lay.n_nit)]
        seq_reads: list[tuple[list[Any], int]] = []
        places = iter(seq_places)
        for x, taps in zip(seqs, lay.seq_taps):
            shift = seq_shift(taps)
            host_taps = [not next(places) for _ in taps]
            source = x.get() if any(host_taps) and isinstance(x, DeviceArray) else x
            rows = _rows(source)[: n + taps[-1] + shift] if n else []
            seq_reads.extend((rows, k + shift) for k in taps)
        nonseqs = [_place(v, d, memory) for v, d in zip(nonseqs, nonseq_places)]
        graphed = self.reason is None
        ran = 0
        for i in range(n):
            t = n - 1 - i if a["reverse"] else i
            args: list[Any] = [np.asarray(t, dtype=np.int64)] if lay.with_index else []
            args += [rows[t + offset] for rows, offset in seq_reads]
            states = [h[k] for h, taps in zip(hist, lay.state_taps) for k in taps]
            args += [_place(v, d, memory) for v, d in zip(states, state_places)]
            args += nonseqs
            outs = self.run_body(args)
            if graphed:  # a replayed graph writes the same buffers at every step
                outs = [o.copy() if isinstance(o, DeviceArray) else o for o in outs]
            push_step_outputs(self.label, i, outs, hist, limits, nits, keep[lay.n_state:])
            ran = i + 1
            if lay.until:
                stop = outs[-1]
                if bool(stop.get() if isinstance(stop, DeviceArray) else stop):
                    break
        return [self._stacked(i, r.type, hist[i] if i < lay.n_state else nits[i - lay.n_state], keep[i], ran)
                for i, r in enumerate(op.results)]

    def _stacked(self, i: int, t: Any, rows: Sequence[Any], keep: int, ran: int) -> DeviceArray:  # noqa: ANN401
        """Result ``i``: its rows (the last ``keep``), in step order, as one device array."""
        memory = self.gpu.memory
        if keep:
            if len(rows) < keep:
                raise ValueError(f"{self.label}: result {i} keeps the last {keep} values but only {ran} steps ran")
            rows = rows[-keep:]
        if self.op.attributes["reverse"]:
            rows = rows[::-1]
        if not rows:
            shape = (0, *(d if d is not None else 1 for d in t.shape[1:]))
            return DeviceArray.empty(shape, t.dtype, memory)
        if not all(isinstance(r, DeviceArray) for r in rows):
            host = np.stack([r.get() if isinstance(r, DeviceArray) else np.asarray(r) for r in rows])
            return DeviceArray.from_host(host.astype(t.dtype, copy=False), memory)
        first = rows[0]
        out = DeviceArray.empty((len(rows), *first.shape), t.dtype, memory)
        if first.dtype != out.dtype:
            raise ValueError(f"{self.label}: result {i} is {t.dtype} but its body gave {first.dtype}")
        for k, row in enumerate(rows):
            if row.nbytes:
                memory.copy(out.address + k * row.nbytes, row.address, row.nbytes)
        return out
