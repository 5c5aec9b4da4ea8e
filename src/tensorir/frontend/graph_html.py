"""An interactive view of a graph in one self-contained HTML file (``d3viz``-like), for big graphs.

The page holds the graph's nodes (placed by frontend/graph_layout.py) and edges as JSON and a
short script that draws them as SVG: drag to pan, the wheel to zoom, a click on a node shows its
op, types, attributes and the user's line; typing in the search box highlights matching nodes.
No network: the script and the style are in the file.
"""

from __future__ import annotations

import json
import os
from html import escape
from typing import Any

from tensorir.frontend.graph_layout import layered_layout
from tensorir.frontend.graph_model import model_of
from tensorir.frontend.graph_svg import NODE_STYLE

__all__ = ["d3viz", "graph_html"]

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { margin: 0; font: 13px Helvetica, Arial, sans-serif; }
#bar { position: fixed; top: 0; left: 0; right: 0; padding: 6px; background: #f1f3f5; border-bottom: 1px solid #ccc; }
#view { position: absolute; top: 38px; left: 0; right: 320px; bottom: 0; cursor: grab; }
#info { position: absolute; top: 38px; right: 0; width: 300px; bottom: 0; padding: 10px; overflow: auto;
        border-left: 1px solid #ccc; white-space: pre-wrap; font-family: monospace; font-size: 12px; }
