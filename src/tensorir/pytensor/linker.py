"""A PyTensor linker that compiles a FunctionGraph with tensorir, node by node where it can.

The graph's nodes are taken in PyTensor's order and converted through the tables
(op_table.py, scalar_table.py). Runs of nodes that convert become one ``tensorir.function``
each (rewritten, fused and compiled to native code); a node that does not convert runs
PyTensor's own ``perform`` between them, and is listed in :attr:`TensorirLinker.fallbacks`
with the reason. A graph that converts whole is a single tensorir call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pytensor.link.basic import JITLinker

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.variable import TensorVariable
from tensorir.pytensor.op_table import convert_node, rule_for
from tensorir.pytensor.scalar_table import NotConvertible

__all__ = ["Fallback", "FallbackWarning", "TensorirLinker"]


class FallbackWarning(UserWarning):
    """Some nodes of a graph run PyTensor's implementation (``mode(warn_fallbacks=True)``)."""


@dataclass(frozen=True)
class Fallback:
    """A node run by PyTensor instead of tensorir: the node as PyTensor prints it, and why."""

    node: str
    op: str
    reason: str


@dataclass
class _Segment:
    """A run of converted nodes: a tensorir function from slots to slots."""

    function: Any
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    scalar_outputs: tuple[Any, ...]  # per output: the numpy scalar type for ScalarType outputs, else None

    def __call__(self, slots: list[Any]) -> None:
        results = self.function(*[slots[i] for i in self.inputs])
        for slot, value, scalar in zip(self.outputs, results, self.scalar_outputs):
            slots[slot] = value if scalar is None else scalar(value)


