"""``tensorir.function``: compile a graph into a callable with Theano's semantics.

The graph between the inputs and the outputs (and update expressions) is cloned into one
``func.func`` whose parameters are the explicit inputs followed by the shared variables it reads,
and whose results are the outputs followed by the new values of the updated shared variables.
Updates are computed from the old values and written together after a successful call.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.dialects.builtin import RETURN, make_func
from tensorir.dialects.ir import (
    FreeValue,
    Module,
    Operation,
    Value,
    ancestors_topological,
    clone_graph,
    clone_operation,
)
from tensorir.dialects.printer import print_func
from tensorir.frontend.config import config
from tensorir.frontend.modes import Mode, get_mode
from tensorir.frontend.shared import SharedVariable
from tensorir.frontend.variable import TensorVariable, as_tensor_variable, wrap
from tensorir.runtime.arguments import convert_argument
from tensorir.runtime.array_exchange import check_output_format, export_outputs


class UnusedInputError(ValueError):
    """An explicit input that the outputs do not depend on (``on_unused_input='raise'``)."""


class MissingInputError(ValueError):
    """The outputs depend on a symbolic input that was not given to ``function``."""


class In:
    """An input with options: a default ``value``, a keyword ``name``, ``allow_downcast``."""

    def __init__(
        self,
        variable: TensorVariable,
        name: str | None = None,
        value: Any = None,
        update: Any = None,
        mutable: bool | None = None,
        strict: bool = False,
        allow_downcast: bool | None = None,
        autoname: bool = True,
        implicit: bool | None = None,
        borrow: bool | None = None,
        shared: bool = False,
    ) -> None:
        if not isinstance(variable, TensorVariable):
            raise TypeError(f"In() takes a symbolic variable, got {type(variable).__name__}")
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.has_default = value is not None
        self.update = update
        self.strict = strict
        self.allow_downcast = allow_downcast


Param = In


@dataclass
class CompiledGraph:
    """What ``function`` compiled: the IR and how its parameters/results map to the user's."""

    module: Module
    inputs: list[In]
    shared_inputs: list[SharedVariable]
    n_outputs: int
    update_targets: list[SharedVariable]


