"""Evaluating IR with the ops' NumPy reference implementations.

This is the semantics of the IR: the reference executor, constant folding and the debug mode run
it, and every backend is tested against it. Ops with regions (fused, scan, if) evaluate their
bodies through ``run_block``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.dialects.ir import Block, Operation, Value


class EvaluationError(Exception):
    """An op failed at run time; the message names the op and the user's line that built it.

    Raised as a subclass that also derives from the cause's type (``IndexError``,
    ``ValueError``, ...), so ``except IndexError`` still catches an index out of range.
    """

    def __new__(cls, op: Operation, cause: BaseException) -> EvaluationError:  # noqa: D102
        if cls is EvaluationError and type(cause) in _WRAPPED:
            cls = _WRAPPED[type(cause)]
        return super().__new__(cls)

    def __init__(self, op: Operation, cause: BaseException) -> None:
        where = f" (built at {op.location})" if op.location else ""
        detail = f"{type(cause).__name__}: {cause}" if not isinstance(cause, EvaluationError) else str(cause)
        super().__init__(f"{op.name}{where} failed: {detail}")
        self.op = op
        self.cause = cause


_WRAPPED: dict[type, type] = {
    base: type(f"Evaluation{base.__name__}", (EvaluationError, base), {})
    for base in (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError)
}


def run_op(op: Operation, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Evaluate one op on concrete inputs, checking results against the static result types."""
    try:
        outputs = op.opdef.reference(inputs, op.attributes, [r.type for r in op.results])
    except EvaluationError:
        raise
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError) as exc:
        raise EvaluationError(op, exc) from exc
    for r, out in zip(op.results, outputs):
        if not r.type.accepts_shape(out.shape):
            raise EvaluationError(
                op, ValueError(f"result {r.index} has shape {out.shape}, its type {r.type} does not allow it")
            )
    return list(outputs)


def run_block(
    block: Block, args: Sequence[np.ndarray], free: dict[Value, np.ndarray] | None = None
) -> list[np.ndarray]:
    """Evaluate a block on argument values; returns the terminator's operand values.

    ``free`` gives values of enclosing scopes that the block reads.
    """
    env: dict[Value, np.ndarray] = dict(free) if free else {}
    for a, v in zip(block.arguments, args):
        env[a] = v
    result: list[np.ndarray] = []
    for op in block.operations:
        try:
            inputs = [env[v] for v in op.operands]
        except KeyError as exc:
            raise EvaluationError(op, ValueError(f"operand {exc.args[0]!r} has no value")) from None
        if op.opdef.name in ("func.return", "tir.yield"):
            result = inputs
            break
        if op.regions:
            outputs = _run_region_op(op, inputs, env)
        else:
            outputs = run_op(op, inputs)
        for r, out in zip(op.results, outputs):
            env[r] = out
    return result


def _run_region_op(op: Operation, inputs: Sequence[np.ndarray], env: dict[Value, np.ndarray]) -> list[np.ndarray]:
    def nested(block: Block, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        return run_block(block, args, env)

    try:
        outputs = op.opdef.evaluate(op, inputs, nested)  # type: ignore[attr-defined]
    except EvaluationError:
        raise
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as exc:
        raise EvaluationError(op, exc) from exc
    return list(outputs)


def run_function(func: Operation, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_block(func.regions[0].block, args)
