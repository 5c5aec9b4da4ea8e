"""Recording a plan's native calls, and the table a replay runs.

Capture, then plan: while a loop's first step or a whole call runs with a :class:`Recorder`
listening (``native_kernels.RECORDING``), every native call a step makes is appended to
``Recorder.entries`` as plain data:

- :class:`NativeCall`: a call the native runner (codegen/cpu/lower_replay.py) makes from its
  table: a range kernel or ``memcpy`` (``kind`` is its argument count), a BLAS call kernel, a
  thread-count setter, a nested loop, a split with the loop helper, a pointer store
  (:class:`CallKind`);
- :class:`PoolCall`: a kernel big enough for the thread pool, run between native stretches
  (whole calls only);
- :class:`IslandCall`: a step that computes in Python, run between native stretches on the
  recorded arrays (whole calls only).

:class:`ReplayTable` turns native calls into the runner's int64 table; the users of a
recording (runtime/native_loop.py for loops, runtime/native_function.py for whole calls) plan
from the entries and replay the tables. Array pointers and the words patched before each run
are runtime/array_pointers.py's.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np

from tensorir.codegen.cpu.loop_helper import SPLIT_KERNEL_ARGS
from tensorir.codegen.cpu.lower_replay import ENTRY_WORDS, KINDS, MAX_ARGS
from tensorir.runtime.array_pointers import DataOf, Moving, Patches, data_address
from tensorir.runtime.blas import blas_thread_setter
from tensorir.runtime.core_share import CAP
from tensorir.runtime.loop_helper import LOOP_SPIN_POLLS, SPIN_POLLS
from tensorir.runtime.native_kernels import function_address

__all__ = ["CallKind", "IslandCall", "NativeCall", "Nested", "PoolCall", "Recorder", "ReplayTable", "signature_of"]

_LIBC = ctypes.CDLL(None)
MEMCPY = function_address(_LIBC.memcpy)
MEMSET = function_address(_LIBC.memset)

#: The runner's named call kinds (a range kernel's kind is its argument count instead).
CallKind = IntEnum("CallKind", {name.upper(): value for name, value in KINDS.items()})


class NativeCall(NamedTuple):
    """One call of the runner's table: ``kind`` (an argument count, or a :class:`CallKind`),
    the function's address and its arguments (ints, or :class:`DataOf`, :class:`Moving`,
    :class:`Nested` for addresses that move)."""

    kind: int
    address: int
    args: tuple[Any, ...]


@dataclass(frozen=True)
class PoolCall:
    """``fn(start, end, *args)`` over ``[0, n)`` on the thread pool, in Python between stretches."""

    pool: Any
    fn: Callable[..., object]
    n: int
    args: tuple[int, ...]

    def run(self) -> None:
        self.pool.run(self.fn, self.n, self.args)


@dataclass(frozen=True)
class IslandCall:
    """A step run in Python during a whole call's replay: new values of ``results`` from the
    current values of ``inputs`` (runtime/native_function.py)."""

    step: Callable[[list], list]
    inputs: tuple[Any, ...]
    results: tuple[Any, ...]


Entry = NativeCall | PoolCall | IslandCall


class Nested:
    """A ``loop`` entry's table argument: a runner table run from inside another one, with the
    patches to apply before the outer table runs."""

    __slots__ = ("patches", "table")

    def __init__(self, table: np.ndarray, patches: Patches) -> None:
        self.table, self.patches = table, patches


class Recorder:
    """The native calls of one recorded loop step (see the module docstring)."""

    def __init__(self) -> None:
        #: (kind, function address, arguments: ints or DataOf)
        self.entries: list[Entry] = []
        #: Objects the recorded calls refer to; ``values`` holds each step value once.
        self.keep: list[object] = []
        self.values: dict[int, object] = {}
        #: ids of values no later step may write over (:meth:`pin`).
        self.pinned: set[int] = set()
        #: id -> how many views kept for earlier calls have that array as their base.
        self.extra: dict[int, int] = {}
        #: Why the step cannot be replayed (the first reason), or None.
        self.reason: str | None = None
        #: Why a later call cannot reuse the recording, or None.
        self.not_reusable: str | None = None
        #: id -> (array, ...) of the arrays whose data moves (runtime/native.py ``run_recorded``).
        self.moving: dict[int, tuple] = {}
        #: The BLAS thread count the step's products asked for (0: no product).
        self.blas_threads = 0
        #: Whether big kernels may be recorded as calls on the thread pool (``POOL`` entries,
        #: for a whole call's replay) and BLAS thread counts as ``threads`` entries; a loop's
        #: replay runs on one thread and sets BLAS's threads once (``blas_threads``).
        self.pool_calls = False
        #: The BLAS thread count the recorded entries leave behind (None: none recorded).
        self.threads_now: int | None = None
        #: (status array, classes) of the kernels that check class labels (see lower_nn): set
        #: to -1 before a replay, a row index after it when a label was out of range.
        self.checks: list[tuple[np.ndarray, int]] = []
        #: Index of the first entry of the commit tail (updates written into shared variables'
        #: buffers, runtime/donation.py), or None: a replay checks labels before running it.
        self.commit_mark: int | None = None
        #: ids of the step results that recorded calls write (see :meth:`note_written`).
        self.written: set[int] = set()

    def note_written(self, results: Sequence[object], mark: int) -> None:
        """Note the ``results`` of a step that the entries from ``mark`` on refer to: a replay
        writes them at every step (a result no call refers to keeps its recorded value)."""
        referred: set[int] = set()
        for entry in self.entries[mark:]:
            if type(entry) is not NativeCall:
                continue
            for a in entry.args:
                if type(a) is int:
                    referred.add(a)
                elif type(a) is DataOf:
                    referred.add(id(a.array))
                elif type(a) is Moving:
                    referred.add(id(a.anchor))
        self.written.update(id(r) for r in results if id(r) in referred)

    def hold(self, values: Sequence[object]) -> None:
        """Keep the values of a step alive, one reference each however often they recur."""
        for v in values:
            self.values.setdefault(id(v), v)

    def own(self, objects: Sequence[object]) -> None:
        """Keep objects made for one call (a region view) alive for the replay."""
        self.keep.append(tuple(objects))
        for o in objects:
            base = getattr(o, "base", None)
            if base is not None:
                self.extra[id(base)] = self.extra.get(id(base), 0) + 1
                if id(o) not in self.moving and any(np.may_share_memory(o, m[0]) for m in self.moving.values()):
                    # Its data pointer was fixed when the step made it: a replay would not follow
                    # the value it views to the next row or the next call's argument.
                    self.invalidate("a step made a view of a value that moves")

    def pin(self, values: Sequence[object]) -> None:
        """Keep ``values`` alive and unchanged: they were computed once, in Python or by a copy
        the replay repeats, so a later step must never write over them (the plan's reuse
        decisions are filtered through :attr:`pinned` while recording)."""
        values = tuple(values)
        self.keep.append(values)
        self.pinned.update(id(v) for v in values)

    def pool_call(self, pool: object, fn: Callable[..., object], n: int, args: Sequence[int]) -> None:
        """A range kernel over ``[0, n)`` that the replay runs on ``pool`` (a :class:`PoolCall`)."""
        self.keep.append(fn)
        self.entries.append(PoolCall(pool, fn, n, tuple(int(a) for a in args)))

    def island(self, step: Callable[[list], list], inputs: Sequence[object], results: Sequence[object]) -> None:
        """A step a whole call's replay runs in Python (an :class:`IslandCall`): it computes new
        values of ``results`` from the current values of ``inputs`` (runtime/native_function.py).
        It may set BLAS's thread count itself (a conv step's per-thread products want one), so
        the next product records its count again."""
        self.entries.append(IslandCall(step, tuple(inputs), tuple(results)))
        self.threads_now = None

    def blas_thread_count(self, want: int) -> bool:
        """Record setting BLAS's thread count before the next product; False when it cannot."""
        if want == self.threads_now:
            return True
        setter = blas_thread_setter()
        if setter is None:
            return False
        self.keep.append(setter)
        self.entries.append(NativeCall(CallKind.THREADS, function_address(setter), (want, CAP.ctypes.data)))
        self.threads_now = want
        return True

    def check(self, status: np.ndarray, classes: int) -> None:
        """A kernel's status word that a replay must reset before and read after it."""
        self.keep.append(status)
        self.checks.append((status, classes))

    def reset_checks(self) -> None:
        for status, _ in self.checks:
            status[0] = -1

    def raise_failed_checks(self) -> None:
        """A ValueError when a replayed kernel met a class label out of range."""
        for status, classes in self.checks:
            if status[0] >= 0:
                raise ValueError(f"class label out of range [0, {classes}) in row {int(status[0])}")

    def invalidate(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def call(self, fn: Callable[..., object], args: Sequence[int]) -> None:
        """A range kernel ``void fn(i64, ...)``."""
        if len(args) > MAX_ARGS:
            self.invalidate(f"a kernel with {len(args)} arguments")
            return
        self.entries.append(NativeCall(len(args), function_address(fn), tuple(int(a) for a in args)))

    def split(self, fn: Callable[..., object], n: int, args: Sequence[int], state: int, once: bool = False,
              mid: int | None = None) -> None:
        """A range kernel over ``[0, n)`` split with the loop helper (state at ``state``): this
        thread runs ``[0, mid)`` (default: the larger half), the helper the rest; with ``once``,
        run at the first step of each replay only (codegen/cpu/loop_helper.py)."""
        if len(args) > SPLIT_KERNEL_ARGS:
            raise ValueError(f"a split kernel takes at most {SPLIT_KERNEL_ARGS} arguments, not {len(args)}")
        kind = CallKind.SPLIT_ONCE if once else CallKind.SPLIT
        mid = (n + 1) // 2 if mid is None else mid
        words = [int(a) for a in args] + [0] * (SPLIT_KERNEL_ARGS - len(args))
        # In a loop the next split comes within the step; after a whole call's, OpenBLAS's
        # worker may want the core (runtime/loop_helper.py).
        spin = SPIN_POLLS if self.pool_calls else LOOP_SPIN_POLLS
        self.entries.append(NativeCall(kind, function_address(fn), (int(state), int(n), int(mid), *words, spin)))

    def blas(self, kind: str, address: int, ints: Sequence[int], floats: Sequence[float]) -> None:
        """A BLAS call kernel (runtime/native_blas.py); floats travel as their bit patterns."""
        bits = tuple(struct.unpack("<q", struct.pack("<d", float(f)))[0] for f in floats)
        self.entries.append(NativeCall(CallKind[kind.upper()], address, tuple(int(i) for i in ints) + bits))

    def copy_bytes(self, dst: Moving, src: Moving | DataOf, nbytes: int) -> None:
        """A byte copy to an anchored address (see :class:`Moving`); the caller keeps the arrays
        alive (they are recorded values)."""
        self.entries.append(NativeCall(3, MEMCPY, (dst, src, nbytes)))

    def zero_bytes(self, dst: Moving, nbytes: int) -> None:
        """Zero ``nbytes`` at an anchored address (a recorded value)."""
        self.entries.append(NativeCall(3, MEMSET, (dst, 0, nbytes)))

    def copy(self, dst: np.ndarray, src: np.ndarray) -> None:
        """``dst[...] = src`` for C-contiguous arrays of one shape and dtype (a byte copy)."""
        # Kept alive and never written over by a later step (see :meth:`pin`).
        self.keep += [dst, src]
        self.pinned.update((id(dst), id(src)))
        self.entries.append(NativeCall(3, MEMCPY, (DataOf(dst), DataOf(src), dst.nbytes)))


class ReplayTable:
    """Entries as the runner's int64 table: each argument a (base, step) pair.

    ``patches`` collects the words to write again before each run (see :class:`Patches`): every
    data address when ``patch_data`` (a whole call's stretch, whose arrays may all move), the
    moving objects' rows when ``roots`` (root key -> the array a moving object's offset is from:
    a loop nested in a call's replay), and every anchored :class:`Moving`.
    """

    def __init__(self, moving: dict[int, tuple], roots: dict[tuple, np.ndarray] | None = None,
                 patch_data: bool = False) -> None:
        self.words = ENTRY_WORDS
        self.moving = moving
        self.roots = roots
        self.patch_data = patch_data
        self.rows: list[list[int]] = []
        self.patches = Patches()
        #: Nested tables among the arguments (their patches apply with this table's).
        self.nested: list[Nested] = []

    def data(self, array: np.ndarray) -> tuple[int, int]:
        """(address at step 0, bytes per step) of an array's data."""
        entry = self.moving.get(id(array))
        return array.ctypes.data, entry[1] if entry is not None else 0

    def add(self, kind: int, address: int, args: Sequence[Any]) -> None:
        row = [kind, address]
        here = len(self.rows)
        for a in args:
            if isinstance(a, DataOf):
                entry = self.moving.get(id(a.array))
                if self.patch_data:
                    self.patches.add(here, len(row), a.array, 0)
                elif entry is not None and self.roots is not None:
                    self.patches.add(here, len(row), self.roots[entry[2]], entry[3])
                row += list(self.data(a.array))
            elif isinstance(a, Moving):
                if a.anchor is not None:
                    self.patches.add(here, len(row), a.anchor, a.base)
                    row += [data_address(a.anchor) + a.base, a.step]
                else:
                    row += [a.base, a.step]
            elif isinstance(a, Nested):
                self.nested.append(a)
                row += [a.table.ctypes.data, 0]
            else:
                row += [int(a), 0]
        self.rows.append(row + [0] * (self.words - len(row)))

    def array(self) -> np.ndarray:
        return np.array(self.rows, dtype=np.int64).reshape(len(self.rows), self.words)


def signature_of(n: int, *groups: Sequence[np.ndarray]) -> tuple | None:
    """What a recording depends on besides values: the step count and every input's type,
    dtype, shape and strides (None when an input is not an ndarray)."""
    parts: list[object] = [n]
    for group in groups:
        for a in group:
            if type(a) is not np.ndarray:
                return None
            parts.append((a.dtype, a.shape, a.strides))
    return tuple(parts)