class Function:
    """A compiled function. Call it with positional or keyword arguments."""

    #: how outputs are handed out (runtime/array_exchange.py, ``function(output_format=...)``)
    output_format: str = "numpy"

    def __init__(
        self,
        graph: CompiledGraph,
        executor: Any,
        mode: Mode,
        name: str | None,
        allow_input_downcast: bool | None,
        single_output: bool,
        output_keys: list[str] | None,
    ) -> None:
        self.graph = graph
        self.executor = executor
        self.mode = mode
        self.name = name
        self.allow_input_downcast = allow_input_downcast
        self.single_output = single_output
        self.output_keys = output_keys
        self.input_names = [i.name for i in graph.inputs]
        self.trust_input = False
        #: the arguments ``function`` was called with (see ``FunctionRecipe``); None when unknown.
        self.recipe: FunctionRecipe | None = None
        #: What the profiler collected (frontend/profiling.py), when compiled with ``profile``.
        self.profile: Any = None
        self._prepare_call()

    def __reduce__(self) -> tuple[Any, tuple[FunctionRecipe]]:
        # A compiled function holds native code, which does not pickle: like Theano, a pickled
        # function is its graph, recompiled on load (from the compile cache when it is there).
        # Shared variables pickle with it, so those of several functions in one pickle stay one.
        if self.recipe is None:
            raise TypeError("this Function was not made by tensorir.function() and cannot be pickled")
        return (_rebuild_function, (self.recipe,))

    @property
    def func(self) -> Operation:
        return self.graph.module.functions[0]

    @property
    def maker(self) -> Any:
        return _Maker(self)

    def _prepare_call(self) -> None:
        """What every call needs, computed once: a call then reads a few local attributes."""
        graph = self.graph
        self._n_inputs = len(graph.inputs)
        #: per input: (dtype, rank, shape) an array may have to pass unconverted (shape None: no
        #: static dims), or None (some dims static, some not: such inputs always go through
        #: convert_argument).
        self._fast_checks = [_fast_check(i.variable) for i in graph.inputs]
        self._input_types = [i.variable.ir_type for i in graph.inputs]
        self._containers = [s.container for s in graph.shared_inputs]
        self._update_containers = [t.container for t in graph.update_targets]
        # A call with updates holds its targets' locks from reading the old values to writing the
        # new ones, taken in one order for the process (by id) so two functions never deadlock.
        self._update_locks = tuple(c.lock for c in sorted(self._update_containers, key=id))
        n = graph.n_outputs
        # Results the executor vouches for (new arrays no one else sees) are handed out as they are.
        fresh = getattr(self.executor, "fresh_results", None)
        n_results = n + len(graph.update_targets)
        if fresh is None or len(fresh) != n_results:
            fresh = (False,) * n_results
        self._fresh_results = tuple(fresh)
        self._all_outputs_fresh = all(fresh[:n])
        # Nothing to add to the arguments, copy, store or rename: the executor's results are the
        # call's (with NumPy outputs, checked per call since output_format is set after this).
        self._plain = (not self._containers and not self._update_containers and self._all_outputs_fresh
                       and self.output_keys is None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._n_inputs:
            args = tuple(self._bind(args, kwargs))
        arrays: list[np.ndarray] = []
        # The common case (an array of the exact dtype and rank, no static dims) costs three
        # checks; anything else goes through the full conversion with its error messages.
        for val, check in zip(args, self._fast_checks):
            if (check is not None and type(val) is np.ndarray and val.dtype is check[0] and val.ndim == check[1]
                    and (check[2] is None or val.shape == check[2])):
                arrays.append(val)
            else:
                arrays.append(self._convert(val, len(arrays)))
        locks = self._update_locks
        if not locks:
            if self._plain and self.output_format == "numpy":
                results = self.executor.run(arrays)
                return results[0] if self.single_output else results
            return self._run(arrays)
        if len(locks) == 1:
            with locks[0]:
                return self._run(arrays)
        with contextlib.ExitStack() as held:
            for lock in locks:
                held.enter_context(lock)
            return self._run(arrays)

    def _run(self, arrays: list[np.ndarray]) -> Any:
        """Run on the converted arguments plus the shared values; store the updates."""
        if self._containers:
            arrays += [c.value for c in self._containers]
        results = self.executor.run(arrays)
        n = self.graph.n_outputs
        if self._all_outputs_fresh:
            outputs = results[:n] if len(results) != n else results
        else:
            fresh = self._fresh_results
            outputs = [r if fresh[i] else _fresh(r, arrays, results, i) for i, r in enumerate(results[:n])]
        if self._update_containers:
            self._apply_updates(results, arrays, outputs)
        if self.output_format != "numpy":
            outputs = export_outputs(outputs, self.output_format)
        if self.output_keys is not None:
            return dict(zip(self.output_keys, outputs))
        if self.single_output:
            return outputs[0]
        return outputs

    def _convert(self, value: Any, k: int) -> np.ndarray:
        """Argument ``k`` checked and converted to its input's type (clear errors naming it)."""
        inp = self.graph.inputs[k]
        allow = inp.allow_downcast if inp.allow_downcast is not None else self.allow_input_downcast
        return convert_argument(value, self._input_types[k], str(inp.name or f"#{k}"), k, allow, self.name)

    def _apply_updates(self, results: list[np.ndarray], arrays: list[np.ndarray], outputs: list[np.ndarray]) -> None:
        """Store the new values of the updated shared variables.

        All updates were computed from the old values; writing them now, together, after every
        output exists, keeps a failed call from changing any shared variable. A value that is
        (or may view) an argument or an output the user receives is copied, so the shared
        storage never aliases the user's arrays.
        """
        n = self.graph.n_outputs
        fresh = self._fresh_results
        for j, (container, new) in enumerate(zip(self._update_containers, results[n:])):
            if not fresh[n + j] and (new.base is not None or _is_argument(new, arrays) or _is_argument(new, outputs)):
                new = new.copy()
            container.value = new

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Positional and keyword arguments, with defaults, in input order."""
        ins = self.graph.inputs
        if len(args) > len(ins):
            raise TypeError(
                f"function {self.name or ''} takes {len(ins)} argument(s) ({', '.join(map(str, self.input_names))}), "
                f"got {len(args)}"
            )
        values: list[Any] = list(args) + [_MISSING] * (len(ins) - len(args))
        for key, val in kwargs.items():
            matches = [k for k, i in enumerate(ins) if i.name == key]
            if not matches:
                raise TypeError(f"function has no input named {key!r}; inputs: {self.input_names}")
            k = matches[0]
            if values[k] is not _MISSING:
                raise TypeError(f"input {key!r} given both by position and by keyword")
            values[k] = val
        for k, (inp, val) in enumerate(zip(ins, values)):
            if val is _MISSING:
                if not inp.has_default:
                    raise TypeError(f"missing argument {inp.name or k!r} (input {k})")
                values[k] = inp.value
        return values

    def __repr__(self) -> str:
        return f"<tensorir.Function {self.name or ''} ({', '.join(map(str, self.input_names))})>"

    def ir(self, debug_info: bool = False) -> str:
        """The compiled (rewritten) IR as text."""
        return print_func(self.func, debug_info)

    def copy(self, share_memory: bool = False, swap: Mapping[Any, Any] | None = None, delete_updates: bool = False,
             name: str | None = None, profile: Any = None) -> Function:
        """Another Function (Theano's ``f.copy()``): over the same compiled graph and executor, or,
        with ``swap`` (old shared variable -> new one) or ``delete_updates``, compiled again from
        this function's recipe with those changes. Intermediate storage is never kept between calls,
        so ``share_memory`` changes nothing."""
        if swap or delete_updates:
            if self.recipe is None:
                raise TypeError("copy(swap=..., delete_updates=...) needs a Function made by tensorir.function()")
            return _rebuild_function(self.recipe.changed(swap or {}, delete_updates, name or self.name))
        copied = Function(
            self.graph,
            self.executor,
            self.mode,
            name or self.name,
            self.allow_input_downcast,
            self.single_output,
            self.output_keys,
        )
        copied.output_format = self.output_format
        copied.recipe = self.recipe
        copied.profile = self.profile
        return copied

    def free(self) -> None:
        """Theano API: release intermediate storage (nothing is kept between calls here)."""


class _Maker:
    """Theano's ``f.maker`` with ``fgraph`` (the compiled graph) for code that inspects it."""

    def __init__(self, f: Function) -> None:
        self.fgraph = _FGraph(f.func)
        self.function = f


@dataclass(frozen=True)
class Apply:
    """One node of ``f.maker.fgraph`` as Theano code inspects it: ``op`` (the op's declaration;
    ``op.name`` is e.g. ``'tir.exp'``), ``inputs`` and ``outputs``; ``operation`` is the IR op."""

    op: Any
    inputs: list[Value]
    outputs: list[Value]
    operation: Operation


class _FGraph:
    def __init__(self, func: Operation) -> None:
        self.func = func

    def toposort(self) -> list[Apply]:
        """The compiled graph's nodes in execution order, as Theano's ``Apply`` views."""
        body = self.func.regions[0].block
        return [Apply(op.opdef, list(op.operands), list(op.results), op) for op in body.operations
                if op.opdef is not RETURN]

    @property
    def apply_nodes(self) -> list[Apply]:
        return self.toposort()

    @property
    def inputs(self) -> list[Value]:
        return list(self.func.regions[0].block.arguments)

    @property
    def outputs(self) -> list[Value]:
        term = self.func.regions[0].block.terminator
        return list(term.operands) if term else []


_MISSING = object()


def _is_argument(arr: np.ndarray, args: Sequence[np.ndarray]) -> bool:
    return any(arr is a for a in args)


def _fresh(r: np.ndarray, args: Sequence[np.ndarray], results: Sequence[np.ndarray], i: int) -> np.ndarray:
    """Outputs are new arrays: copy one that is or views an argument, a constant or another output.

    An array that owns its data and is not an argument is fresh; only views need the overlap test.
    """
    if r.base is None and r.flags.writeable:
        if not _is_argument(r, args) and not any(r is o for o in results[:i]):
            return r
        return r.copy()
    if not r.flags.writeable or any(np.may_share_memory(r, a) for a in args) or any(
        np.may_share_memory(r, o) for o in results[:i]
    ):
        return r.copy()
    return r


# -- building the IR -----------------------------------------------------------------------------------
def _normalize_updates(updates: Any) -> list[tuple[SharedVariable, TensorVariable]]:
    if updates is None:
        return []
    if isinstance(updates, Mapping):
        if len(updates) > 1 and type(updates) is dict and not isinstance(updates, OrderedDict):
            pass  # Python dicts keep insertion order, so the order is deterministic here.
        items = list(updates.items())
    else:
        items = list(updates)
    out: list[tuple[SharedVariable, TensorVariable]] = []
    seen: set[int] = set()
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"updates must be (shared_variable, new_value) pairs, got {pair!r}")
        target, expr = pair
        if not isinstance(target, SharedVariable):
            raise TypeError(f"update target {target!r} is not a shared variable")
        if id(target) in seen:
            raise ValueError(f"shared variable {target.name or target!r} is updated twice")
        seen.add(id(target))
        new = as_tensor_variable(expr, like=target.dtype)
        t = target.ir_type
        if new.dtype != t.dtype:
            raise TypeError(
                f"an update must have the same type as the shared variable {target.name or ''}: "
                f"{t} is updated with a value of type {new.ir_type}. Cast the expression "
                f"(e.g. T.cast(expr, '{t.dtype}'))."
            )
        if new.ndim != t.ndim:
            raise TypeError(
                f"update of shared variable {target.name or ''} of rank {t.ndim} with a value of rank {new.ndim}"
            )
        out.append((target, new))
    return out


def build_graph(
    inputs: Sequence[In],
    outputs: Sequence[TensorVariable],
    updates: Sequence[tuple[SharedVariable, TensorVariable]],
    givens: Any,
    on_unused_input: str,
    name: str,
) -> CompiledGraph:
    out_values = [o.value for o in outputs] + [u.value for _, u in updates]
    if givens:
        pairs = list(givens.items()) if isinstance(givens, Mapping) else list(givens)
        replace: dict[Value, Value] = {}
        for old, new in pairs:
            old_v = as_tensor_variable(old)
            new_v = as_tensor_variable(new, like=old_v.dtype)
            if new_v.dtype != old_v.dtype or new_v.ndim != old_v.ndim:
                raise TypeError(f"givens: {old_v} of type {old_v.ir_type} replaced by a value of type {new_v.ir_type}")
            replace[old_v.value] = new_v.value
        out_values = clone_graph(out_values, replace)
    input_values = [i.variable.value for i in inputs]
    if len({id(v) for v in input_values}) != len(input_values):
        raise ValueError("the same variable is given twice as an input")
    ops = ancestors_topological(out_values, stop=input_values)
    used = {id(v) for op in ops for v in op.operands} | {id(v) for v in out_values}
    for region_op in (op for op in ops if op.regions):
        from tensorir.dialects.ir import walk

        for inner in walk(region_op):
            used.update(id(v) for v in inner.operands)
    input_ids = {id(v) for v in input_values}
    shared_vars: list[SharedVariable] = []
    seen: set[int] = set()
    for v in _free_values(ops, out_values):
        if id(v) in input_ids or id(v) in seen:
            continue
        seen.add(id(v))
        handle = v.handle
        if isinstance(handle, SharedVariable):
            shared_vars.append(handle)
        else:
            label = v.name or str(v.type)
            raise MissingInputError(
                f"function {name!r}: the outputs depend on input {label!r}, which is not in the inputs list "
                "(add it to inputs, or replace it with givens)"
            )
    for k, i in enumerate(inputs):
        if id(i.variable.value) not in used:
            msg = (
                f"function {name!r}: input {k} ({i.name or i.variable}) is not used to compute the outputs. "
                "Pass on_unused_input='warn' or 'ignore' to allow it."
            )
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=3)
    arg_values = input_values + [s.value for s in shared_vars]
    func, block = make_func(name, [v.type for v in arg_values], [v.name for v in arg_values])
    value_map: dict[Value, Value] = dict(zip(arg_values, block.arguments))
    for op in ops:
        block.append(clone_operation(op, value_map))
    block.append(Operation(RETURN, [value_map.get(v, v) for v in out_values], []))
    return CompiledGraph(Module([func]), list(inputs), shared_vars, len(outputs), [t for t, _ in updates])


