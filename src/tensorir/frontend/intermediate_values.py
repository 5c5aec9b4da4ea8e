"""``tr.eval_intermediate(f, inputs, var)``: the value an intermediate variable takes in a call of ``f``.

The rewritten graph of ``f`` may no longer hold ``var`` (fused into a kernel, folded, computed
differently), so the value comes from a function compiled from ``f``'s recipe (the same inputs,
``givens`` and shared variables, in ``f``'s mode) with ``var`` as its output. The companion is
kept on ``f``, one per variable, so asking again costs a call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.frontend.function import Function, function
from tensorir.frontend.variable import as_tensor_variable

__all__ = ["eval_intermediate"]


def eval_intermediate(f: Function, inputs: Sequence[Any] | Mapping[str, Any], var: Any) -> np.ndarray:  # noqa: ANN401
    """The value of ``var`` (a variable of the graph ``f`` was built from) when ``f`` is called with
    ``inputs`` (positional values, or a mapping from input names); shared variables as they are now."""
    if not isinstance(f, Function):
        raise TypeError(f"eval_intermediate: expected a compiled Function, got {type(f).__name__}")
    recipe = f.recipe
    if recipe is None:
        raise TypeError("eval_intermediate needs a Function made by tensorir.function()")
    variable = as_tensor_variable(var)
    companions: dict[int, Function] = f.__dict__.setdefault("_intermediates", {})
    companion = companions.get(id(variable.value))
    if companion is None:
        companion = companions[id(variable.value)] = function(
            recipe.inputs, variable, mode=recipe.mode, givens=recipe.givens, name=f"{f.name or 'f'}.intermediate",
            allow_input_downcast=recipe.allow_input_downcast, on_unused_input="ignore", no_default_updates=True)
        companion.__dict__["_variable"] = variable  # keeps the id above from being reused
    if isinstance(inputs, Mapping):
        return companion(**inputs)
    return companion(*inputs)
