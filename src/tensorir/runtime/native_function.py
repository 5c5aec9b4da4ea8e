"""One native call per function call: the plan's native calls, recorded once per argument
signature, replayed by the loop runner as a single step.

A plan makes the same native calls on every call whose arguments have the same dtypes, shapes
and strides; only the arguments' data moves. So when a signature comes back
(:data:`RECORD_AFTER` calls), the plan runs once with a :class:`~.recording.Recorder`
listening and the arguments replaced by proxies (array objects whose data pointer is set per
call); later calls with that signature point the proxies at their arrays and make one call of
:func:`tensorir.codegen.cpu.lower_replay.replay_runner` over the recorded table, instead of a
Python round per step.

A scan whose body replays records itself into the call's table (``NativeScan.record_inline``):
copies of its initial values into state buffers made for the recording, a ``loop`` entry (the
runner calling itself over the loop's own table of every step) and copies of its results, so
the loop runs inside the call's one native call. The addresses in its table that move between
calls (the scan's inputs, results handed out) are patched before each replay. A scan whose
step count comes from the call's values, that stops early (``until``), keeps a ring of rows or
runs longer than a native loop's chunk stays an island.

A step that computes from the call's values in Python (such a scan, a conv step's per-thread
products, advanced indexing, a random draw) is an island: the replay runs it in Python between
native stretches, on the recorded inputs (which hold this call's values by then), and swaps or
copies its results into the recorded arrays that the native calls after it read; a result of
another layout than recorded (a data-dependent shape) sends the call back to the plan. Unlike a
loop's, a call's recording keeps the threads: a kernel big enough to split runs on the thread
pool between native stretches, and BLAS's thread count is set by recorded calls before the
products that want another count. ``FunctionReplay.reason`` says why a function does not replay.

The recorded intermediates stay alive between calls (their addresses are in the table), as
PyTensor's VM keeps its storage with ``allow_gc=False``; a recording whose intermediates pass
:data:`TRACE_BYTES_LIMIT` is not kept. A result is handed out without a copy: the recorded
array and a new one of its layout swap data buffers (both own buffers NumPy allocated with the
same size), so the caller gets the computed values and the next replay writes the new buffer.
Results that other recorded arrays view, arguments and values computed once are copied.

A replay that fails (a BLAS kernel refusing its operands, a class label out of range) changed
only the recorded intermediates, so the call runs again on the plan, which raises the error
with the op and the user's line; no shared variable has changed by then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from tensorir.runtime.array_pointers import data_address, pointer_slot, proxy_of, set_data, swap_out
from tensorir.runtime.native_blas import note_blas_threads
from tensorir.runtime.native_kernels import RECORDING
from tensorir.runtime.recording import CallKind, IslandCall, NativeCall, PoolCall, Recorder, ReplayTable, signature_of
from tensorir.runtime.step_traits import traits_of

__all__ = ["FunctionReplay", "RECORD_AFTER", "TRACE_BYTES_LIMIT", "replay_reason"]

#: Calls with one signature before the next records it: a function called once (or with ever
#: new shapes) never pays for a recording.
RECORD_AFTER = 2
#: Bytes of recorded intermediates (they stay allocated) above which a recording is not kept; a
#: function's recordings together stay under it too.
TRACE_BYTES_LIMIT = 1 << 28
#: Recordings kept per function, and signatures counted before the count starts over.
_MAX_TRACES = 8
_MAX_SEEN = 64
#: Plans with fewer steps run as they are: a replay's fixed cost (about 3 us) buys nothing there.
MIN_STEPS = 3
#: Results smaller than this are handed out as copies: swapping buffers (a new array and four
#: pointer writes) costs more than copying a few kilobytes.
SWAP_MIN_BYTES = 1 << 14



def replay_reason(steps: int, recorder: Recorder | None = None, held: int = 0, trace: _Trace | None = None
                  ) -> str | None:
    """Why a function's calls cannot be replayed from a recording, or None: every reason in one
    place. Before any recording only the plan's size is known (``steps``); after one, what the
    ``recorder`` saw (the first Python work, or a value of the call read in Python), the bytes of
    intermediates it would keep alive (``held``), and how the recorded ``trace`` splits into
    parts. The recorder's reasons come from the steps themselves (``python_work``)."""
    if steps < MIN_STEPS:
        return f"a plan of fewer than {MIN_STEPS} steps"
    if recorder is None:
        return None
    if recorder.reason is not None or recorder.not_reusable is not None:
        return recorder.reason or recorder.not_reusable
    if held > TRACE_BYTES_LIMIT:
        return f"{held / 2**20:.1f} MB of intermediates (limit {TRACE_BYTES_LIMIT / 2**20:.1f} MB)"
    if trace is not None and any(isinstance(part, _Island) for part in trace.commit_parts):
        return "an update of a shared variable is computed in Python"
    return None


