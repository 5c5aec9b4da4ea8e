"""Native loops: a ``tir.scan`` whose body is native calls runs its steps in one native call.

The body's plan makes the same native calls at every step; only the rows it reads and writes
move. So the first step runs through the plan as usual with a :class:`Recorder` listening
(``native_kernels.RECORDING``): every kernel, BLAS and copy call is noted with its arguments,
and every array object whose data moves with the step (the row views of sequences and states,
and views made of them) is noted with its per-step byte offset. The other steps then run from
a table in :func:`tensorir.codegen.cpu.lower_replay.replay_runner`: per step it moves those
objects' data pointers to the step's rows, makes the recorded calls, and copies the step's
results into the output buffers.

A body can be replayed when every step with a changing input is recordable (its native work
goes through recorded calls and it computed nothing in Python: ``recordable`` steps report
Python work through ``python_work``). Steps with unchanging inputs ran once and their results
stay valid. Otherwise the scan runs the ordinary Python loop over the plan, and the executor
remembers not to try again (``NativeScan.reason`` says why). While recording, the recorder
(runtime/recording.py) holds every intermediate; a dead buffer is still written over where the
plan allows (runtime/buffer_reuse.py), and the replayed calls write the buffers the first step
wrote.

The row and non-sequence arguments are proxies: array objects of the right layout whose data
pointer is set from outside (they keep no caller array alive). So a later call whose inputs
have the same shapes, strides and dtypes (the signature) replays every step of the kept
recording, step 0 included, after pointing the proxies at its own arrays, unless the
recording computed something from the call's values in Python (``Recorder.not_reusable``).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tensorir.codegen.cpu.lower_replay import STOPPED
from tensorir.dialects.ir import Operation
from tensorir.dialects.tir.control import ScanDef, ScanLayout, checked_scan_inputs, scan_label, seq_shift
from tensorir.runtime.array_pointers import DATA_OFFSET, DataOf, Moving, data_address, proxy_of, set_data
from tensorir.runtime.native_blas import configure_blas_threads
from tensorir.runtime.native_kernels import RECORDING, function_address
from tensorir.runtime.recording import MEMCPY, CallKind, NativeCall, Nested, Recorder, ReplayTable, signature_of

__all__ = ["NativeScan"]



#: Most contiguous pieces of a strided step result copied into its row one by one.
MAX_ROW_PIECES = 256


def _contiguous_runs(a: np.ndarray) -> list[tuple[int, int, int]] | None:
    """``(byte offset in a, byte offset in C order, bytes)`` of the runs of ``a``'s elements that
    lie contiguous in memory, in C order; None beyond :data:`MAX_ROW_PIECES` runs."""
    run, k = a.itemsize, a.ndim
    while k and (a.shape[k - 1] == 1 or a.strides[k - 1] == run):
        run *= a.shape[k - 1]
        k -= 1
    outer = a.shape[:k]
    if int(np.prod(outer)) > MAX_ROW_PIECES:
        return None
    if not a.size:
        return []
    return [(sum(i * step for i, step in zip(index, a.strides)), j * run, run)
            for j, index in enumerate(np.ndindex(*outer))]


class NativeScan:
    """Runs one ``tir.scan`` op with its body replayed natively after a recorded first step.

    ``body()`` gives the body's NativeExecutor, ``runner()`` the address of the replay function.
    :meth:`run` returns the scan's results, or None when this scan cannot run natively (the
    caller then runs the reference loop); after a failed recording it stops trying.
    """

    def __init__(self, op: Operation, body: Callable[[], Any], runner: Callable[[], Callable[..., int]]) -> None:
        self.op = op
        self.layout = ScanLayout.of(op)
        self.body = body
        self.runner = runner
        self.reason: str | None = None
        #: Recordings by call signature (shapes, strides and dtypes of every input, step count).
        self._traces: dict[tuple, _Trace] = {}
        lay = self.layout
        if lay.until:
            cond = op.regions[0].block.terminator.operands[-1].type
            if cond.dtype != "bool":
                self.reason = f"until condition of dtype {cond.dtype}"

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray] | None:
        if self.reason is not None:
            return None
        op, lay = self.op, self.layout
        reverse = bool(op.attributes["reverse"])
        seqs, inits, nonseqs, n = checked_scan_inputs(op, inputs)
        if n < 2:
            return None
        windows = lay.windows()
        dtypes = [np.dtype(r.type.dtype) for r in op.results]
        keeps = [ScanDef.keep_of(op, j) for j in range(lay.n_state)]
        states = _States(inits, windows, keeps, dtypes, n, reverse, _ring_capacity(inits, windows, keeps, n))
        signature = signature_of(n, seqs, inits, nonseqs)
        trace = self._traces.get(signature) if signature is not None else None
        if trace is not None and trace.lock.acquire(blocking=False):
            try:
                return self._replay(trace, seqs, states, nonseqs, n, reverse)
            finally:
                trace.lock.release()
        return self._record(seqs, states, nonseqs, n, reverse, dtypes, signature)

    def _record(self, seqs: list[np.ndarray], states: _States, nonseqs: list[np.ndarray], n: int,
                reverse: bool, dtypes: list[np.dtype], signature: tuple | None) -> list[np.ndarray] | None:
        """Run the first step through the body's plan with a recorder, then the others natively;
        keep the recording for the next call with the same signature when it allows."""
        recorded = self._record_loop(seqs, states, nonseqs, n, reverse, dtypes, signature is not None)
        if recorded is None:
            return None
        trace, plain, ran = recorded
        if trace is not None and signature is not None and trace.recorder.not_reusable is None:
            if len(self._traces) >= _MAX_TRACES:
                self._traces.clear()
            self._traces[signature] = trace
        return self._results(states, plain, ran, reverse)

    def _record_loop(self, seqs: list[np.ndarray], states: _States, nonseqs: list[np.ndarray], n: int,
                     reverse: bool, dtypes: list[np.dtype], proxies: bool
                     ) -> tuple[_Trace | None, list[np.ndarray], int] | None:
        """:meth:`_record`'s loop: (the recording, or None when ``until`` stopped at step 0; the
        plain outputs' stacks; steps run), or None when the body cannot be replayed. With
        ``proxies``, non-sequences are proxies too (a later call may reuse the recording)."""
        op, lay = self.op, self.layout
        t0, dt_step = (n - 1, -1) if reverse else (0, 1)
        #: id -> (array, bytes per step, root, offset from the root's data)
        moving: dict[int, tuple] = {}
        args: list[np.ndarray] = []
        index = None
        if lay.with_index:
            index = np.asarray(t0, dtype=np.int64).copy()
            args.append(index)
        # Rows as proxies (``x[i, ...]``'s layout, not keeping ``x`` alive) that the replay moves.
        for s, (x, taps) in enumerate(zip(seqs, lay.seq_taps)):
            shift = seq_shift(taps)
            for k in taps:
                row = proxy_of(x[t0 + k + shift, ...])
                moving[id(row)] = (row, x.strides[0] * dt_step, ("seq", s), row.ctypes.data - x.ctypes.data)
                args.append(row)
        for j, (buffer, lead, taps) in enumerate(zip(states.buffers, states.leads, lay.state_taps)):
            for k in taps:
                row = proxy_of(buffer[lead + k, ...])
                moving[id(row)] = (row, buffer.strides[0], ("state", j), row.ctypes.data - buffer.ctypes.data)
                args.append(row)
        # Non-sequences through proxies (arrays whose data pointer is set per call), so a later
        # call with other arrays of the same layout can reuse the recording.
        for m, value in enumerate(nonseqs):
            if proxies:
                value = proxy_of(value)
                moving[id(value)] = (value, 0, ("nonseq", m), 0)
            args.append(value)
        changing = {id(a) for a in args[: len(args) - len(nonseqs)]}
        from_call = {id(a) for a in args} - ({id(index)} if index is not None else set())

        recorder = Recorder()
        body = self.body()
        RECORDING.recorder = recorder
        try:
            outs = body.run_recorded(args, recorder, moving, changing, from_call)
        finally:
            RECORDING.recorder = None
        label = scan_label(op)
        plain: list[np.ndarray] = []
        for j, (buffer, lead) in enumerate(zip(states.buffers, states.leads)):
            new = outs[j]
            if new.shape != buffer.shape[1:]:
                raise ValueError(f"{label}: recurrent output {j} changed shape from {buffer.shape[1:]} to "
                                 f"{new.shape} at step 0; its new value must keep the state's shape")
            buffer[lead] = new
        twins: dict[int, int] = {}
        first_of: dict[int, int] = {}
        for m in range(lay.n_nit):
            out = outs[lay.n_state + m]
            twin = first_of.get(id(out))
            if twin is not None and plain[twin].dtype == dtypes[lay.n_state + m]:
                # The step gives one array for both outputs (an identity between them, such as
                # a sum_to to the same shape): in a replay they stay one array, so one stack.
                twins[m] = twin
                plain.append(plain[twin])
                continue
            first_of.setdefault(id(out), m)
            stack = np.empty((n, *np.shape(out)), dtypes[lay.n_state + m])
            stack[t0] = out
            plain.append(stack)
        stopped = lay.until and bool(outs[-1])
        if recorder.reason is not None:
            return self._give_up(recorder.reason)
        if stopped:
            return None, plain, 1
        trace = _Trace(recorder, moving, outs, index, [p.shape for p in plain])
        trace.twins = twins
        trace.homes = _RowHomes.of(recorder, moving, outs, [*states.buffers, *plain])
        try:
            table = self._table(trace, states, plain, t0, dt_step)
        except _NotReplayable as exc:
            return self._give_up(str(exc))
        roots = _roots(seqs, nonseqs)
        ran = self._run_table(table, trace, 1, n, states,
                              lambda: self._table(trace, states, plain, t0, dt_step, roots))
        return trace, plain, ran

    def record_inline(self, inputs: Sequence[np.ndarray], recorder: Recorder
                      ) -> tuple[list[np.ndarray] | None, bool]:
        """Run the scan for a whole call's recording (runtime/native_function.py) and, where its
        loop can run inside the call's replay, add the entries that do so to ``recorder``.

        Returns (results, whether the entries were added); (None, False) when it gave no results
        (the body cannot replay, or the loop does not qualify: the caller runs the step, an
        island). The entries copy the initial values into
        the state buffers, call the runner over a table of all the steps (a ``loop`` entry: the
        call's replay stays one native call) and copy the results' rows out as :meth:`_results`
        does. Everything is made once for the recording: the body's recording (never shared
        with :meth:`run`'s), the state buffers and the stacks; addresses that move between calls
        (the scan's inputs, results handed out) are patched before each replay. Loops that stop
        early (``until``), hold a ring of rows or ran over CHUNK_SECONDS (they need Python
        between chunks for Ctrl-C) stay islands.
        """
        op, lay = self.op, self.layout
        if self.reason is not None or lay.until or any(type(a) is not np.ndarray for a in inputs[1:]):
            return None, False
        seqs, inits, nonseqs, n = checked_scan_inputs(op, inputs)
        windows = lay.windows()
        keeps = [ScanDef.keep_of(op, j) for j in range(lay.n_state)]
        dtypes = [np.dtype(r.type.dtype) for r in op.results]
        if n < 2 or _ring_capacity(inits, windows, keeps, n) is not None:
            return None, False
        if any(x.dtype != dt or not x.flags.c_contiguous for x, dt in zip(inits, dtypes)):
            return None, False
        reverse = bool(op.attributes["reverse"])
        states = _States(inits, windows, keeps, dtypes, n, reverse, None)
        began = time.perf_counter()
        recorded = self._record_loop(seqs, states, nonseqs, n, reverse, dtypes, True)
        if recorded is None:
            return None, False
        trace, plain, ran = recorded
        results = self._results(states, plain, ran, reverse)
        body = trace.recorder if trace is not None else None
        if (body is None or body.not_reusable is not None or ran != n
                or (time.perf_counter() - began) * n / (n - 1) > CHUNK_SECONDS
                or (body.blas_threads and not recorder.blas_thread_count(body.blas_threads))):
            return results, False
        t0, dt_step = (n - 1, -1) if reverse else (0, 1)
        roots: dict[tuple, np.ndarray] = {("seq", s): x for s, x in enumerate(seqs)}
        roots.update({("nonseq", m): v for m, v in enumerate(nonseqs)})
        roots.update({("state", j): b for j, b in enumerate(states.buffers)})
        for obj, _delta, root, offset in trace.moving.values():
            set_data(obj, data_address(roots[root]) + offset)
        table = ReplayTable(trace.moving, roots)
        self._fill(table, trace, states, plain, t0, dt_step)
        loop = Nested(table.array(), table.patches)
        for x, buffer, lead, w in zip(inits, states.buffers, states.leads, windows):
            rb = buffer.strides[0]
            if not reverse:
                recorder.copy_bytes(Moving((lead - w) * rb, 0, buffer), Moving(0, 0, x), w * rb)
            for r in range(w if reverse else 0):
                recorder.copy_bytes(Moving((lead - w + r) * rb, 0, buffer), Moving((w - 1 - r) * rb, 0, x), rb)
        runner = function_address(self.runner())
        recorder.entries.append(NativeCall(CallKind.LOOP, runner, (loop, len(loop.table), 0, n)))
        for out, address in trace.homes.homes:
            recorder.entries.append(NativeCall(CallKind.STORE, 0, (id(out) + DATA_OFFSET, address)))
        copied: set[int] = set()
        for i, result in enumerate(results):
            full = states.buffers[i] if i < lay.n_state else plain[i - lay.n_state]
            if result is full or id(result) in copied:
                continue
            copied.add(id(result))
            stop = states.first(i) + n if i < lay.n_state else n
            k = ScanDef.keep_of(op, i)
            start, rb = (stop - k if k else 0), full.strides[0]
            if i >= lay.n_state and reverse:
                # A reverse loop's plain stack is in the result's order already (see _results).
                recorder.copy_bytes(Moving(0, 0, result), Moving(0, 0, full), (stop - start) * rb)
                continue
            if not reverse:
                recorder.copy_bytes(Moving(0, 0, result), Moving(start * rb, 0, full), (stop - start) * rb)
                continue
            rows = ReplayTable({})
            rows.add(3, MEMCPY, [Moving(0, rb, result), Moving((stop - 1) * rb, -rb, full), rb])
            copies = Nested(rows.array(), rows.patches)
            runner = function_address(self.runner())
            recorder.entries.append(NativeCall(CallKind.LOOP, runner, (copies, 1, 0, stop - start)))
        recorder.checks += body.checks
        recorder.keep.append(_Inline(trace, states, plain, loop))
        return results, True

    def _replay(self, trace: _Trace, seqs: list[np.ndarray], states: _States, nonseqs: list[np.ndarray],
                n: int, reverse: bool) -> list[np.ndarray]:
        """Every step from a recording made by an earlier call with the same signature."""
        lay = self.layout
        plain: list[np.ndarray] = []
        for m, (shape, result) in enumerate(zip(trace.plain_shapes, self.op.results[lay.n_state:])):
            twin = trace.twins.get(m)
            plain.append(plain[twin] if twin is not None else np.empty(shape, np.dtype(result.type.dtype)))
        t0, dt_step = (n - 1, -1) if reverse else (0, 1)
        roots = _roots(seqs, nonseqs)

        def table() -> np.ndarray:
            return self._table(trace, states, plain, t0, dt_step, roots)

        ran = self._run_table(table(), trace, 0, n, states, table)
        return self._results(states, plain, ran, reverse)

    def _table(self, trace: _Trace, states: _States, plain: list[np.ndarray], t0: int, dt_step: int,
               roots: dict[tuple, int] | None = None) -> np.ndarray:
        """The runner's table for the steps from ``states.base`` on. With ``roots`` (the call's
        sequence and non-sequence addresses) every moving object is first pointed at its row of
        global step 0; without, they still are (just recorded)."""
        if roots is not None:
            for obj, _delta, root, offset in trace.moving.values():
                address = states.root(root[1]) if root[0] == "state" else roots[root]
                set_data(obj, address + offset)
        table = ReplayTable(trace.moving)
        self._fill(table, trace, states, plain, t0, dt_step)
        return table.array()

    def _run_table(self, rows: np.ndarray, trace: _Trace, lo: int, hi: int, states: _States,
                   rebuilt: Callable[[], np.ndarray]) -> int:
        """Steps ``lo .. hi-1`` from the table ``rows``; ``rebuilt()`` gives the table again after
        the ring states moved their rows (``states.rebase``)."""
        try:
            return self._run_steps(rows, trace.recorder, lo, hi, states, rebuilt)
        finally:
            trace.homes.restore()

    def _run_steps(self, rows: np.ndarray, recorder: Recorder, lo: int, hi: int, states: _States,
                   rebuilt: Callable[[], np.ndarray]) -> int:
        if recorder.blas_threads:
            # The plan sets BLAS's threads per product; a replay sets them once, as recorded.
            configure_blas_threads(recorder.blas_threads)
        runner = self.runner()
        recorder.reset_checks()
        # Steps run in chunks of about CHUNK_SECONDS, so Python gets control (Ctrl-C, other
        # threads) between chunks of a long loop; the first chunk measures a step.
        chunk, start = FIRST_CHUNK, lo
        while start < hi:
            limit = states.limit()
            if limit is not None and start == limit:
                states.rebase()
                rows = rebuilt()
                limit = states.limit()
            stop = min(hi, start + chunk, limit if limit is not None else hi)
            began = time.perf_counter()
            ran = runner(rows.ctypes.data, len(rows), start, stop)
            if ran < 0:
                raise RuntimeError(f"{scan_label(self.op)}: a BLAS call refused its operands at step {-ran - 1} "
                                   "of a native loop")
            if ran >= STOPPED:  # ``until`` fired
                recorder.raise_failed_checks()
                return ran - STOPPED
            per_step = (time.perf_counter() - began) / (stop - start)
            chunk = max(1, min(1 << 20, int(CHUNK_SECONDS / per_step) if per_step > 0 else 1 << 20))
            start = stop
        recorder.raise_failed_checks()
        return hi

    def _give_up(self, reason: str) -> None:
        self.reason = reason
        return None

    def _fill(self, table: ReplayTable, trace: _Trace, states: _States, plain: list[np.ndarray], t0: int,
              dt_step: int) -> None:
        recorder, outs, index, homes = trace.recorder, trace.outs, trace.index, trace.homes
        for obj in [m[0] for m in table.moving.values()]:
            # Move the object's data pointer to this step's row before any call reads it.
            table.add(CallKind.STORE, 0, [id(obj) + DATA_OFFSET, DataOf(obj)])
        n_state = len(states.buffers)

        def rows(i: int) -> tuple[np.ndarray, int, int]:
            """Result ``i``'s stack, its row at step 0 and its rows per step (a reverse loop's
            plain outputs fill their stacks from the end: in the order of its results)."""
            if i < n_state:
                return states.buffers[i], states.first(i), 1
            return plain[i - n_state], t0, dt_step

        for i in sorted(homes.direct):
            # The calls write this result straight into its row: no copy after the step.
            buffer, first, sign = rows(i)
            row_bytes = buffer.strides[0]
            home = Moving(first * row_bytes, sign * row_bytes, buffer)
            table.add(CallKind.STORE, 0, [id(outs[i]) + DATA_OFFSET, home])
            for view, offset in homes.followers.get(i, ()):
                table.add(CallKind.STORE, 0,
                          [id(view) + DATA_OFFSET, Moving(first * row_bytes + offset, sign * row_bytes, buffer)])
        if index is not None:
            table.add(CallKind.STORE, 0, [DataOf(index), Moving(t0, dt_step)])
        for kind, address, args in recorder.entries:
            table.add(kind, address, args)
        lay = self.layout
        for i in range(n_state + len(plain)):
            if i - n_state not in trace.twins:
                self._store_row(table, outs[i], *rows(i), i in homes.direct)
        if lay.until:
            cond = outs[-1]
            if type(cond) is not np.ndarray or cond.dtype != np.bool_:
                raise _NotReplayable("until condition is not a bool array")
            table.add(CallKind.UNTIL, 0, [DataOf(cond)])

    @staticmethod
    def _store_row(table: ReplayTable, out: Any, buffer: np.ndarray, first: int, sign: int, direct: bool) -> None:
        """Copy a step's result into row ``first + sign * i`` of ``buffer`` at step ``i`` (unless
        the calls write it there: ``direct``)."""
        if type(out) is not np.ndarray or out.dtype != buffer.dtype or (direct and not out.flags.c_contiguous):
            raise _NotReplayable("a step result that is not an array of its dtype")
        if direct:
            return
        row_bytes = buffer.strides[0]
        pieces = _contiguous_runs(out)
        if pieces is None:
            raise _NotReplayable(f"a step result strided in more than {MAX_ROW_PIECES} pieces")
        for source_offset, row_offset, nbytes in pieces:
            # A view's pieces (a column slice of a product: one per row) copied one by one.
            source = Moving(source_offset, 0, out) if source_offset else DataOf(out)
            table.add(3, MEMCPY, [Moving(first * row_bytes + row_offset, sign * row_bytes, buffer), source, nbytes])

    def _results(self, states: _States, plain: list[np.ndarray], ran: int, reverse: bool) -> list[np.ndarray]:
        op, lay = self.op, self.layout
        label = scan_label(op)
        results = []
        #: (stack, keep) -> result: outputs that share a stack (twins) share their result too.
        made_for: dict[tuple[int, int], np.ndarray] = {}
        for i in range(len(op.results)):
            k = ScanDef.keep_of(op, i)
            if i < lay.n_state:
                full = states.buffers[i]
                rows, made = states.rows(i, ran)
                if k and made < k:
                    raise ValueError(f"{label}: result {i} keeps the last {k} values but only {ran} steps ran")
                rows = rows[-k:] if k else rows
                if reverse:
                    rows = rows[::-1]
            else:
                full = plain[i - lay.n_state]
                shared = made_for.get((id(full), k))
                if shared is not None:
                    results.append(shared)
                    continue
                if k and ran < k:
                    raise ValueError(f"{label}: result {i} keeps the last {k} values but only {ran} steps ran")
                # A reverse loop's steps fill the stack from its end, already in the result's order.
                first = len(full) - ran if reverse else 0
                rows = full[first:first + ran]
                if k:
                    rows = rows[:k] if reverse else rows[-k:]
            # A whole stack is the result itself; a part is copied, so the stack can be freed.
            whole = rows.shape == full.shape and (i >= lay.n_state or not reverse)
            results.append(full if whole else np.array(rows))
            made_for[(id(full), k)] = results[-1]
        return results


class _NotReplayable(Exception):
    pass


#: Bytes of a state's whole trajectory above which a state that keeps only its last rows
#: (``reduce``, scan-save-mem) is held in a ring of RING_BYTES of steps instead.
KEPT_STACK_LIMIT = 1 << 26
RING_BYTES = 1 << 24


def _ring_capacity(inits: Sequence[np.ndarray], windows: Sequence[int], keeps: Sequence[int], n: int) -> int | None:
    """Steps per chunk of the ring states when a state that keeps its last rows would store
    more than KEPT_STACK_LIMIT bytes of trajectory; else None (every state stores every row)."""
    row_bytes = [x.nbytes // max(w, 1) for x, w in zip(inits, windows)]
    if not any(k and (w + n) * b > KEPT_STACK_LIMIT for k, w, b in zip(keeps, windows, row_bytes)):
        return None
    widest = max(b for k, b in zip(keeps, row_bytes) if k)
    return max(1, min(n, RING_BYTES // max(widest, 1)))


class _States:
    """The recurrent states' buffers: a state's window, then one row per step.

    With a ``capacity``, a state that keeps only its last ``k`` rows is a ring: ``lead =
    max(w, k)`` rows, then ``capacity`` rows for the steps of the current chunk, which starts
    at step ``base``; between chunks its last ``lead`` rows move to the front (:meth:`rebase`),
    so it never holds more than ``lead + capacity`` rows. Step ``i`` of a state is row
    ``lead + i - base`` (``base`` is 0 for the others).
    """

    def __init__(self, inits: Sequence[np.ndarray], windows: Sequence[int], keeps: Sequence[int],
                 dtypes: Sequence[np.dtype], n: int, reverse: bool, capacity: int | None) -> None:
        self.windows = list(windows)
        self.capacity = capacity
        self.ring = [capacity is not None and k > 0 for k in keeps]
        self.leads = [max(w, k) if ring else w for w, k, ring in zip(windows, keeps, self.ring)]
        self.buffers: list[np.ndarray] = []
        for x, w, lead, ring, dt in zip(inits, windows, self.leads, self.ring, dtypes):
            buffer = np.empty((lead + (capacity if ring else n), *x.shape[1:]), dt)
            buffer[lead - w: lead] = x[::-1] if reverse else x
            self.buffers.append(buffer)
        self.base = 0

    def first(self, j: int) -> int:
        """The row of step 0 (below 0 once a ring has moved on)."""
        return self.leads[j] - (self.base if self.ring[j] else 0)

    def root(self, j: int) -> int:
        """The address that a row's recorded offset (from the buffer's start at base 0) is from."""
        buffer = self.buffers[j]
        return buffer.ctypes.data - (self.base if self.ring[j] else 0) * buffer.strides[0]

    def limit(self) -> int | None:
        """The step the current chunk must end at (None: no ring)."""
        return None if self.capacity is None or not any(self.ring) else self.base + self.capacity

    def rebase(self) -> None:
        """Move each ring's last ``lead`` rows to its front; the next chunk's steps follow them."""
        assert self.capacity is not None
        for buffer, lead, ring in zip(self.buffers, self.leads, self.ring):
            if ring:
                buffer[:lead] = buffer[self.capacity:self.capacity + lead].copy()
        self.base += self.capacity

    def rows(self, j: int, ran: int) -> tuple[np.ndarray, int]:
        """State ``j``'s rows up to step ``ran`` (its last ones, for a ring) and how many rows the
        whole trajectory has (window included)."""
        stop = self.first(j) + ran
        return self.buffers[j][:stop], self.windows[j] + ran


def _roots(seqs: Sequence[np.ndarray], nonseqs: Sequence[np.ndarray]) -> dict[tuple, int]:
    roots = {("seq", s): x.ctypes.data for s, x in enumerate(seqs)}
    roots.update({("nonseq", m): v.ctypes.data for m, v in enumerate(nonseqs)})
    return roots

#: Steps of a native loop's first chunk, and the time a later chunk aims at (see _run_table).
FIRST_CHUNK = 64
CHUNK_SECONDS = 0.1

#: Recordings kept per scan (a loop called with ever new shapes must not grow without bound).
_MAX_TRACES = 8


class _Inline:
    """What a loop inside a whole call's recording keeps alive (see NativeScan.record_inline)."""

    def __init__(self, trace: _Trace, states: _States, plain: list[np.ndarray], loop: Nested) -> None:
        self.trace, self.states, self.plain, self.loop = trace, states, plain, loop