.hit rect, .hit ellipse { stroke: #e8590c; stroke-width: 3; }
.picked rect, .picked ellipse { stroke: #1971c2; stroke-width: 3; }
</style></head><body>
<div id="bar"><b>__TITLE__</b> &nbsp; <input id="search" placeholder="search ops, e.g. exp" size="30">
<span id="count"></span> &nbsp; drag: pan, wheel: zoom, click: details</div>
<svg id="view" xmlns="http://www.w3.org/2000/svg"><g id="scene"></g></svg>
<div id="info">Click a node.</div>
<script>
const GRAPH = __GRAPH__;
const NS = "http://www.w3.org/2000/svg";
const scene = document.getElementById("scene");
function make(tag, attrs, parent) {
  const el = document.createElementNS(NS, tag);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  parent.appendChild(el);
  return el;
}
const defs = make("defs", {}, scene);
const marker = make("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
                               markerHeight: 7, orient: "auto"}, defs);
make("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#555"}, marker);
for (const c of GRAPH.clusters) {
  make("rect", {x: c.x, y: c.y, width: c.w, height: c.h, rx: 6, fill: "#fff8e1", stroke: "#f08c00",
                "stroke-dasharray": "4 2"}, scene);
  make("text", {x: c.x + 4, y: c.y + 12, "font-size": 10, fill: "#a35b00"}, scene).textContent = c.label;
}
const byId = {};
for (const n of GRAPH.nodes) byId[n.id] = n;
for (const e of GRAPH.edges) {
  const a = byId[e.source], b = byId[e.target];
  if (!a || !b) continue;
  make("line", {x1: a.x, y1: a.y + a.h / 2, x2: b.x, y2: b.y - b.h / 2, stroke: e.transfer ? "#c92a2a" : "#555",
                "stroke-dasharray": e.transfer ? "5 3" : "", "marker-end": "url(#arrow)"}, scene);
  make("text", {x: (a.x + b.x) / 2 + 4, y: (a.y + a.h / 2 + b.y - b.h / 2) / 2, "font-size": 9, fill: "#666"},
       scene).textContent = e.label;
}
const groups = [];
for (const n of GRAPH.nodes) {
  const g = make("g", {}, scene);
  const style = GRAPH.styles[n.kind] || ["#fff", "box"];
  const paint = {fill: style[0], stroke: "#333"};
  if (style[1] === "ellipse") make("ellipse", {cx: n.x, cy: n.y, rx: n.w / 2, ry: n.h / 2, ...paint}, g);
  else make("rect", {x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w, height: n.h, rx: 4, ...paint}, g);
  const lines = n.label.split("\\n");
  lines.forEach((line, i) => {
    make("text", {x: n.x, y: n.y - 7 * (lines.length - 1) + 4 + 14 * i, "text-anchor": "middle"}, g).textContent = line;
  });
  g.style.cursor = "pointer";
  g.addEventListener("click", ev => {
    ev.stopPropagation();
    for (const other of groups) other.g.classList.remove("picked");
    g.classList.add("picked");
    document.getElementById("info").textContent = n.details || n.label;
  });
  groups.push({g: g, node: n});
}
let scale = 1, tx = 0, ty = 0, dragging = null;
function apply() { scene.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`); }
const view = document.getElementById("view");
view.addEventListener("wheel", ev => {
  ev.preventDefault();
  const f = ev.deltaY < 0 ? 1.15 : 1 / 1.15;
  const r = view.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
  tx = mx - (mx - tx) * f; ty = my - (my - ty) * f; scale *= f; apply();
});
view.addEventListener("mousedown", ev => { dragging = [ev.clientX - tx, ev.clientY - ty]; });
window.addEventListener("mouseup", () => { dragging = null; });
window.addEventListener("mousemove", ev => {
  if (dragging) { tx = ev.clientX - dragging[0]; ty = ev.clientY - dragging[1]; apply(); }
});
document.getElementById("search").addEventListener("input", ev => {
  const q = ev.target.value.trim().toLowerCase();
  let hits = 0;
  for (const {g, node} of groups) {
    const hit = q !== "" && (node.label + " " + node.details).toLowerCase().includes(q);
    g.classList.toggle("hit", hit);
    hits += hit;
  }
  document.getElementById("count").textContent = q ? hits + " match(es)" : "";
});
const fit = Math.min(1, (view.clientWidth || 800) / GRAPH.width);
scale = fit; apply();
</script></body></html>
"""


def graph_html(fct: Any, title: str | None = None) -> str:  # noqa: ANN401
    """The self-contained HTML page of a function's rewritten graph (or a variable's graph)."""
    model = model_of(fct, title)
    layout = layered_layout(model)
    nodes = []
    for n in model.nodes:
        x, y, w, h = layout.boxes[n.id]
        nodes.append({"id": n.id, "label": n.label, "kind": n.kind, "details": n.details, "x": round(x, 1),
                      "y": round(y, 1), "w": round(w, 1), "h": round(h, 1)})
    clusters = []
    for cluster, label in model.clusters.items():
        members = [layout.boxes[n.id] for n in model.nodes if n.cluster == cluster]
        if members:
            x0 = min(x - w / 2 for x, _, w, _ in members) - 8
            y0 = min(y - h / 2 for _, y, _, h in members) - 18
            x1 = max(x + w / 2 for x, _, w, _ in members) + 8
            y1 = max(y + h / 2 for _, y, _, h in members) + 8
            clusters.append({"label": label, "x": round(x0, 1), "y": round(y0, 1), "w": round(x1 - x0, 1),
                             "h": round(y1 - y0, 1)})
    graph = {"nodes": nodes, "clusters": clusters, "width": layout.width,
             "edges": [{"source": e.source, "target": e.target, "label": e.label, "transfer": e.transfer}
                       for e in model.edges],
             "styles": {k: list(v) for k, v in NODE_STYLE.items()}}
    # "</" would end the script element early; JSON allows the escaped form.
    data = json.dumps(graph).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", escape(model.title)).replace("__GRAPH__", data)


def d3viz(fct: Any, outfile: str | os.PathLike[str] = "graph.html", title: str | None = None) -> str:  # noqa: ANN401
    """Write the interactive HTML view of ``fct``'s graph to ``outfile``; returns the path."""
    path = os.fspath(outfile)
    with open(path, "w", encoding="utf-8") as f:
        f.write(graph_html(fct, title))
    return path
