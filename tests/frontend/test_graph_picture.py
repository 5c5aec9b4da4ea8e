"""pydotprint (Graphviz or the pure-Python SVG) and the self-contained HTML view."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.graph_layout import layered_layout
from tensorir.frontend.graph_model import model_of
from tensorir.frontend.graph_picture import available_renderer, pydotprint

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def logistic_regression():
    x = T.matrix("x")
    y = T.ivector("y")
    W = tr.shared(np.zeros((4, 3)), name="W")
    b = tr.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = tr.grad(cost, [W, b])
    return tr.function([x, y], cost, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], name="train")


def test_model_has_inputs_ops_outputs_and_fused_clusters(logistic_regression):
    model = model_of(logistic_regression)
    kinds = [n.kind for n in model.nodes]
    assert kinds.count("input") == 2 and kinds.count("shared") == 2 and kinds.count("output") == 3
    labels = [n.label for n in model.nodes]
    assert any(label.startswith("new W") for label in labels)
    assert model.clusters, "the update's fused kernel is drawn as a cluster"
    assert any(e.label == "f64 ?x?" for e in model.edges)


def test_layout_points_every_edge_down(logistic_regression):
    model = model_of(logistic_regression)
    layout = layered_layout(model)
    for e in model.edges:
        assert layout.boxes[e.source][1] < layout.boxes[e.target][1], e


def test_python_svg(logistic_regression, tmp_path):
    path = pydotprint(logistic_regression, tmp_path / "g.svg", renderer="python", print_output_file=False)
    root = ET.parse(path).getroot()
    model = model_of(logistic_regression)
    nodes = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    assert len(nodes) == len(model.nodes)
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"]) == len(model.clusters)


def test_python_renderer_refuses_png_with_advice(logistic_regression, tmp_path):
    with pytest.raises(RuntimeError, match=r"needs Graphviz.*\.svg"):
        pydotprint(logistic_regression, tmp_path / "g.png", renderer="python")


def test_variable_graph(tmp_path):
    x = T.vector("x")
    path = pydotprint(T.exp(x) + 1.0, tmp_path / "v.svg", renderer="python", print_output_file=False)
    text = open(path).read()
    assert "exp" in text and "add" in text


@pytest.mark.skipif(available_renderer() != "graphviz", reason="Graphviz's dot program or the graphviz package "
                    "is not installed (the pure-Python SVG tests cover drawing)")
@pytest.mark.parametrize("suffix, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_graphviz(logistic_regression, tmp_path, suffix, magic):
    path = pydotprint(logistic_regression, tmp_path / f"g.{suffix}", renderer="graphviz", print_output_file=False)
    assert open(path, "rb").read().startswith(magic)


def test_html_view_is_self_contained(logistic_regression, tmp_path):
    path = tr.printing.d3viz(logistic_regression, tmp_path / "g.html")
    text = open(path).read()
    assert "<script src" not in text and "<link" not in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    data = json.loads(re.search(r"const GRAPH = (.*);\n", text).group(1).replace("<\\/", "</"))
    assert len(data["nodes"]) == len(model_of(logistic_regression).nodes)
    assert all({"x", "y", "w", "h", "details"} <= set(n) for n in data["nodes"])


def test_bad_renderer():
    with pytest.raises(ValueError, match="renderer"):
        pydotprint(T.vector("x"), "x.svg", renderer="inkscape")


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed: the HTML view's script is not run")
def test_html_view_script_runs(logistic_regression, tmp_path):
    text = tr.printing.d3viz(logistic_regression, tmp_path / "g.html")
    script = re.search(r"<script>(.*)</script>", open(text).read(), re.S).group(1)
    (tmp_path / "view.js").write_text(script)
    shim = Path(__file__).with_name("html_view_shim.js")
    done = subprocess.run(["node", str(shim), str(tmp_path / "view.js")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["nodes"] == len(model_of(logistic_regression).nodes)
    assert report["info"] and report["hits"] >= 1 and "scale(" in report["transform"]
