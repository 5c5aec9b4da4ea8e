"""What a plan's step can do, declared as data and read through one function.

A step class declares ``traits: ClassVar[StepTraits]`` (or sets ``self.traits`` where the answer
depends on the op it was built for, as BLAS and elementwise steps do); the planner, the
recorder, the whole-call replay and the donation planner ask :func:`traits_of`, never the step's
attributes one by one. A plain function as a step (an op's NumPy reference) can declare nothing
and gets :data:`REFERENCE_TRAITS`; a closure that does have traits (a native loop that records
itself into a call's table) is wrapped in a :class:`DeclaredStep`.

Naming the kernels a step's static types suggest is behaviour, not a capability (it computes
kernel texts from the op), so it stays a method: steps that have it subclass
:class:`PredictsKernels`, which the planner tests with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from tensorir.runtime.recording import Recorder

__all__ = ["REFERENCE_TRAITS", "DeclaredStep", "PredictsKernels", "StepTraits", "traits_of"]

#: A loop step's recording into a whole call's table: (results or None, whether it recorded).
InlineRecorder = Callable[[list, "Recorder"], "tuple[list[np.ndarray] | None, bool]"]


@dataclass(frozen=True)
class StepTraits:
    """A step's capabilities; the defaults are those of an op's NumPy reference."""

    #: Its native work goes through recorded calls and it says so when it computes in Python
    #: (``python_work``), so a recorder may capture it instead of running it as Python.
    recordable: bool = False
    #: Its outputs are new buffers (or a dead intermediate's), never an argument, a constant or
    #: a view of an operand: ``Function`` hands them out without a copy.
    fresh_outputs: bool = False
    #: Operands it reads in Python (indices, BLAS's alpha and beta): a recorded loop needs them
    #: the same at every step, a reusable recording the same at every call.
    fixed_operands: tuple[int, ...] = ()
    #: A native loop that records itself into a whole call's table (runtime/native_loop.py).
    inline: InlineRecorder | None = None
    #: It takes ``results=`` (a replay's recorded result arrays) and writes into them.
    fills_results: bool = False
    #: Operands a donated buffer may be: the step can write its result over them.
    inplace_operands: tuple[int, ...] = ()
    #: Element i of each result reads only element i of each operand, so an operand may be
    #: read while the result is written over it.
    elementwise: bool = False
    #: It takes ``free=`` (operand positions whose buffers the plan gives it, decided once in
    #: runtime/buffer_reuse.py) and may write a result over one of them.
    reuses_dead_operands: bool = False


#: What a plain function as a step (an op's NumPy reference) can do: nothing beyond running.
REFERENCE_TRAITS = StepTraits()


class DeclaredStep:
    """A closure as a step, with the traits it declares (a function has nowhere to declare them)."""

    __slots__ = ("run", "traits")

    def __init__(self, run: Callable[[list], list], traits: StepTraits) -> None:
        self.run = run
        self.traits = traits

    def __call__(self, inputs: list) -> list:
        return self.run(inputs)


class PredictsKernels:
    """A step that names the kernels its op's static types suggest, so the executor compiles
    them with its others in one module instead of one module each at the first call."""

    def predicted_kernels(self, op: Any) -> dict[str, tuple[Any, int | None]]:  # noqa: ANN401 - an op or a GuessedOp
        raise NotImplementedError


def traits_of(step: object) -> StepTraits:
    """The traits ``step`` declares; a plain function's are :data:`REFERENCE_TRAITS`. A step
    class that declares none fails here, loudly, rather than getting defaults by accident."""
    if type(step) is FunctionType:
        return REFERENCE_TRAITS
    return step.traits  # type: ignore[attr-defined]
