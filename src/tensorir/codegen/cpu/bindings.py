"""The native bindings of MLIR and llvmlite, imported on first use with signals deferred.

Both are extension modules that register types and load libraries while they import. A signal
handler that raises there (Ctrl-C's ``KeyboardInterrupt``, a time limit's ``SIGALRM``) leaves
the extension half registered, and the next import of it aborts the process. So the first
import runs with the main thread's Python signal handlers replaced by ones that only note the
signal; the noted signals are raised again, in order, once the import is done. Later calls
find the modules imported and cost a dictionary lookup.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

__all__ = ["import_binding", "signals_deferred"]

# Signals whose Python handlers may raise in the middle of an import.
_DEFERRED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGALRM", "SIGTERM") if hasattr(signal, name))


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold the main thread's Python signal handlers off for the block, then deliver what came."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs handlers in the main thread only: this thread is never interrupted
        return
    received: list[int] = []
    previous = {}
    for sig in _DEFERRED:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in received:
            signal.raise_signal(sig)


def import_binding(name: str) -> ModuleType:
    """``importlib.import_module(name)``, the first time with signals deferred."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    with signals_deferred():
        return importlib.import_module(name)