class _PyTensorNode:
    """A node PyTensor computes, through the thunk its op makes (C code where PyTensor has it,
    else ``perform``; lazy ops such as IfElse too), over private storage cells."""

    def __init__(self, node: Any, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
        self.node, self.inputs, self.outputs = node, inputs, outputs
        self.in_cells = [[None] for _ in node.inputs]
        self.out_cells = [[None] for _ in node.outputs]
        storage = dict(zip(node.inputs, self.in_cells)) | dict(zip(node.outputs, self.out_cells))
        compute = {v: [True] for v in node.inputs} | {v: [False] for v in node.outputs}
        self.computed = [compute[v] for v in node.outputs]
        self.thunk = node.op.make_thunk(node, storage, compute, [])

    def __call__(self, slots: list[Any]) -> None:
        for cell, slot in zip(self.in_cells, self.inputs):
            cell[0] = slots[slot]
        for flag, cell in zip(self.computed, self.out_cells):
            flag[0] = False
            cell[0] = None
        self.thunk()
        for slot, cell in zip(self.outputs, self.out_cells):
            slots[slot] = cell[0]


class TensorirLinker(JITLinker):
    """``pytensor.function(..., mode=tensorir.pytensor.mode())``'s linker (module docstring).

    ``tensorir_mode``: tensorir's mode for the compiled pieces ('FAST_RUN', 'FAST_COMPILE',
    'REFERENCE'); ``warn_fallbacks``: warn (FallbackWarning) when nodes fall back.
    """

    required_rewrites = ("minimum_compile",)
    # tensorir does its own fusion and BLAS rewrites on its graph. PyTensor's in-place rewrites stay:
    # converted nodes compute new arrays whatever their destroy_map says, and nodes left to
    # PyTensor keep its in-place implementations (the destroy handler has made them safe).
    incompatible_rewrites = ("cxx_only", "BlasOpt", "local_careduce_fusion", "scan_save_mem_prealloc", "fusion")

    def __init__(self, allow_gc: bool | None = None, schedule: Any = None, tensorir_mode: str = "FAST_RUN",
                 warn_fallbacks: bool = False) -> None:
        super().__init__(allow_gc=allow_gc, schedule=schedule)
        self.tensorir_mode = tensorir_mode
        self.warn_fallbacks = warn_fallbacks
        #: nodes that ran PyTensor's implementation, after make_all
        self.fallbacks: list[Fallback] = []
        #: the tensorir functions made, in order
        self.functions: list[Any] = []

    def accept(self, fgraph: Any, no_recycling: Any = None, profile: Any = None) -> TensorirLinker:
        if self.fgraph is not None and self.fgraph is not fgraph:
            return type(self)(allow_gc=self.allow_gc, tensorir_mode=self.tensorir_mode,
                              warn_fallbacks=self.warn_fallbacks).accept(fgraph, no_recycling, profile)
        return super().accept(fgraph, no_recycling, profile)

    def create_thunk_inputs(self, storage_map: dict[Any, list[Any]]) -> list[Any]:
        return [storage_map[v] for v in self.fgraph.inputs]

    def jit_compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def fgraph_convert(self, fgraph: Any, order: Sequence[Any], input_storage: Any, output_storage: Any,
                       storage_map: Any, **kwargs: Any) -> Callable[..., Any]:
        plan = _Planner(fgraph, order, self.tensorir_mode).plan()
        self.fallbacks = plan.fallbacks
        self.functions = [s.function for s in plan.steps if isinstance(s, _Segment)]
        if self.fallbacks and self.warn_fallbacks:
            listed = "; ".join(f"{f.op}: {f.reason}" for f in self.fallbacks)
            warnings.warn(f"{len(self.fallbacks)} node(s) run by PyTensor, not tensorir: {listed}", FallbackWarning,
                          stacklevel=2)
        return plan.runner()


@dataclass
class _Plan:
    steps: list[Any]
    template: list[Any]
    input_slots: tuple[int, ...]
    output_slots: tuple[int, ...]
    fallbacks: list[Fallback]

    def runner(self) -> Callable[..., list[Any]]:
        steps, template, input_slots, output_slots = self.steps, self.template, self.input_slots, self.output_slots

        def run(*inputs: Any) -> list[Any]:
            slots = list(template)
            for slot, value in zip(input_slots, inputs):
                slots[slot] = value
            for step in steps:
                step(slots)
            return [slots[i] for i in output_slots]

        return run


class _Planner:
    """Walks the graph once, growing a segment of converted nodes and cutting it at fallbacks."""

    def __init__(self, fgraph: Any, order: Sequence[Any], tensorir_mode: str) -> None:
        self.fgraph = fgraph
        self.order = list(order)
        self.mode = tensorir_mode
        self.slot: dict[Any, int] = {}
        self.template: list[Any] = []
        self.steps: list[Any] = []
        self.fallbacks: list[Fallback] = []
        self.position = {node: k for k, node in enumerate(self.order)}
        self._start_segment()

    def _slot_of(self, var: Any) -> int:
        slot = self.slot.get(var)
        if slot is None:
            slot = self.slot[var] = len(self.template)
            data = getattr(var, "data", None) if var.owner is None else None
            self.template.append(data)
        return slot

    def _start_segment(self) -> None:
        self.values: dict[Any, TensorVariable] = {}  # PyTensor variable -> tensorir variable (this segment)
        self.segment_inputs: list[Any] = []  # PyTensor variables read from slots
        self.segment_nodes: list[Any] = []

    def _value(self, var: Any) -> TensorVariable:
        value = self.values.get(var)
        if value is not None:
            return value
        dtype = var.type.dtype
        if var.owner is None and getattr(var, "data", None) is not None and not _is_shared(var):
            data = np.asarray(var.data, dtype=dtype)
            value = T.constant(data)
        else:
            shape = getattr(var.type, "shape", ())
            value = T.tensor(dtype=dtype, shape=tuple(shape), name=getattr(var, "name", None))
            self.segment_inputs.append(var)
        self.values[var] = value
        return value

    def plan(self) -> _Plan:
        for var in self.fgraph.inputs:
            self._slot_of(var)
        for node in self.order:
            try:
                _check_types(node)
                rule_for(node)  # before making inputs: an op without a rule may hold any constants
                outs = convert_node(node, [self._value(v) for v in node.inputs])
            except NotConvertible as exc:
                self._fallback(node, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a graph tensorir refuses (its own type checks): fall back
                self._fallback(node, f"tensorir refused it: {type(exc).__name__}: {exc}")
                continue
            self.values.update(zip(node.outputs, outs))
            self.segment_nodes.append(node)
        self._close_segment(len(self.order))
        outputs = tuple(self._slot_of(v) for v in self.fgraph.outputs)
        inputs = tuple(self.slot[v] for v in self.fgraph.inputs)
        return _Plan(self.steps, self.template, inputs, outputs, self.fallbacks)

    def _fallback(self, node: Any, reason: str) -> None:
        self._close_segment(self.position[node])
        self.fallbacks.append(Fallback(str(node), type(node.op).__name__, reason))
        ins = tuple(self._slot_of(v) for v in node.inputs)
        outs = tuple(self._slot_of(v) for v in node.outputs)
        self.steps.append(_PyTensorNode(node, ins, outs))

    def _close_segment(self, upto: int) -> None:
        """Compile the current segment: its outputs are the values read after ``upto`` or returned."""
        nodes = self.segment_nodes
        if not nodes:
            self._start_segment()
            return
        inside = set(nodes)
        later: list[Any] = []
        fgraph_outputs = set(self.fgraph.outputs)
        for node in nodes:
            for out in node.outputs:
                clients = self.fgraph.clients.get(out, [])
                if out in fgraph_outputs or any(c[0] not in inside for c in clients):
                    later.append(out)
        ins = [self.values[v] for v in self.segment_inputs]
        outs = [self.values[v] for v in later]
        function = tr.function(ins, outs, mode=self.mode, on_unused_input="ignore") if later else None
        if function is not None:
            scalars = tuple(_scalar_maker(v) for v in later)
            self.steps.append(_Segment(function, tuple(self._slot_of(v) for v in self.segment_inputs),
                                       tuple(self._slot_of(v) for v in later), scalars))
        self._start_segment()


def _is_shared(var: Any) -> bool:
    from pytensor.compile.sharedvalue import SharedVariable

    return isinstance(var, SharedVariable)


def _check_types(node: Any) -> None:
    """Only tensors and scalars of real dtypes cross into tensorir."""
    from pytensor.scalar import ScalarType
    from pytensor.tensor.type import TensorType as PyTensorType

    for v in (*node.inputs, *node.outputs):
        if not isinstance(v.type, PyTensorType | ScalarType):
            raise NotConvertible(f"a value of type {v.type} (only tensors and scalars convert)")
        if v.type.dtype.startswith("complex"):
            raise NotConvertible(f"dtype {v.type.dtype} (complex numbers are not a tensorir dtype)")


def _scalar_maker(var: Any) -> Any:
    """For a PyTensor ScalarType output, the NumPy scalar type its storage holds; else None."""
    from pytensor.scalar import ScalarType

    if isinstance(var.type, ScalarType):
        return np.dtype(var.type.dtype).type
    return None
