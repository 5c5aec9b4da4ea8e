"""A competing process for ``compare.py --contended``: keeps one core busy while the samples run.

Users run sweeps, so a design that only wins on an idle machine does not win. The competitor is a
separate Python process spinning on integer arithmetic (no memory traffic to speak of), started
before the first workload and stopped after the last.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

# It stops by itself when its parent is gone (a benchmark killed by a signal runs no cleanup).
_SPIN = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
         "    x = 0\n    for i in range(1_000_000):\n        x += i\n")


@contextlib.contextmanager
def competing_process(enabled: bool) -> Iterator[subprocess.Popen | None]:
    """Run one busy process for the duration of the block when ``enabled``."""
    if not enabled:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
