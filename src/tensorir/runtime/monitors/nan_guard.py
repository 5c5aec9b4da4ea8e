"""The NaN/Inf guard: after every step, count the bad values of its results natively.

The first step whose result holds a value the guard rejects stops the call with a
:class:`~.bad_values.BadValueError` that names the op, the user's line that built it, for a
gradient op the forward op it belongs to (dialects/provenance.py), and for a fused kernel the
op of its body that made the first bad value (found on the error path only, by running the
body's ops one at a time with their references). The function's arguments are checked too,
so a NaN fed in is reported as the argument's, not as the first op's.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import Operation
from tensorir.dialects.provenance import describe_location
from tensorir.runtime.monitors.bad_values import BadCounts, BadValueCounter, BadValueError
from tensorir.runtime.monitors.instrument import MonitoredStep

__all__ = ["NanGuard"]


class NanGuard:
    """A step monitor rejecting NaN (``nan_is_error``), +-inf (``inf_is_error``) and finite values
    above ``big`` in magnitude (``big_is_error``)."""

    def __init__(self, nan_is_error: bool = True, inf_is_error: bool = True, big_is_error: bool = False,
                 big: float = 1e10, cache_dir: str | None = "") -> None:
        self.nan_is_error, self.inf_is_error, self.big_is_error = nan_is_error, inf_is_error, big_is_error
        self.counter = BadValueCounter(big, cache_dir)
        #: Per kept argument position, the array last checked there (see ``check_arguments``).
        self._seen: dict[int, weakref.ref] = {}

    def _rejected(self, counts: BadCounts) -> list[str]:
        found = []
        if self.nan_is_error and counts.nan:
            found.append(f"{counts.nan} NaN")
        if self.inf_is_error and counts.inf:
            found.append(f"{counts.inf} inf")
        if self.big_is_error and counts.big:
            found.append(f"{counts.big} big (|x| > {self.counter.big:g})")
        return found

    def check_arguments(self, args: Sequence[np.ndarray], names: Sequence[str],
                        kept: frozenset[int] = frozenset()) -> None:
        """Raise when an argument of the call already holds a rejected value.

        ``kept``: positions of values the caller keeps between calls (shared variables, a whole
        data set with ``givens``): each array object there is checked once, not at every call,
        which would read a data set per minibatch. A new value (``set_value``, an update, which
        the guard checked as a step's result) is a new object and is checked; writing into a
        kept array in place (``borrow=True``) goes unseen until an op reads the bad value.
        """
        for k, (arg, name) in enumerate(zip(args, names)):
            if type(arg) is np.ndarray:
                if k in kept:
                    seen = self._seen.get(k)
                    if seen is not None and seen() is arg:
                        continue
                found = self._rejected(self.counter.count(arg))
                if found:
                    raise BadValueError(f"NaN guard: argument {k} ({name}) holds {', '.join(found)} values "
                                        f"of {arg.size}; it came in that way")
                if k in kept:
                    self._seen[k] = weakref.ref(arg)

    def run_step(self, step: MonitoredStep, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]:  # noqa: ANN401
        results = step.inner(inputs, **options)
        for j, result in enumerate(results):
            if type(result) is not np.ndarray or result.dtype.kind not in "fc":
                continue
            found = self._rejected(self.counter.count(result))
            if found:
                raise BadValueError(self._message(step, inputs, j, result, found), step.place.op)
        return results

    def _message(self, step: MonitoredStep, inputs: list[np.ndarray], j: int, result: np.ndarray,
                 found: list[str]) -> str:
        place = step.place
        op = place.op
        shapes = ", ".join(str(np.shape(x)) for x in inputs)
        lines = [f"NaN guard: {op.name} ({describe_location(op)}) made {', '.join(found)} values in its result {j} "
                 f"(shape {result.shape}, {result.size} elements), the first op of this call to make one; "
                 f"its inputs' shapes: {shapes}"]
        first = _first_bad_index(result, self.counter.big)
        if first is not None:
            lines.append(f"  first bad element at index {first}: {result[first]!r}")
        if op.name == "tir.fused":
            inner = _first_bad_body_op(op, inputs)
            if inner is not None:
                lines.append(f"  inside the fused kernel, {inner.name} ({describe_location(inner)}) made it")
        for outer in place.enclosing[::-1]:
            lines.append(f"  in the body of {outer.name} ({describe_location(outer)})")
        return "\n".join(lines)


def _first_bad_index(array: np.ndarray, big: float) -> tuple[int, ...] | None:
    with np.errstate(invalid="ignore"):
        bad = np.argwhere(~np.isfinite(array) | (np.abs(array) > big))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def _bad(value: np.ndarray) -> bool:
    return type(value) is np.ndarray and value.dtype.kind in "fc" and not bool(np.isfinite(value).all())


def _first_bad_body_op(op: Operation, inputs: list[np.ndarray]) -> Operation | None:
    """The first op of a fused body whose result is not finite while its operands are (the
    error path only: the body's ops run one at a time with their NumPy references)."""
    block = op.regions[0].block
    env = {id(a): np.asarray(x) for a, x in zip(block.arguments, inputs)}
    try:
        for inner in block.operations:
            if inner.name in ("tir.yield", "func.return"):
                continue
            operands = [env[id(v)] for v in inner.operands]
            with np.errstate(all="ignore"):
                # The body's types are per element; its ops run here on whole arrays.
                results = list(inner.opdef.reference(operands, inner.attributes, [r.type for r in inner.results]))
            for r, value in zip(inner.results, results):
                env[id(r)] = value
            if any(_bad(v) for v in results) and not any(_bad(v) for v in operands):
                return inner
    except Exception:  # noqa: BLE001 - naming the inner op is a courtesy; the error names the kernel anyway
        return None
    return None
