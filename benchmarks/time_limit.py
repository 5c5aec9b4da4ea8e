"""A wall-clock limit on one framework's sample, so one slow peer cannot stall the whole comparison.

The limit is a ``SIGALRM`` timer that raises ``SampleTimeout`` in the main thread. Python code
(graph rewriting, tracing, a wait on a compiler subprocess) is interrupted at once; a long call
inside one native function is interrupted when it returns to Python, so a cell can overshoot
the limit by that call's length. Outside the main thread, or where the platform has no
``SIGALRM``, samples run without a limit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class SampleTimeout(BaseException):
    """A framework's build, first call or sample ran past the comparison's time limit.

    A ``BaseException``, like ``KeyboardInterrupt``: a framework's own ``except Exception`` (a
    compile step that retries later, say) must not swallow it and carry on past the limit.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timeout (> {seconds:g} s)")
        self.seconds = seconds


def _can_limit() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``SampleTimeout`` if the block runs longer than ``seconds`` (``None`` or 0: no limit)."""
    if not seconds or not _can_limit():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise SampleTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
