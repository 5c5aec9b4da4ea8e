"""The loop helper thread: a second core for kernels split inside native loops.

The thread runs :func:`tensorir.codegen.cpu.loop_helper.helper_function` (compiled once, in a
module this process never unloads) through ctypes, so it holds no GIL while it waits or works;
it is a daemon and never returns. It is started by the first recording that splits a kernel
(:func:`loop_helper`), only where the process may run on two cores or more. After ``fork`` the
child has no helper: its state says so, and every split runs whole on the calling thread.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time

import numpy as np

from tensorir.codegen.cpu.loop_helper import (
    HELPER_FUNCTION,
    SPLIT_KERNEL_ARGS,
    STATE_WORDS,
    W_ALIVE,
    W_BUSY,
    W_CAP,
    W_SPIN,
    W_SYSCALL,
)
from tensorir.runtime.core_share import CAP, default_thread_count, own_thread
from tensorir.runtime.native_kernels import function_address

__all__ = ["ALONE", "SPLIT_KERNEL_ARGS", "SPLIT_WAYS", "LoopHelper", "loop_helper"]

#: Parts of a split: the posting thread's and the one helper thread's. On more cores a loop's
#: kernels still get two; a kernel big enough for the thread pool takes the pool instead.
SPLIT_WAYS = 2

#: Polls of the other side's word before sleeping on the futex after a split of a whole call's
#: replay (a few microseconds). Longer spins there cost the MLP step (W4) up to 50%: a spinning
#: helper holds the core that OpenBLAS's worker wants next.
SPIN_POLLS = 1 << 11
#: The same after a split inside a loop, where the next split comes within the step: waking a
#: sleeping helper costs tens of microseconds on a VM, more than the half of a step's kernel it
#: would take over. Tens of microseconds of polls; 1 << 18 lost again on W6's products after
#: its loops.
LOOP_SPIN_POLLS = 1 << 15
#: Seconds to wait for a new helper to report itself alive before running without it.
START_TIMEOUT_S = 1.0


class LoopHelper:
    """The process's helper thread and its state array (see codegen/cpu/loop_helper.py)."""

    def __init__(self) -> None:
        self.state = np.zeros(STATE_WORDS, np.int64)
        self.state[W_SYSCALL] = function_address(ctypes.CDLL(None).syscall)
        self.state[W_SPIN] = SPIN_POLLS
        self.state[W_CAP] = CAP.ctypes.data
        self._thread: threading.Thread | None = None
        self._module: object = None
        self._lock = threading.Lock()

    @property
    def address(self) -> int:
        """The state's address, an argument of every ``split`` entry."""
        return self.state.ctypes.data

    @property
    def alive(self) -> bool:
        return bool(self.state[W_ALIVE])

    def start(self, cache) -> bool:  # noqa: ANN001 - a CompileCache
        """Start the thread unless it runs already; whether it runs."""
        with self._lock:
            if self._thread is not None and self.alive:
                return True
            if self._module is None:
                from tensorir.codegen.cpu.loop_helper import helper_function

                # Kept for the life of the process: the thread runs its code.
                self._module = cache.get_lazy(HELPER_FUNCTION, helper_function, opt_level=1)
            function = ctypes.CFUNCTYPE(None, ctypes.c_int64)(self._module.address(HELPER_FUNCTION))
            thread = threading.Thread(target=function, args=(self.address,), name="tensorir-loop-helper", daemon=True)
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not self.alive and time.monotonic() < deadline:
                time.sleep(1e-4)
            self._thread = thread
            own_thread(thread.native_id)
            return self.alive

    def forked(self) -> None:
        """In a child process: no helper thread (the parent's did not come along)."""
        self.state[W_ALIVE] = 0
        self.state[W_BUSY] = 0
        self._thread = None
        self._lock = threading.Lock()


_HELPER: LoopHelper | None = None
#: A state no helper thread reads: a split over it runs every half on the posting thread (a
#: function limited to one thread records its splits over it).
ALONE = LoopHelper()


def loop_helper(cache) -> LoopHelper | None:  # noqa: ANN001 - a CompileCache
    """The running helper (started on first use), or None on one core or if it would not start."""
    global _HELPER
    if default_thread_count() < 2:
        return None
    if _HELPER is None:
        _HELPER = LoopHelper()
        os.register_at_fork(after_in_child=_HELPER.forked)
    return _HELPER if _HELPER.start(cache) else None
