"""A graph to draw: the nodes and edges of a function or a variable's graph, as plain data.

``pydotprint`` (frontend/graph_picture.py) and the HTML view (frontend/graph_html.py) draw the
same :class:`GraphModel`: function inputs (explicit and shared), ops (a fused kernel as a
cluster of its body's ops), constants and outputs; an edge carries the dtype and static shape
of the value it stands for. For a function that runs on a GPU the edges from the inputs and to
the outputs are host/device transfers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tensorir.dialects.ir import Block, Operation, Value
from tensorir.dialects.provenance import describe_location

__all__ = ["GraphEdge", "GraphModel", "GraphNode", "graph_model", "value_label"]

_DTYPE_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32",
                "int8": "i8", "uint8": "u8", "bool": "bool", "int16": "i16", "complex64": "c64", "complex128": "c128"}
_SKIPPED = ("func.return", "tir.yield")


@dataclass
class GraphNode:
    """One node: ``kind`` is 'input', 'shared', 'op', 'constant' or 'output'."""

    id: str
    label: str
    kind: str
    cluster: str | None = None
    details: str = ""


@dataclass
class GraphEdge:
    source: str
    target: str
    label: str = ""
    transfer: bool = False


@dataclass
class GraphModel:
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    #: cluster id -> its label (a fused kernel)
    clusters: dict[str, str] = field(default_factory=dict)
    title: str = "graph"


def value_label(v: Value) -> str:
    """``f32 ?x10``: the dtype and static shape of a value's type."""
    t = v.type
    dtype = _DTYPE_SHORT.get(t.dtype, t.dtype)
    shape = "x".join("?" if d is None else str(d) for d in t.shape)
    return f"{dtype} {shape}" if shape else f"{dtype} scalar"


def _short(name: str) -> str:
    return name.split(".", 1)[1] if name.startswith("tir.") else name


def _op_details(op: Operation) -> str:
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(op.attributes.items()) if k != "value")
    types = ", ".join(value_label(r) for r in op.results)
    return "\n".join(filter(None, [op.name, f"-> {types}", attrs, describe_location(op, short=True)]))


def _constant_label(op: Operation) -> str:
    value = op.attributes["value"]
    return f"{value.item():.4g}" if value.size == 1 and value.dtype.kind in "biuf" else f"const {value.shape}"


class _Builder:
    def __init__(self, title: str, transfers: bool) -> None:
        self.model = GraphModel(title=title)
        self.source: dict[int, str] = {}  # id(value) -> node id that produces it
        self.count = 0
        self.transfers = transfers
        #: A fused body's block argument (by id) -> the kernel's operand it stands for.
        self.outer_of: dict[int, Value] = {}

    def node(self, label: str, kind: str, cluster: str | None = None, details: str = "") -> str:
        self.count += 1
        node_id = f"n{self.count}"
        self.model.nodes.append(GraphNode(node_id, label, kind, cluster, details))
        return node_id

    def edge(self, v: Value, target: str, transfer: bool = False) -> None:
        source = self.source.get(id(v))
        if source is not None:
            self.model.edges.append(GraphEdge(source, target, value_label(v), transfer))

    def block(self, block: Block, cluster: str | None = None) -> None:
        for op in block.operations:
            if op.name in _SKIPPED:
                continue
            if op.name == "tir.constant":
                node = self.node(_constant_label(op), "constant", cluster, _op_details(op))
                self.source[id(op.results[0])] = node
                continue
            if op.name == "tir.fused":
                self.fused(op, cluster)
                continue
            label = _short(op.name)
            node = self.node(label, "op", cluster, _op_details(op))
            for v in op.operands:
                self.edge(v, node)
            for r in op.results:
                self.source[id(r)] = node

    def fused(self, op: Operation, outer: str | None) -> None:
        """A fused kernel: its body's ops in a cluster, wired to the kernel's operands."""
        cluster = f"cluster_{len(self.model.clusters) + 1}"
        reduce = op.attributes.get("reduce")
        kind = f"fused kernel + {_short(str(reduce))}" if isinstance(reduce, str) else "fused kernel"
        self.model.clusters[cluster] = f"{kind} ({describe_location(op, short=True)})"
        body = op.regions[0].block
        for arg, v in zip(body.arguments, op.operands):
            self.outer_of[id(arg)] = v
        for inner in body.operations:
            if inner.name in _SKIPPED:
                continue
            if inner.name == "tir.constant":
                node = self.node(_constant_label(inner), "constant", cluster, _op_details(inner))
            else:
                node = self.node(_short(inner.name), "op", cluster, _op_details(inner))
            for v in inner.operands:
                outer_value = self.outer_of.get(id(v))
                self.edge(outer_value if outer_value is not None else v, node)
            for r in inner.results:
                self.source[id(r)] = node
        term = body.terminator
        last = self.source.get(id(term.operands[0])) if term is not None and term.operands else None
        if reduce is not None and isinstance(reduce, str):
            node = self.node(_short(reduce), "op", cluster, _op_details(op))
            if last:
                self.model.edges.append(GraphEdge(last, node, value_label(op.results[0])))
            last = node
        for r in op.results:
            if last:
                self.source[id(r)] = last


def graph_model(func: Operation, title: str = "graph", n_shared: int = 0, on_gpu: bool = False,
                result_names: list[str] | None = None) -> GraphModel:
    """The :class:`GraphModel` of a ``func.func``; its last ``n_shared`` arguments are shared
    variables; ``on_gpu``: inputs and outputs cross between host and device; ``result_names``:
    labels of its results (default ``output k``)."""
    b = _Builder(title, on_gpu)
    block = func.regions[0].block
    n_args = len(block.arguments)
    for k, arg in enumerate(block.arguments):
        shared = k >= n_args - n_shared
        name = arg.name or f"input {k}"
        node = b.node(f"{name}\n{value_label(arg)}", "shared" if shared else "input",
                      details=f"{'shared variable' if shared else 'input'} {name}: {arg.type}")
        b.source[id(arg)] = node
    b.block(block)
    term = block.terminator
    for k, v in enumerate(term.operands if term is not None else []):
        name = result_names[k] if result_names and k < len(result_names) else f"output {k}"
        node = b.node(f"{name}\n{value_label(v)}", "output", details=f"{name}: {v.type}")
        b.edge(v, node, transfer=on_gpu)
    if on_gpu:
        inputs = {n.id for n in b.model.nodes if n.kind in ("input", "shared")}
        for e in b.model.edges:
            if e.source in inputs:
                e.transfer = True
    return b.model


def model_of(obj: Any, title: str | None = None) -> GraphModel:  # noqa: ANN401
    """The graph model of a compiled Function (its rewritten graph), or of a variable or list of
    variables (the graph as built)."""
    from tensorir.frontend.function import Function
    from tensorir.frontend.printing import graph_function
    from tensorir.frontend.variable import as_tensor_variable

    if isinstance(obj, Function):
        on_gpu = "cuda" in str(getattr(obj.executor, "kind", "")) or "gpu" in str(getattr(obj.executor, "kind", ""))
        graph = obj.graph
        names = [f"output {k}" for k in range(graph.n_outputs)]
        names += [f"new {t.name or f'shared {j}'}" for j, t in enumerate(graph.update_targets)]
        return graph_model(obj.func, title or obj.name or "function", len(graph.shared_inputs), on_gpu, names)
    outs = obj if isinstance(obj, list | tuple) else [obj]
    variables = [as_tensor_variable(o) for o in outs]
    return graph_model(graph_function(variables), title or "graph")