def _free_values(ops: Sequence[Operation], out_values: Sequence[Value]) -> list[Value]:
    from tensorir.dialects.ir import walk

    found: list[Value] = [v for v in out_values if isinstance(v, FreeValue)]
    for op in ops:
        for inner in walk(op):
            found.extend(v for v in inner.operands if isinstance(v, FreeValue))
    return found


def function(
    inputs: Sequence[Any],
    outputs: Any = None,
    mode: Any = None,
    updates: Any = None,
    givens: Any = None,
    no_default_updates: bool = False,
    accept_inplace: bool = False,
    name: str | None = None,
    rebuild_strict: bool = True,
    allow_input_downcast: bool | None = None,
    profile: Any = None,
    on_unused_input: str | None = None,
    return_device_arrays: bool = False,
    output_format: str = "numpy",
) -> Function:
    """Compile ``outputs`` as a function of ``inputs`` (Theano's ``theano.function``).

    Inputs may be any array exporting ``__dlpack__`` or the array interface (read without a copy
    when dtype and layout allow); ``output_format``: 'numpy' or 'dlpack' (capsules), see
    :mod:`tensorir.runtime.array_exchange`. ``return_device_arrays``: under ``device=cuda``,
    outputs are device arrays (``__cuda_array_interface__``, ``__dlpack__``, ``get()``) instead of
    NumPy arrays.
    """
    check_output_format(output_format)
    if not isinstance(inputs, list | tuple):
        raise TypeError("function: inputs must be a list of variables")
    ins = [i if isinstance(i, In) else In(_check_input(i, k)) for k, i in enumerate(inputs)]
    for i in ins:
        if isinstance(i.variable, SharedVariable):
            raise TypeError(
                f"shared variable {i.variable.name or ''} cannot be an explicit input: functions read shared "
                "variables implicitly"
            )
    single = False
    keys: list[str] | None = None
    if outputs is None:
        outs: list[TensorVariable] = []
    elif isinstance(outputs, Mapping):
        keys = list(outputs)
        outs = [as_tensor_variable(outputs[k]) for k in keys]
    elif isinstance(outputs, list | tuple):
        outs = [as_tensor_variable(o) for o in outputs]
    else:
        outs = [as_tensor_variable(outputs)]
        single = True
    update_pairs = _normalize_updates(updates)
    if not no_default_updates:
        update_pairs = _add_default_updates(update_pairs, outs, ins, no_default_updates)
    mode_obj = get_mode(mode)
    if config.nan_guard and mode_obj.linker == "native" and not hasattr(mode_obj, "monitor"):
        from tensorir.frontend.debug_modes import NanGuardMode

        mode_obj = NanGuardMode(optimizer=mode_obj.optimizer)
    stats = _profile_stats(profile, name)
    fname = name or "main"
    started = time.perf_counter()
    graph = build_graph(ins, outs, update_pairs, givens, on_unused_input or config.on_unused_input, _symbol(fname))
    if stats is not None:
        stats.compile_seconds["graph_build"] += time.perf_counter() - started
    # The shared values' shapes now guess which kernels the first call runs (runtime/shape_guess.py).
    hints = {len(ins) + k: tuple(getattr(s.get_value(borrow=True), "shape", ()))
             for k, s in enumerate(graph.shared_inputs)}
    # Each update may be written into its shared variable's own buffer (runtime/donation.py).
    position = {id(s): len(ins) + k for k, s in enumerate(graph.shared_inputs)}
    donations = {len(outs) + j: position[id(t)] for j, t in enumerate(graph.update_targets) if id(t) in position}
    log_cache = "cache" in config.log.split(",")
    if log_cache:
        from tensorir.frontend.cache_log import enable_cache_log

        enable_cache_log()
    if stats is None:
        executor = mode_obj.compile(graph.module, shape_hints=hints, donations=donations,
                                    return_device_arrays=return_device_arrays)
    else:
        from tensorir.frontend.profiling import compile_profiled

        executor = compile_profiled(mode_obj, graph.module, stats, shape_hints=hints)
    if log_cache:
        from tensorir.frontend.cache_log import SignatureLog

        executor = SignatureLog(executor, fname, [i.name or f"#{k}" for k, i in enumerate(ins)])
    compiled = Function(graph, executor, mode_obj, name, allow_input_downcast, single, keys)
    compiled.profile = stats
    compiled.output_format = output_format
    compiled.recipe = FunctionRecipe(list(inputs), outputs, mode_obj, update_pairs, givens, name,
                                     allow_input_downcast, on_unused_input, output_format)
    return compiled


