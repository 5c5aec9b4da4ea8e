"""Helpers for pass tests: build a function from frontend expressions, rewrite a copy, compare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.interpret import run_function
from tensorir.dialects.ir import Module, Operation, walk
from tensorir.dialects.parser import parse_module
from tensorir.dialects.printer import print_func, print_module
from tensorir.dialects.verifier import verify
from tensorir.frontend.printing import graph_function
from tensorir.passes.pass_manager import Pass, PassManager


def build(outputs: Sequence[Any], inputs: Sequence[Any] | None = None) -> Operation:
    """A function of ``outputs``; its parameters are ``inputs`` in order (default: first-seen order)."""
    if inputs is None:
        return graph_function(list(outputs))
    from tensorir.dialects.builtin import RETURN, make_func
    from tensorir.dialects.ir import ancestors_topological, clone_operation
    from tensorir.frontend.variable import as_tensor_variable

    params = [as_tensor_variable(v).value for v in inputs]
    values = [as_tensor_variable(o).value for o in outputs]
    func, block = make_func("graph", [v.type for v in params], [v.name for v in params])
    value_map = dict(zip(params, block.arguments))
    for op in ancestors_topological(values, stop=params):
        block.append(clone_operation(op, value_map))
    block.append(Operation(RETURN, [value_map.get(v, v) for v in values], []))
    return func


def rewritten_copy(func: Operation, passes: Sequence[Pass]) -> Operation:
    """A copy of ``func`` (through its text: also checks print/parse) with ``passes`` applied and verified."""
    module = parse_module(print_module(Module([func])))
    PassManager(list(passes), verify_each=True).run(module)
    verify(module)
    again = parse_module(print_module(module))  # the result prints and parses too
    assert print_module(again) == print_module(module)
    return module.functions[0]


def op_names(func: Operation) -> list[str]:
    return [op.name for op in walk(func)]


def compare(
    func: Operation,
    passes: Sequence[Pass],
    args: Sequence[np.ndarray],
    *,
    rtol: float = 1e-7,
    atol: float = 1e-12,
) -> tuple[Operation, list[np.ndarray], list[np.ndarray]]:
    """Rewrite a copy and check it computes what the original does on ``args``."""
    new = rewritten_copy(func, passes)
    with np.errstate(all="ignore"):
        before = run_function(func, args)
        after = run_function(new, args)
    for i, (a, b) in enumerate(zip(before, after)):
        assert a.dtype == b.dtype and a.shape == b.shape, (i, a.dtype, a.shape, b.dtype, b.shape)
        np.testing.assert_allclose(
            b,
            a,
            rtol=rtol,
            atol=atol,
            err_msg=f"output {i} differs\n--- before ---\n{print_func(func)}--- after ---\n{print_func(new)}",
        )
    return new, before, after
