"""``pydotprint``: a picture of a graph, drawn by Graphviz or, without it, by tensorir itself.

The Graphviz path builds the drawing with the ``graphviz`` package (the ``graph`` extra) and
renders it with Graphviz's ``dot`` program: PNG, SVG, PDF or any format ``dot`` writes. Where
``dot`` or the package is missing, SVG is drawn in pure Python (frontend/graph_svg.py); other
formats then need Graphviz, and the error says how to get it.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from tensorir.frontend.graph_model import GraphModel, model_of
from tensorir.frontend.graph_svg import NODE_STYLE, render_svg

__all__ = ["RENDERERS", "available_renderer", "pydotprint", "to_graphviz"]

RENDERERS = ("auto", "graphviz", "python")


def available_renderer() -> str:
    """'graphviz' when the ``graphviz`` package and the ``dot`` program are both here, else 'python'."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return "python"
    return "graphviz" if shutil.which("dot") else "python"


def to_graphviz(model: GraphModel) -> Any:  # noqa: ANN401 - a graphviz.Digraph
    """``model`` as a ``graphviz.Digraph`` (fused kernels as clusters, transfers dashed red)."""
    import graphviz

    dot = graphviz.Digraph(model.title, graph_attr={"rankdir": "TB", "fontname": "Helvetica"},
                           node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "filled"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#555555"})
    groups: dict[str | None, Any] = {None: dot}
    subgraphs = []
    for cluster, label in model.clusters.items():
        sub = graphviz.Digraph(cluster, graph_attr={"label": label, "style": "dashed,rounded", "color": "#f08c00",
                                                    "fontsize": "10"})
        groups[cluster] = sub
        subgraphs.append(sub)
    for n in model.nodes:
        fill, shape = NODE_STYLE.get(n.kind, ("#ffffff", "box"))
        groups.get(n.cluster, dot).node(n.id, n.label, shape=shape, fillcolor=fill, tooltip=n.details)
    for sub in subgraphs:
        dot.subgraph(sub)
    for e in model.edges:
        attrs = {"color": "#c92a2a", "style": "dashed"} if e.transfer else {}
        dot.edge(e.source, e.target, label=e.label, **attrs)
    return dot


def pydotprint(fct: Any, outfile: str | os.PathLike[str] | None = None, format: str | None = None,  # noqa: A002, ANN401
               renderer: str = "auto", print_output_file: bool = True, **_theano_options: Any) -> str:
    """Draw a compiled function's rewritten graph (or a variable's graph as built) into ``outfile``.

    The format comes from ``format`` or ``outfile``'s extension (default ``png``). ``renderer``:
    'graphviz', 'python' (SVG only) or 'auto' (Graphviz where it is installed). Returns the path.
    Theano's other options (``compact``, ``with_ids``, ...) are accepted and ignored.
    """
    if renderer not in RENDERERS:
        raise ValueError(f"pydotprint: renderer={renderer!r}; use one of {', '.join(RENDERERS)}")
    if outfile is None:
        outfile = f"pydotprint.{format or 'png'}"
    path = os.fspath(outfile)
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "png").lower()
    chosen = available_renderer() if renderer == "auto" else renderer
    model = model_of(fct)
    if chosen == "python":
        if fmt != "svg":
            raise RuntimeError(f"pydotprint: writing {fmt} needs Graphviz (its 'dot' program and the Python package "
                               "'graphviz', e.g. `apt-get install graphviz` and `pip install tensorir[graph]`); "
                               f"without it only SVG can be drawn: use outfile={os.path.splitext(path)[0]}.svg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_svg(model))
    else:
        data = to_graphviz(model).pipe(format=fmt)
        with open(path, "wb") as f:
            f.write(data)
    if print_output_file:
        print(f"The output file is available at {path}")
    return path