def _profile_stats(profile: Any, name: str | None) -> Any:  # noqa: ANN401
    """The ProfileStats a function compiled with ``profile`` (True, a ProfileStats, or None and
    ``config.profile``) fills, or None."""
    if profile is None or profile is False:
        if not config.profile:
            return None
        profile = True
    from tensorir.frontend.profiling import ProfileStats

    if isinstance(profile, ProfileStats):
        return profile
    if profile is True:
        return ProfileStats(name)
    raise TypeError(f"function: profile must be True, False or a ProfileStats, got {type(profile).__name__}")


@dataclass
class FunctionRecipe:
    """What ``function`` was given, with the default updates made explicit: enough to compile the
    same function again (in another process, after unpickling)."""

    inputs: list[Any]
    outputs: Any
    mode: Mode
    updates: list[tuple[SharedVariable, TensorVariable]]
    givens: Any
    name: str | None
    allow_input_downcast: bool | None
    on_unused_input: str | None
    output_format: str = "numpy"

    def changed(self, swap: Mapping[Any, Any], delete_updates: bool, name: str | None) -> FunctionRecipe:
        """This recipe with shared variables swapped for others (``swap``) and without updates."""
        replace = list(swap.items())

        def sub(v: Any) -> Any:
            return clone_replace(v, replace=replace) if replace and v is not None else v

        outputs = {k: sub(v) for k, v in self.outputs.items()} if isinstance(self.outputs, Mapping) else sub(
            list(self.outputs) if isinstance(self.outputs, tuple) else self.outputs)
        targets = {id(old): new for old, new in replace}
        updates = [] if delete_updates else [(targets.get(id(t), t), sub(u)) for t, u in self.updates]
        givens = self.givens
        if givens and replace:
            pairs = givens.items() if isinstance(givens, Mapping) else givens
            givens = [(k, sub(v)) for k, v in pairs]
        return FunctionRecipe(self.inputs, outputs, self.mode, updates, givens, name, self.allow_input_downcast,
                              self.on_unused_input, self.output_format)