class _RowHomes:
    """The step results a replay writes straight into their rows of the loop's stacks: their
    positions among the outputs (``direct``), the views of them the calls write through
    (``followers``) and every moved array's own buffer (``homes``).

    A replayed step first points such a result's array object, and each view of it, at this
    step's row (at the view's offset), so the calls that compute it write there and no copy
    follows. Between replays (and before the arrays are freed: NumPy frees the pointer an
    owner holds) every one points at its own buffer again (:meth:`restore`; also ``store``
    entries after a loop inside a whole call's replay). A result qualifies when it owns its
    buffer of exactly a row, the recorded calls refer to it and its views only by the array
    objects (no copy reads an address, no other value overlaps it) and it goes to one stack
    (twice is fine when both outputs share the stack, see ``_Trace.twins``).
    """

    def __init__(self, direct: set[int], homes: list[tuple[np.ndarray, int]],
                 followers: dict[int, list[tuple[np.ndarray, int]]] | None = None) -> None:
        self.direct, self.homes = direct, homes
        self.followers = followers or {}

    @classmethod
    def of(cls, recorder: Recorder, moving: dict[int, tuple], outs: Sequence[object],
           stacks: Sequence[np.ndarray]) -> _RowHomes:
        stacks_of: dict[int, set[int]] = {}
        for out, stack in zip(outs, stacks):
            stacks_of.setdefault(id(out), set()).add(id(stack))
        addressed: set[int] = set()
        raw: list[int] = []
        for _kind, _address, args in recorder.entries:
            for a in args:
                if type(a) is DataOf:
                    addressed.add(id(a.array))
                elif type(a) is Moving:
                    addressed.add(id(a.anchor))
                elif type(a) is int:
                    raw.append(a)
        others = {id(v): v for v in recorder.values.values() if type(v) is np.ndarray}
        others.update((id(v), v) for kept in recorder.keep if type(kept) is tuple for v in kept
                      if type(v) is np.ndarray)
        direct: set[int] = set()
        homes: list[tuple[np.ndarray, int]] = []
        followers: dict[int, list[tuple[np.ndarray, int]]] = {}
        seen: set[int] = set()
        for i, (out, stack) in enumerate(zip(outs, stacks)):
            if (type(out) is not np.ndarray or id(out) in seen or out.base is not None or not out.flags.c_contiguous
                    or out.dtype != stack.dtype or out.nbytes != stack.strides[0] or out.nbytes == 0
                    or len(stacks_of[id(out)]) > 1 or id(out) in moving or id(out) not in recorder.written
                    or id(out) in addressed):
                continue
            seen.add(id(out))
            start = out.ctypes.data
            if any(start <= w < start + out.nbytes for w in raw):
                continue  # a call got its data address (a region of it): that would not move
            views = [v for v in others.values() if v is not out and np.may_share_memory(v, out)]
            if any(v.base is not out or id(v) in moving or id(v) in addressed for v in views):
                continue  # another array overlaps it, or a view's address is read as a number
            direct.add(i)
            homes.append((out, start))
            followers[i] = [(v, v.ctypes.data - start) for v in views]
            homes += [(v, v.ctypes.data) for v in views]
        return cls(direct, homes, followers)

    def restore(self) -> None:
        for out, address in self.homes:
            set_data(out, address)

    def __del__(self, _pointer: Callable[[int], Any] = ctypes.c_void_p.from_address,
                _offset: int = DATA_OFFSET) -> None:
        # Bound as defaults: at interpreter exit this module's globals may be gone already.
        for out, address in self.homes:
            _pointer(id(out) + _offset).value = address


class _Trace:
    """A recorded step that later calls with the same signature replay from step 0: the
    recorder (its calls and the intermediates they write), the moving objects with their roots,
    the step's results, the index argument and the shapes of the plain outputs' stacks. One
    call at a time uses it (``lock``): its intermediates are shared."""

    def __init__(self, recorder: Recorder, moving: dict[int, tuple], outs: list, index: np.ndarray | None,
                 plain_shapes: list[tuple[int, ...]]) -> None:
        self.recorder, self.moving, self.outs, self.index = recorder, moving, outs, index
        self.plain_shapes = plain_shapes
        self.lock = threading.Lock()
        self.homes = _RowHomes(set(), [])
        #: plain output -> the earlier plain output whose stack it shares (the step gives both
        #: the same array).
        self.twins: dict[int, int] = {}


