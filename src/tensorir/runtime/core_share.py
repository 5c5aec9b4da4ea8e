"""How many threads are worth running now: the cores other processes leave this one.

A kernel split over two threads waits for both halves. When another process keeps a core busy
(a sweep of training runs side by side), the second half's thread gets a share of a core, is
taken off it mid-half, and the split waits a scheduler time slice for it: the LSTM step ran
slower on two threads beside one busy process than on one. So every split, OpenBLAS's thread
count and the thread pool take at most :func:`thread_cap` threads, and the cap follows the
machine: each call of a function refreshes it (:func:`refresh`) from the kernel's count of
runnable threads (``procs_running`` in ``/proc/stat``) minus tensorir's own, at most every
:data:`SAMPLE_SECONDS`, as the median of the last three samples (a short-lived process does
not flip it). Recordings keep the thread counts they were made with; the cap applies when they
run (the replay runner reads :data:`CAP`), so a change of the cap costs nothing.

A thread count the user set (``TENSORIR_NUM_THREADS``, ``threads``) is the most the cap allows.
``TENSORIR_DYNAMIC_THREADS=0`` turns the cap off (every split at the set count, as on a
machine of its own); where ``/proc`` is not there (not Linux) it is off.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque

import numpy as np

__all__ = ["CAP", "DYNAMIC_VARIABLE", "OWN_THREADS", "SAMPLE_SECONDS", "default_thread_count", "dynamic_threads",
           "others_running", "own_thread", "parse_dynamic", "parse_switch", "refresh", "thread_cap"]

DYNAMIC_VARIABLE = "TENSORIR_DYNAMIC_THREADS"
#: Seconds between two samples of the machine's load (a sample reads a few small /proc files).
SAMPLE_SECONDS = 0.1
#: The cap when it is off: above any thread count.
_NO_CAP = 1 << 30
#: The cap, one int64 word: native code (the replay runner's thread-count and split entries)
#: reads it by address.
CAP = np.array([_NO_CAP], np.int64)
#: Native ids of tensorir's own kernel threads (the loop helper, the pool's workers): with the
#: calling thread, the threads a split runs on. Every other runnable thread competes for the
#: cores, whether it belongs to another process or to this one (a data loader, another
#: library's thread pool).
OWN_THREADS: set[int] = set()
_SWITCH_WORDS = {"1": True, "true": True, "yes": True, "on": True,
                 "0": False, "false": False, "no": False, "off": False}


def default_thread_count() -> int:
    """Cores this process may run on (``os.sched_getaffinity``), else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_CORES = default_thread_count()
_SAMPLES: deque[int] = deque(maxlen=3)
_NEXT = [0.0]
#: Off, or no /proc to read: never sampled (None: not yet read, at the first refresh).
_FIXED: list[bool | None] = [None]


def parse_switch(text: str) -> bool | None:
    """An on/off value (1/true/yes/on, 0/false/no/off, any case), or None for anything else."""
    return _SWITCH_WORDS.get(str(text).strip().lower())


def parse_dynamic(text: str) -> bool:
    """``TENSORIR_DYNAMIC_THREADS``'s value checked: on or off, or a ValueError naming it."""
    value = parse_switch(text)
    if value is None:
        raise ValueError(f"{DYNAMIC_VARIABLE}={text!r}: expected 1/true/on (the default) or 0/false/off")
    return value


def dynamic_threads() -> bool:
    """Whether the cap follows the machine: ``TENSORIR_DYNAMIC_THREADS`` (default on) and /proc."""
    return parse_dynamic(os.environ.get(DYNAMIC_VARIABLE, "1")) and os.path.exists("/proc/stat")


def own_thread(native_id: int | None) -> None:
    """Note a kernel thread of tensorir's (its ``threading.Thread.native_id``)."""
    if native_id is not None:
        OWN_THREADS.add(native_id)


def _procs_running() -> int | None:
    """The machine's running and runnable threads now, from ``/proc/stat``."""
    try:
        with open("/proc/stat", "rb") as stat:
            for line in stat:
                if line.startswith(b"procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _own_running() -> int:
    """tensorir's threads (this one and its kernel threads) that are running or runnable now."""
    running = 0
    for tid in (threading.get_native_id(), *OWN_THREADS):
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue  # the thread ended
        # "tid (name) S ...": the name may hold spaces and parentheses; the state follows the last.
        end = text.rfind(b")")
        running += text[end + 2:end + 3] == b"R"
    return max(running, 1)


def others_running() -> int | None:
    """Runnable threads now that are not tensorir's (None: the system does not say)."""
    total = _procs_running()
    if total is None:
        return None
    return max(total - _own_running(), 0)


def refresh(now: float | None = None) -> int:
    """The cap, sampled again when the last sample is older than :data:`SAMPLE_SECONDS`."""
    if _FIXED[0] is None:
        _FIXED[0] = not dynamic_threads()
    if _FIXED[0]:
        return int(CAP[0])
    now = time.monotonic() if now is None else now
    if now < _NEXT[0]:
        return int(CAP[0])
    _NEXT[0] = now + SAMPLE_SECONDS
    others = others_running()
    if others is None:
        _FIXED[0], CAP[0] = True, _NO_CAP
        return int(CAP[0])
    _SAMPLES.append(max(1, min(_CORES, _CORES - others)))
    CAP[0] = int(statistics.median_low(_SAMPLES))
    return int(CAP[0])


def thread_cap() -> int:
    """The threads worth running now (at least 1; the last :func:`refresh`)."""
    return int(CAP[0])