def _rebuild_function(recipe: FunctionRecipe) -> Function:
    """Unpickling a Function: compile its recipe again."""
    return function(recipe.inputs, recipe.outputs, mode=recipe.mode, updates=recipe.updates, givens=recipe.givens,
                    no_default_updates=True, name=recipe.name, allow_input_downcast=recipe.allow_input_downcast,
                    on_unused_input=recipe.on_unused_input, output_format=recipe.output_format)


def _symbol(name: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_$.]", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else "f_" + cleaned


def _check_input(x: Any, k: int) -> TensorVariable:
    if not isinstance(x, TensorVariable):
        raise TypeError(f"function: input {k} is a {type(x).__name__}, not a symbolic variable")
    return x


def _add_default_updates(
    pairs: list[tuple[SharedVariable, TensorVariable]],
    outs: Sequence[TensorVariable],
    ins: Sequence[In],
    no_default_updates: Any,
) -> list[tuple[SharedVariable, TensorVariable]]:
    """Add ``default_update`` of shared variables the graph reads (random streams advance this way)."""
    targets = {id(t) for t, _ in pairs}
    values = [o.value for o in outs] + [u.value for _, u in pairs]
    stop = [i.variable.value for i in ins]
    out = list(pairs)
    frontier = values
    while True:
        added = []
        for v in _free_values(ancestors_topological(frontier, stop), frontier):
            h = v.handle
            if isinstance(h, SharedVariable) and h.default_update is not None and id(h) not in targets:
                targets.add(id(h))
                new = as_tensor_variable(h.default_update)
                out.append((h, new))
                added.append(new.value)
        if not added:
            return out
        frontier = added


def clone_replace(output: Any, replace: Any = None, strict: bool = True, share_inputs: bool = True) -> Any:
    """Copies of ``output`` (a variable or a list) with variables replaced (``theano.clone``)."""
    items = list(replace.items()) if isinstance(replace, Mapping) else list(replace or [])
    mapping = {as_tensor_variable(a).value: as_tensor_variable(b).value for a, b in items}
    outs = output if isinstance(output, list | tuple) else [output]
    values = clone_graph([as_tensor_variable(o).value for o in outs], mapping)
    result = [wrap(v) for v in values]
    return result if isinstance(output, list | tuple) else result[0]


clone = clone_replace


def _fast_check(variable: Any) -> tuple[np.dtype, int, tuple[int, ...] | None] | None:  # noqa: ANN401
    """What an argument for ``variable`` must be to pass unconverted (see ``Function.__call__``):
    its dtype, rank and, where every dim is static, its shape; None where only some dims are."""
    shape = variable.ir_type.shape
    if all(d is None for d in shape):
        return np.dtype(variable.dtype), variable.ndim, None
    if all(d is not None for d in shape):
        return np.dtype(variable.dtype), variable.ndim, tuple(shape)
    return None

