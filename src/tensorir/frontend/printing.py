"""Showing graphs: ``debugprint`` (SSA text of the graph or compiled function), ``pp`` (infix),
``pydotprint`` (a picture, frontend/graph_picture.py) and ``d3viz`` (an interactive HTML page,
frontend/graph_html.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from tensorir.dialects.builtin import RETURN, make_func
from tensorir.dialects.ir import Module, Operation, Value, ancestors_topological, clone_operation, graph_inputs
from tensorir.dialects.printer import print_func
from tensorir.frontend.graph_html import d3viz
from tensorir.frontend.graph_picture import pydotprint
from tensorir.frontend.variable import TensorVariable, as_tensor_variable

__all__ = ["d3viz", "debugprint", "graph_function", "pp", "pprint", "pydotprint"]

_INFIX = {"tir.add": "+", "tir.sub": "-", "tir.mul": "*", "tir.true_div": "/", "tir.int_div": "//",
          "tir.pow": "**", "tir.mod": "%", "tir.lt": "<", "tir.gt": ">", "tir.le": "<=", "tir.ge": ">=",
          "tir.eq": "==", "tir.neq": "!="}


def graph_function(outputs: Sequence[TensorVariable], name: str = "graph") -> Operation:
    """A ``func.func`` of the graph computing ``outputs``, its free inputs as parameters."""
    values = [o.value for o in outputs]
    inputs = graph_inputs(values)
    func, block = make_func(name, [v.type for v in inputs], [v.name for v in inputs])
    value_map: dict[Value, Value] = dict(zip(inputs, block.arguments))
    for op in ancestors_topological(values):
        block.append(clone_operation(op, value_map))
    block.append(Operation(RETURN, [value_map.get(v, v) for v in values], []))
    return func


def debugprint(obj: Any, file: Any = None, debug_info: bool = False, **_theano_options: Any) -> str | None:
    """Print the graph of a variable (or list) or the rewritten graph of a compiled function.

    ``file="str"`` returns the text instead of printing it.
    """
    from tensorir.frontend.function import Function

    if isinstance(obj, Function):
        text = print_func(obj.func, debug_info)
    elif isinstance(obj, Module):
        text = "".join(print_func(f, debug_info) for f in obj.functions)
    else:
        outs = obj if isinstance(obj, list | tuple) else [obj]
        text = print_func(graph_function([as_tensor_variable(o) for o in outs]), debug_info)
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return None


def pp(var: Any) -> str:
    """An infix rendering of a variable's expression: ``((x * W) + b)``."""
    root = as_tensor_variable(var).value
    cache: dict[int, str] = {}
    for op in ancestors_topological([root]):
        args = [cache.get(id(v)) or _leaf(v) for v in op.operands]
        if op.name in _INFIX and len(args) == 2:
            text = f"({args[0]} {_INFIX[op.name]} {args[1]})"
        elif op.name == "tir.neg":
            text = f"-{args[0]}"
        elif op.name == "tir.constant":
            text = _leaf(op.results[0])
        else:
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(op.attributes.items()) if k != "value")
            text = f"{op.name.split('.', 1)[1]}({', '.join(args)}{', ' + attrs if attrs else ''})"
        for r in op.results:
            cache[id(r)] = text if len(op.results) == 1 else f"{text}[{r.index}]"
    return cache.get(id(root)) or _leaf(root)


def _leaf(v: Value) -> str:
    op = v.owner
    if op is not None and op.name == "tir.constant":
        value = op.attributes["value"]
        return str(value.item()) if value.size == 1 else f"TensorConstant{value.shape}"
    return v.name or f"<{v.type}>"


pprint = pp
