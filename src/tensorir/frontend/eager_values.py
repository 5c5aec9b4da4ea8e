"""Theano's test values: with ``config.compute_test_value`` on, each op is evaluated as it is built.

A user attaches ``x.tag.test_value = array`` to inputs; every op built from operands that all have
one (shared variables and constants always do) computes its results at once with the op's NumPy
reference, so a shape mismatch fails at the line that built the op, not at the first call.
``'warn'`` and ``'raise'`` say so when an operand has no test value; ``'ignore'`` skips quietly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.interpret import EvaluationError, run_op
from tensorir.dialects.ir import Operation, Value


class TestValueError(ValueError):
    """An op fails on its operands' test values, or (``'raise'``) an operand has none."""

    __test__ = False  # not a test class, whatever pytest thinks of the name


def known_value_of(v: Value) -> np.ndarray | None:
    """The test value of ``v``: a constant's value, a shared variable's value, or ``tag.test_value``."""
    constant = constant_value(v)
    if constant is not None:
        return constant
    handle: Any = getattr(v, "handle", None)
    if handle is None:
        return None
    get_value = getattr(handle, "get_value", None)
    if get_value is not None:
        return get_value(borrow=True)
    tag = handle._tag
    value = getattr(tag, "test_value", None) if tag is not None else None
    return None if value is None else np.asarray(value, dtype=v.type.dtype)


def evaluate_on_test_values(op: Operation, mode: str) -> None:
    """Evaluate ``op`` on its operands' test values and attach the results' (see the module docstring)."""
    if op.regions:
        return  # loops and conditionals are evaluated when the function runs
    inputs = []
    for k, v in enumerate(op.operands):
        value = known_value_of(v)
        if value is None:
            message = (f"{op.where()}: operand {k} ({v.name or v.type}) of {op.name} has no test value; "
                       "set its tag.test_value, or config.compute_test_value = 'off'")
            if mode == "raise":
                raise TestValueError(message)
            if mode in ("warn", "pdb"):
                warnings.warn(message, stacklevel=4)
            return
        inputs.append(value)
    try:
        outputs = run_op(op, inputs)
    except EvaluationError as exc:
        shapes = ", ".join(str(np.shape(i)) for i in inputs)
        cause = exc.__cause__ or exc
        raise TestValueError(f"{op.where()}: {op.name} fails on the test values (shapes {shapes}): {cause}") from None
    from tensorir.frontend.variable import wrap

    for r, out in zip(op.results, outputs):
        wrap(r).tag.test_value = out
