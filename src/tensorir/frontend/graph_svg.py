"""SVG of a :class:`~tensorir.frontend.graph_model.GraphModel` without Graphviz: the layered
layout of frontend/graph_layout.py drawn as boxes, ellipses and straight arrows."""

from __future__ import annotations

from html import escape

from tensorir.frontend.graph_layout import Layout, layered_layout
from tensorir.frontend.graph_model import GraphModel

__all__ = ["NODE_STYLE", "render_svg"]

#: Fill color and shape per node kind (the same in the Graphviz and HTML drawings).
NODE_STYLE = {"input": ("#c8e6c9", "ellipse"), "shared": ("#fff3bf", "ellipse"), "op": ("#e3f2fd", "box"),
              "constant": ("#eeeeee", "box"), "output": ("#d0bfff", "ellipse")}


def render_svg(model: GraphModel, layout: Layout | None = None) -> str:
    """The SVG document of ``model``."""
    layout = layout or layered_layout(model)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" height="{layout.height:.0f}" '
           f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" font-family="Helvetica, Arial, sans-serif" '
           'font-size="12">',
           f"<title>{escape(model.title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for cluster, label in model.clusters.items():
        members = [layout.boxes[n.id] for n in model.nodes if n.cluster == cluster]
        if not members:
            continue
        x0 = min(x - w / 2 for x, _, w, _ in members) - 8
        x1 = max(x + w / 2 for x, _, w, _ in members) + 8
        y0 = min(y - h / 2 for _, y, _, h in members) - 18
        y1 = max(y + h / 2 for _, y, _, h in members) + 8
        out.append(f'<g class="cluster"><rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                   f'rx="6" fill="#fff8e1" stroke="#f08c00" stroke-dasharray="4 2"/>'
                   f'<text x="{x0 + 4:.1f}" y="{y0 + 12:.1f}" font-size="10" fill="#a35b00">{escape(label)}</text></g>')
    for e in model.edges:
        if e.source not in layout.boxes or e.target not in layout.boxes:
            continue
        x0, y0, _, h0 = layout.boxes[e.source]
        x1, y1, _, h1 = layout.boxes[e.target]
        ya, yb = y0 + h0 / 2, y1 - h1 / 2
        style = 'stroke="#c92a2a" stroke-dasharray="5 3"' if e.transfer else 'stroke="#555"'
        out.append(f'<g class="edge"><line x1="{x0:.1f}" y1="{ya:.1f}" x2="{x1:.1f}" y2="{yb:.1f}" {style} '
                   'marker-end="url(#arrow)"/>'
                   f'<text x="{(x0 + x1) / 2 + 4:.1f}" y="{(ya + yb) / 2:.1f}" font-size="9" fill="#666">'
                   f'{escape(e.label)}</text></g>')
    for n in model.nodes:
        x, y, w, h = layout.boxes[n.id]
        fill, shape = NODE_STYLE.get(n.kind, ("#ffffff", "box"))
        if shape == "ellipse":
            body = f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" fill="{fill}" stroke="#333"/>'
        else:
            body = (f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" '
                    f'fill="{fill}" stroke="#333"/>')
        lines = n.label.split("\n")
        top = y - 7.0 * (len(lines) - 1) + 4
        text = "".join(f'<tspan x="{x:.1f}" y="{top + 14 * i:.1f}">{escape(line)}</tspan>'
                       for i, line in enumerate(lines))
        out.append(f'<g class="node {n.kind}" id="{n.id}"><title>{escape(n.details)}</title>{body}'
                   f'<text text-anchor="middle">{text}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
