"""An executor compiled under an assumption about its arguments' shapes, with the executor
compiled without it for the calls that break it.

The frontend compiles a function with the rewrites allowed to assume that dynamic argument dims
meeting in an elementwise op are equal (``passes/assumed_shapes.py``); the equalities they used
come here as ``holds``, a check over the argument arrays made at each call. A call whose arguments
break it (a dim of size 1 broadcast at run time) runs the general executor, compiled the first
time one is needed, and gets the same results as without the assumption.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["GuardedExecutor"]


class GuardedExecutor:
    """``assumed`` for calls where ``holds(arrays)``, ``build_general()``'s executor for the rest.

    Everything else (plan, steps, replays: what tests and tools inspect) is ``assumed``'s.
    """

    def __init__(self, assumed: Any, holds: Callable[[Sequence[np.ndarray]], bool],  # noqa: ANN401
                 build_general: Callable[[], Any], guard_text: str) -> None:
        self.assumed = assumed
        self.holds = holds
        self.guard_text = guard_text
        self._build_general = build_general
        self._general: Any = None
        self._copy_results: tuple[int, ...] = ()
        self._building = threading.Lock()  # two threads breaking the guard build it once

    @property
    def general(self) -> Any:  # noqa: ANN401
        """The executor compiled without the assumption (compiled on first use)."""
        with self._building:
            if self._general is None:
                self._set_general(self._build_general())
        return self._general

    def _set_general(self, general: Any) -> None:  # noqa: ANN401
        # The caller trusts ``assumed``'s fresh results; a result the general plan may share
        # with an argument or another result is copied before it is handed out.
        mine = getattr(self.assumed, "fresh_results", None)
        theirs = getattr(general, "fresh_results", None)
        if mine is not None:
            self._copy_results = tuple(i for i, fresh in enumerate(mine)
                                       if fresh and (theirs is None or not theirs[i]))
        self._general = general

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self.holds(arrays):
            return self.assumed.run(arrays)
        results = self.general.run(arrays)
        if self._copy_results:
            results = list(results)
            for i in self._copy_results:
                results[i] = np.array(results[i], copy=True)
        return results

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        if name == "assumed":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.assumed, name)
