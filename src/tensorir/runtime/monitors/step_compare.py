"""The debug mode's checks, step by step: native against reference, in-place writes, shapes.

For every step of the plan the comparer keeps a copy of the operands, runs the native step, and
then checks, reporting the first failure with the op, its operands' shapes and the user's line:

- its results have the dtype of the op's result types and a shape those types allow;
- an operand still needed after the step (read by a later step, an argument of the call or a
  result of the plan) has not changed: a step writing in place may overwrite only dead values;
- its results agree with the op's NumPy reference run on the copies, within the tolerance of
  the result's dtype (:data:`TOLERANCES`). Steps that are the reference already, and random
  draws (native streams and NumPy's differ by design), are not compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorir.dialects.interpret import run_op
from tensorir.dialects.ir import Operation
from tensorir.dialects.provenance import describe_location
from tensorir.runtime.monitors.instrument import MonitoredStep

__all__ = ["TOLERANCES", "StepComparer", "StepMismatchError", "array_difference"]

#: (relative, absolute) tolerance per result dtype. The absolute part is scaled by the largest
#: magnitude of the reference result: sums taken in another order differ by rounding errors of
#: the size of their terms, not of their total.
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}
_UNCOMPARED_PREFIXES = ("tir.random_",)


class StepMismatchError(AssertionError):
    """A debug-mode check failed; ``op`` is the op of the step that failed it."""

    def __init__(self, message: str, op: Operation | None) -> None:
        super().__init__(message)
        self.op = op


class StepComparer:
    """A step monitor running the checks of the module docstring."""

    def __init__(self) -> None:
        #: Steps compared with their reference, checked only, in the last call.
        self.compared = 0
        self.checked = 0

    def run_step(self, step: MonitoredStep, inputs: list[np.ndarray], **options: Any) -> list[np.ndarray]:  # noqa: ANN401
        place = step.place
        op = place.op
        saved = [x.copy() if type(x) is np.ndarray else x for x in inputs]
        results = step.inner(inputs, **options)
        self.checked += 1
        for j, (needed, before, after) in enumerate(zip(place.still_needed, saved, inputs)):
            if needed and type(before) is np.ndarray and not _same(before, after):
                self._fail(step, saved, f"overwrote its operand {j}, which a later step (or the caller) still reads")
        for j, (value, result) in enumerate(zip(results, op.results)):
            if type(value) is not np.ndarray:
                continue
            t = result.type
            if value.dtype != np.dtype(t.dtype) or not t.accepts_shape(value.shape):
                self._fail(step, saved, f"result {j} is {value.dtype} {value.shape}; its inferred type is {t}")
        if place.kind == "reference" or op.name.startswith(_UNCOMPARED_PREFIXES) or (
                op.regions and op.name != "tir.fused"):
            return results
        with np.errstate(all="ignore"):
            expected = list(op.opdef.evaluate(op, saved)) if op.regions else run_op(op, saved)  # type: ignore[attr-defined]
        self.compared += 1
        for j, (value, reference) in enumerate(zip(results, expected)):
            problem = array_difference(np.asarray(value), np.asarray(reference))
            if problem:
                self._fail(step, saved, f"result {j} differs from the reference: {problem}")
        return results

    def _fail(self, step: MonitoredStep, inputs: list[np.ndarray], problem: str) -> None:
        place = step.place
        op = place.op
        shapes = ", ".join(f"{np.shape(x)} {getattr(x, 'dtype', type(x).__name__)}" for x in inputs)
        lines = [f"DebugMode: {op.name} ({describe_location(op)}), run as a {place.kind} step, {problem}",
                 f"  its inputs: {shapes}"]
        for outer in place.enclosing[::-1]:
            lines.append(f"  in the body of {outer.name} ({describe_location(outer)})")
        raise StepMismatchError("\n".join(lines), op)


def _same(before: np.ndarray, after: np.ndarray) -> bool:
    return before.shape == after.shape and bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))


def array_difference(value: np.ndarray, reference: np.ndarray) -> str | None:
    """What is wrong with ``value`` against ``reference`` (the tolerances of :data:`TOLERANCES`),
    or None when they agree."""
    if value.shape != reference.shape:
        return f"native shape {value.shape}, reference shape {reference.shape}"
    if value.dtype.kind not in "fc":
        if np.array_equal(value, reference):
            return None
        where = tuple(int(i) for i in np.argwhere(value != reference)[0])
        return f"at {where}: native {value[where]!r}, reference {reference[where]!r}"
    rtol, atol = TOLERANCES.get(str(value.dtype), TOLERANCES["float64"])
    finite = np.isfinite(reference)
    scale = float(np.abs(reference[finite]).max()) if finite.any() else 0.0
    close = np.isclose(value, reference, rtol=rtol, atol=atol * max(scale, 1.0), equal_nan=True)
    if close.all():
        return None
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    count = int((~close).sum())
    return (f"{count} of {value.size} elements outside rtol={rtol:g}, atol={atol:g}*{max(scale, 1.0):.3g}; "
            f"first at {where}: native {value[where]!r}, reference {reference[where]!r}")
