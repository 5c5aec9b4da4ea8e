"""Which route each convolution shape takes on the GPU, decided once per shape and kept.

A conv step asks :class:`ConvChoices` for the route of its (op, dtype, shape): cuDNN with the
algorithm and workspace cuDNN's heuristics chose (``runtime/cuda/cudnn.py``), or the
implicit GEMM on cuBLAS (``runtime/cuda/conv_gemm.py``) with the reason cuDNN was not taken
(not installed, a configuration it refused). The first call of a shape decides; later calls
read the answer. Every decision is kept where ``describe`` (``tensorir-opt``-style one line
each), the profiler and :func:`recorded_choices` read it. Pure data: tested without a device.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from tensorir.runtime.cuda.conv_gemm import ConvShape

__all__ = ["CUDNN", "IMPLICIT_GEMM", "ConvChoice", "ConvChoices", "recorded_choices"]

CUDNN = "cudnn"
IMPLICIT_GEMM = "implicit-gemm"


@dataclass(frozen=True)
class ConvChoice:
    """The route of one convolution shape: ``route`` is :data:`CUDNN` (with cuDNN's algorithm,
    its name and the workspace it needs) or :data:`IMPLICIT_GEMM` (with why cuDNN was not used)."""

    route: str
    algorithm: int = -1
    algorithm_name: str = ""
    workspace_bytes: int = 0
    reason: str = ""

    def describe(self) -> str:
        if self.route == CUDNN:
            return f"cuDNN {self.algorithm_name} (algorithm {self.algorithm}), workspace {self.workspace_bytes} bytes"
        return f"implicit GEMM on cuBLAS ({self.reason})" if self.reason else "implicit GEMM on cuBLAS"


Key = tuple[str, str, ConvShape]


class ConvChoices:
    """The choices of one function's conv steps (every step of a function shares one)."""

    def __init__(self) -> None:
        self._choices: dict[Key, ConvChoice] = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    def choose(self, op: str, dtype: str, shape: ConvShape, decide: Callable[[], ConvChoice]) -> ConvChoice:
        """The choice for ``(op, dtype, shape)``: ``decide()`` the first time, the kept one after."""
        key = (op, dtype, shape)
        with self._lock:
            choice = self._choices.get(key)
        if choice is None:
            choice = decide()
            with self._lock:
                choice = self._choices.setdefault(key, choice)
        return choice

    def forget(self, op: str, dtype: str, shape: ConvShape, reason: str) -> ConvChoice:
        """Replace a cuDNN choice that failed when run by the implicit GEMM, saying why."""
        choice = ConvChoice(IMPLICIT_GEMM, reason=reason)
        with self._lock:
            self._choices[(op, dtype, shape)] = choice
        return choice

    def items(self) -> list[tuple[Key, ConvChoice]]:
        with self._lock:
            return list(self._choices.items())

    def describe(self) -> str:
        """One line per shape: the op, its dtype and sizes, and the route it takes."""
        lines = []
        for (op, dtype, s), choice in self.items():
            lines.append(f"{op} {dtype} x=({s.N},{s.C},{s.H},{s.W}) w=({s.F},{s.Cg},{s.kh},{s.kw}) "
                         f"stride=({s.sh},{s.sw}) dilation=({s.dh},{s.dw}) pad=({s.ph},{s.pw}) groups={s.G} "
                         f"flip={s.flip}: {choice.describe()}")
        return "\n".join(lines)


#: The choices of the functions alive (a function's go when it does).
_ALL: weakref.WeakSet[ConvChoices] = weakref.WeakSet()


def recorded_choices() -> str:
    """Every conv choice of this process (for the profiler and ``debugprint``)."""
    return "\n".join(text for text in (c.describe() for c in _ALL) if text)