class FunctionReplay:
    """Replays the plan of ``executor`` (a top-level NativeExecutor) natively, per signature."""

    def __init__(self, executor, runner: Callable[[], Callable[..., int]]) -> None:  # noqa: ANN001
        self.executor = executor
        self.runner = runner
        #: Why calls of this function are not replayed (None: they are, or may be).
        self.reason: str | None = replay_reason(len(executor.steps))
        self._seen: dict[tuple, int] = {}
        self._traces: dict[tuple, _Trace] = {}
        #: Calls answered by a replay (for tests and reports).
        self.replayed = 0

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray] | None:
        """The results of a call by replay (recording first when due), or None to run the plan."""
        if self.reason is not None:
            return None
        signature = signature_of(0, args)
        if signature is None:
            return None
        trace = self._traces.get(signature)
        if trace is not None:
            if not trace.lock.acquire(blocking=False):
                return None  # another thread is replaying it: this call takes the plan
            try:
                results = trace.replay(args, self.runner())
            finally:
                trace.lock.release()
            if results is not None:
                self.replayed += 1
            return results
        seen = self._seen.get(signature, 0) + 1
        if seen < RECORD_AFTER:
            if len(self._seen) >= _MAX_SEEN:
                self._seen.clear()
            self._seen[signature] = seen
            return None
        self._seen.pop(signature, None)
        try:
            return self._record(args, signature)
        except Exception:  # noqa: BLE001 - bad values of this call: the plan raises it with its op and line
            return None

    def _record(self, args: Sequence[np.ndarray], signature: tuple) -> list[np.ndarray]:
        # Donated arguments are recorded on scratch copies: the recording writes their new values
        # there, so the caller's arrays are untouched until the recording has succeeded.
        donate = frozenset(d.arg for d in self.executor.donations if _donatable(args[d.arg]))
        given = [np.array(a, order="C") if k in donate else a for k, a in enumerate(args)]
        proxies = [proxy_of(a, writeable=k in donate) for k, a in enumerate(given)]
        moving = {id(p): (p, 0, ("arg", k), 0) for k, p in enumerate(proxies)}
        ids = {id(p) for p in proxies}
        recorder = Recorder()
        recorder.pool_calls = True
        RECORDING.recorder = recorder
        try:
            outs = self.executor.run_recorded(proxies, recorder, moving, ids, ids, donate)
        finally:
            RECORDING.recorder = None
        recorder.raise_failed_checks()
        held = sum(v.nbytes for v in recorder.values.values() if type(v) is np.ndarray)
        reason = replay_reason(len(self.executor.steps), recorder, held)
        trace = None
        if reason is None:
            trace = _Trace(recorder, moving, proxies, outs, donate)
            reason = replay_reason(len(self.executor.steps), recorder, held, trace)
        if reason is not None:
            self.reason = reason
            # Results that are (views of) proxies must not outlive this call's arguments.
            # Donated ones hold their new values in this call's scratch copies.
            donated = {id(proxies[k]): given[k] for k in donate}
            return [donated.get(id(o)) if id(o) in donated else np.array(o) if id(o) in moving else o for o in outs]
        trace.held = held
        # All recordings of the function together stay under the limit (and their number).
        if len(self._traces) >= _MAX_TRACES or held + sum(t.held for t in self._traces.values()) > TRACE_BYTES_LIMIT:
            self._traces.clear()
        self._traces[signature] = trace
        return trace.hand_out(given)


class _Stretch:
    """Recorded entries between two pool calls: one runner table, and the table words that hold
    an array's data address, set before each replay (a proxy's, or a result's whose buffer was
    handed out); a loop nested in the stretch has its own table's words set too."""

    def __init__(self, moving: dict[int, tuple], entries: Sequence[NativeCall]) -> None:
        table = ReplayTable(moving, patch_data=True)
        #: The BLAS thread count the stretch leaves set (None: it sets none).
        self.threads: int | None = None
        for kind, address, call_args in entries:
            table.add(kind, address, call_args)
            if kind == CallKind.THREADS:
                self.threads = int(call_args[0])
        self.table = table.array()
        # The table never moves: its address is read once (``ctypes.data`` costs microseconds).
        self.address, self.rows = self.table.ctypes.data, len(self.table)
        self.patches = table.patches
        self.nested = table.nested

    def run(self, runner: Callable[..., int]) -> bool:
        self.patches.apply(self.table)
        for nested in self.nested:
            nested.patches.apply(nested.table)
        return runner(self.address, self.rows, 0, 1) == 1


