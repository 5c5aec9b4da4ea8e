"""A layered layout of a :class:`~tensorir.frontend.graph_model.GraphModel`, in pure Python.

For drawing without Graphviz (the SVG fallback of ``pydotprint``) and for the HTML view. A
node's layer is the length of the longest path from a source to it (a graph of ops is acyclic),
so every edge points down; within a layer nodes are ordered by the mean position of their
predecessors (a few sweeps of the barycenter heuristic of Sugiyama et al.), which keeps most
edges short and uncrossed; nodes of one fused cluster are kept next to each other.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tensorir.frontend.graph_model import GraphModel

__all__ = ["Layout", "layered_layout"]

#: Pixels: the width of a label's character, a node's height, and the gaps between nodes and layers.
CHAR_WIDTH = 7.0
NODE_HEIGHT = 34.0
H_GAP = 24.0
V_GAP = 46.0
PADDING = 20.0


@dataclass
class Layout:
    """Node id -> (center x, center y, width, height), and the drawing's size."""

    boxes: dict[str, tuple[float, float, float, float]]
    width: float
    height: float


def node_size(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    return max(40.0, CHAR_WIDTH * max(len(line) for line in lines) + 16.0), NODE_HEIGHT + 14.0 * (len(lines) - 1)


def layered_layout(model: GraphModel, sweeps: int = 4) -> Layout:
    ids = [n.id for n in model.nodes]
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    for e in model.edges:
        preds[e.target].append(e.source)
        succs[e.source].append(e.target)
    # Nodes come in topological order (a block's order), so one pass gives longest-path layers.
    layer: dict[str, int] = {}
    for node_id in ids:
        layer[node_id] = 1 + max((layer.get(p, 0) for p in preds[node_id]), default=-1)
    # A constant sits just above its first reader, not at the top: its edge stays short and a
    # fused kernel's constants stay inside the kernel's cluster.
    kinds = {n.id: n.kind for n in model.nodes}
    for node_id in ids:
        if kinds[node_id] == "constant" and succs[node_id]:
            layer[node_id] = max(0, min(layer[t] for t in succs[node_id]) - 1)
    # Outputs go to the last layer.
    last = max(layer.values(), default=0)
    for n in model.nodes:
        if n.kind == "output":
            layer[n.id] = last
    layers: dict[int, list[str]] = defaultdict(list)
    for node_id in ids:
        layers[layer[node_id]].append(node_id)
    cluster = {n.id: n.cluster for n in model.nodes}
    position = {node_id: float(i) for row in layers.values() for i, node_id in enumerate(row)}
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        order = sorted(layers) if down else sorted(layers, reverse=True)
        for k in order:
            row = layers[k]
            neighbours = preds if down else succs

            def key(node_id: str, neighbours: dict[str, list[str]] = neighbours) -> tuple[float, str]:
                near = [position[m] for m in neighbours[node_id] if m in position]
                return (sum(near) / len(near) if near else position[node_id], node_id)

            row.sort(key=key)
            # Keep each cluster's nodes together, where its first member falls.
            at = {node_id: i for i, node_id in enumerate(row)}
            first: dict[str | None, int] = {}
            for node_id in row:
                first.setdefault(cluster[node_id], at[node_id])
            row.sort(key=lambda node_id: (first[cluster[node_id]] if cluster[node_id] else at[node_id], at[node_id]))
            for i, node_id in enumerate(row):
                position[node_id] = float(i)
    labels = {n.id: n.label for n in model.nodes}
    sizes = {node_id: node_size(labels[node_id]) for node_id in ids}
    boxes: dict[str, tuple[float, float, float, float]] = {}
    width = 0.0
    y = PADDING
    rows = [layers[k] for k in sorted(layers)]
    row_widths = [sum(sizes[i][0] for i in row) + H_GAP * (len(row) - 1) for row in rows]
    full = max(row_widths, default=0.0)
    for row, row_width in zip(rows, row_widths):
        height = max(sizes[i][1] for i in row)
        x = PADDING + (full - row_width) / 2
        for node_id in row:
            w, h = sizes[node_id]
            boxes[node_id] = (x + w / 2, y + height / 2, w, h)
            x += w + H_GAP
        width = max(width, x)
        y += height + V_GAP
    return Layout(boxes, max(width, full + 2 * PADDING), y - V_GAP + PADDING)
