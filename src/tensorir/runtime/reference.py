"""The reference executor: runs a function op by op with the NumPy reference implementations.

It is the oracle every backend is tested against (``mode='REFERENCE'``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.dialects.interpret import run_function
from tensorir.dialects.ir import Operation


class ReferenceExecutor:
    """Executes a ``func.func`` with the interpreter."""

    kind = "reference"

    def __init__(self, func: Operation) -> None:
        self.func = func

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        return run_function(self.func, args)