class _Island:
    """A step run in Python during a replay (a scan, a reference op, ...): it computes this
    call's values from the recorded inputs, which hold this call's values by then, and its
    results go into the recorded result arrays that later native calls read: written there by
    the step itself where it can (``fills_results``), else a buffer swap where both own buffers
    of one layout and nothing views the recorded one, else a copy (values whose data pointer the
    replay moves need neither)."""

    def __init__(self, step: Callable[[list], list], inputs: tuple, results: tuple, moving: dict[int, tuple],
                 viewed: set[int]) -> None:
        self.step, self.inputs, self.results = step, list(inputs), results
        self.modes = []
        for r in results:
            if id(r) in moving or type(r) is not np.ndarray:
                mode = "moves" if id(r) in moving else "keep"
            elif r.base is None and r.flags.owndata and r.flags.c_contiguous and id(r) not in viewed:
                mode = "swap"
            else:
                mode = "copy"
            self.modes.append(mode)
        # A step that can write into given arrays gets the recorded results: no fresh pages at
        # the first replay and no buffer swap at the next ones.
        self.fill = traits_of(step).fills_results and all(m in ("swap", "copy") for m in self.modes)

    def run(self) -> bool:
        """Run the step; False when it failed or gave values of another layout than recorded."""
        try:
            new = self.step(list(self.inputs), results=self.results) if self.fill else self.step(list(self.inputs))
        except Exception:  # noqa: BLE001 - the plan reruns the call and raises it with its op
            return False
        if len(new) != len(self.results):
            return False
        for old, value, mode in zip(self.results, new, self.modes):
            if mode == "moves" or value is old:
                continue
            if mode == "keep":
                if not (type(value) is type(old) and np.array_equal(value, old)):
                    return False
                continue
            if type(value) is not np.ndarray or value.shape != old.shape or value.dtype != old.dtype:
                return False
            if (mode == "swap" and value.base is None and value.flags.owndata and value.strides == old.strides
                    and not any(value is x for x in self.inputs)):
                a, b = data_address(old), data_address(value)
                set_data(old, b)
                set_data(value, a)
            else:
                np.copyto(old, value)
        return True


