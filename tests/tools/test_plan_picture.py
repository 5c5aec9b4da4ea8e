"""The plan picture: one node per step with the kind the step table gave it, and the copy in
``docs/runtime.md`` is the one the README's example produces today."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tensorir.tools.plan_picture import BEGIN, END, plan_mermaid, readme_example, replace_picture

DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"


def test_every_step_is_a_node_with_its_kind() -> None:
    f = readme_example()
    picture = plan_mermaid(f)
    nodes = re.findall(r'^  s(\d+)\[\[?"\d+: (tir\.\w+)<br/>([^"]+)"', picture, flags=re.M)
    assert [(int(k), name, kind) for k, name, kind in nodes] == [
        (k, op.name, str(kind)) for k, (op, kind) in enumerate(zip(f.executor.ops, f.executor.plan_kinds))
    ]
    # The updates come last, as the commit tail, and each has an edge to its shared variable.
    assert '(["W (update)"])' in picture and '(["b (update)"])' in picture


def test_the_documented_picture_is_current() -> None:
    text = DOC.read_text()
    assert replace_picture(text, plan_mermaid(readme_example())) == text, (
        "docs/runtime.md's plan picture is out of date: python -m tensorir.tools.plan_picture --write docs/runtime.md"
    )


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no plan picture markers"):
        replace_picture("# nothing here\n", "flowchart TD\n")
    assert BEGIN in DOC.read_text() and END in DOC.read_text()


def test_the_reference_executor_has_no_plan() -> None:
    import tensorir as tr
    import tensorir.tensor as T

    x = T.vector("x")
    with pytest.raises(TypeError, match="FAST_RUN or FAST_COMPILE"):
        plan_mermaid(tr.function([x], x + 1, mode="REFERENCE"))
