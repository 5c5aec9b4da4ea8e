"""The native bindings survive a signal handler that raises while they import (Ctrl-C, a time limit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tensorir.codegen.cpu.bindings import signals_deferred


class _Stop(Exception):
    pass


def test_signals_in_the_block_are_delivered_after_it() -> None:
    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGALRM, stop)
    try:
        with pytest.raises(_Stop):
            with signals_deferred():
                signal.raise_signal(signal.SIGALRM)
                reached_the_end = True
        assert reached_the_end
        assert signal.getsignal(signal.SIGALRM) is stop
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_an_interrupted_first_compile_leaves_the_bindings_usable(tmp_path) -> None:  # noqa: ANN001
    """A timer fires while the first compile imports MLIR and llvmlite; the compile after works."""
    program = textwrap.dedent(
        """
        import signal
        import numpy as np
        import tensorir as tr
        import tensorir.tensor as T

        class Stop(Exception):
            pass

        def stop(signum, frame):
            raise Stop

        signal.signal(signal.SIGALRM, stop)
        x = T.vector("x")
        stopped = 0
        for delay in (0.001, 0.01, 0.05, 0.1, 0.2):
            signal.setitimer(signal.ITIMER_REAL, delay)
            try:
                tr.function([x], T.tanh(x) * (delay + 1.0))
            except Stop:
                stopped += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
        f = tr.function([x], T.exp(x) + 2.5)
        assert np.allclose(f(np.zeros(3)), 3.5)
        print("stopped", stopped)
        """
    )
    # An empty compile cache: the first compile imports the bindings (a cache hit never does).
    env = {**os.environ, "TENSORIR_COMPILEDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stopped" in proc.stdout