class _Trace:
    """A recorded call: its stretches and pool calls, proxies, results and how each result is
    handed out. ``donate``: arguments whose update is written into them (runtime/donation.py),
    by the commit parts, which run once the call can no longer fail."""

    def __init__(self, recorder: Recorder, moving: dict[int, tuple], proxies: list[np.ndarray],
                 outs: list[np.ndarray], donate: frozenset[int] = frozenset()) -> None:
        self.recorder, self.moving, self.proxies, self.outs = recorder, moving, proxies, outs
        self.lock = threading.Lock()
        #: Bytes of the intermediates it keeps allocated.
        self.held = 0
        self.donate = sorted(donate)
        #: id of a donated argument's proxy -> the argument's position (its update is written there).
        self.donated = {id(proxies[k]): k for k in donate}
        viewed = self._viewed()
        mark = recorder.commit_mark if donate and recorder.commit_mark is not None else len(recorder.entries)
        #: _Stretch objects, _Island objects and pool calls, in recorded order, before the commit
        #: tail and in it.
        self.parts = self._parts(recorder.entries[:mark], viewed)
        self.commit_parts = self._parts(recorder.entries[mark:], viewed)
        self.swappable = self._swappable()
        #: Per moving object (a proxy, or a view a step made of one): its data-pointer field, the
        #: argument it follows and its byte offset there, set before each replay.
        self.moves = [(pointer_slot(obj), root[1], offset) for obj, _step, root, offset in moving.values()]
        self.handing = self._handing()

    def _parts(self, entries: Sequence[NativeCall | PoolCall | IslandCall], viewed: set[int]) -> list[object]:
        parts: list[object] = []
        pending: list[NativeCall] = []
        for entry in entries:
            if type(entry) is NativeCall:
                pending.append(entry)
                continue
            if pending:
                parts.append(_Stretch(self.moving, pending))
                pending = []
            if type(entry) is PoolCall:
                parts.append(entry)
            else:
                parts.append(_Island(entry.step, entry.inputs, entry.results, self.moving, viewed))
        if pending:
            parts.append(_Stretch(self.moving, pending))
        return parts

    def _viewed(self) -> set[int]:
        """Ids of the recorded arrays that other recorded arrays view (their buffer must stay)."""
        recorder = self.recorder
        viewed = {id(v.base) for v in recorder.values.values() if type(v) is np.ndarray and v.base is not None}
        viewed.update(recorder.extra)
        return viewed

    def _swappable(self) -> list[bool]:
        """Per result: whether its buffer can be handed out (see the module docstring)."""
        recorder = self.recorder
        viewed = self._viewed()
        pinned = {id(v) for kept in recorder.keep if isinstance(kept, tuple) for v in kept}
        seen: set[int] = set()
        out = []
        for o in self.outs:
            ok = (type(o) is np.ndarray and o.nbytes >= SWAP_MIN_BYTES and id(o) in recorder.values
                  and id(o) not in self.moving
                  and id(o) not in viewed and id(o) not in pinned and id(o) not in seen
                  and o.base is None and o.flags.c_contiguous and o.flags.writeable
                  and bool(o.flags.owndata))
            seen.add(id(o))
            out.append(ok)
        return out

    def replay(self, args: Sequence[np.ndarray], runner: Callable[..., int]) -> list[np.ndarray] | None:
        addresses = [data_address(a) for a in args]
        if self.donate and not _donations_safe(args, addresses, self.donate):
            return None
        # The proxies and the views the steps made of them: each at its offset in its argument.
        for slot, arg, offset in self.moves:
            slot.value = addresses[arg] + offset
        recorder = self.recorder
        recorder.reset_checks()
        if not self._run(self.parts, runner):
            return None
        for status, _ in recorder.checks:
            if status[0] >= 0:
                return None  # the plan raises the error with its op and line
        # Nothing fails from here on (the shapes are the recording's): the updates are written.
        self._run(self.commit_parts, runner)
        if recorder.threads_now is not None:
            note_blas_threads(recorder.threads_now)
        return self.hand_out(args)

    def _run(self, parts: Sequence[object], runner: Callable[..., int]) -> bool:
        for part in parts:
            if isinstance(part, _Stretch):
                if not part.run(runner):
                    return False  # a BLAS call refused its operands: the plan copies them
                if part.threads is not None:
                    # Islands after it set BLAS's count from Python: tell them what it is now.
                    note_blas_threads(part.threads)
            elif isinstance(part, _Island):
                if not part.run():
                    return False  # an error or a new shape: the plan reruns the call
            else:
                part.run()  # a PoolCall
        return True

    def hand_out(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The results for the caller: donated arguments (holding their updates), buffers swapped
        out of the recording, or copies; a result returned twice is the same array twice."""
        results: list[np.ndarray] = []
        for how, what in self.handing:
            if how is _ARGUMENT:
                results.append(args[what])
            elif how is _SWAP:
                results.append(swap_out(what))
            elif how is _COPY:
                results.append(np.array(what))
            else:  # _AGAIN: an earlier result
                results.append(results[what])
        return results

    def _handing(self) -> list[tuple[object, object]]:
        """How each result is handed out (see :meth:`hand_out`), decided once per recording."""
        handing: list[tuple[object, object]] = []
        first: dict[int, int] = {}
        for j, (o, swap) in enumerate(zip(self.outs, self.swappable)):
            if id(o) in first:
                handing.append((_AGAIN, first[id(o)]))
                continue
            first[id(o)] = j
            k = self.donated.get(id(o))
            handing.append((_ARGUMENT, k) if k is not None else (_SWAP, o) if swap else (_COPY, o))
        return handing


#: How a result is handed out (``_Trace.hand_out``).
_ARGUMENT, _SWAP, _COPY, _AGAIN = object(), object(), object(), object()


def _donations_safe(args: Sequence[np.ndarray], addresses: Sequence[int], donate: Sequence[int]) -> bool:
    """Whether every donated argument may take its update: writable, and overlapping no other
    argument (a user's view of the shared value passed as an input); otherwise the plan runs and
    writes new buffers. Byte ranges of C-contiguous arguments are compared directly
    (``np.may_share_memory`` costs about a microsecond a pair, and a training step has many)."""
    spans = [(address, address + a.nbytes) if a.flags.c_contiguous else None for a, address in zip(args, addresses)]
    for k in donate:
        a = args[k]
        if not a.flags.writeable:
            return False
        mine = spans[k]
        for j, other in enumerate(spans):
            if j == k:
                continue
            if mine is None or other is None:
                if np.may_share_memory(a, args[j]):
                    return False
            elif mine[0] < other[1] and other[0] < mine[1]:
                return False
    return True


def _donatable(a: object) -> bool:
    """Whether an argument's buffer can take its update (the kernels write C order)."""
    return (type(a) is np.ndarray and a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
            and a.dtype.isnative)
