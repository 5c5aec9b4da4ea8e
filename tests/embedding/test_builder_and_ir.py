"""Building modules from code and the versioned textual IR."""

from __future__ import annotations

import pytest

from tensorir import embedding as te
from tensorir.dialects.opdef import IRError


def _affine() -> te.ModuleBuilder:
    b = te.ModuleBuilder("affine")
    x = b.argument("x", "float32", (None, 3))
    w = b.argument("w", "float32", (3, 2))
    return b, b.op("tir.dot", x, w)


def test_builder_infers_types_and_prints_versioned_text() -> None:
    b, y = _affine()
    assert str(y.type) == "tensor<?x2xf32>"
    module = b.finish([b.op("tir.tanh", y)])
    text = te.print_ir(module)
    assert text.startswith(f"// tensorir-ir {te.IR_VERSION}\n")
    assert '"tir.dot"(%x, %w)' in text and '"tir.tanh"' in text
    # print -> parse -> print is the identity
    assert te.print_ir(te.parse_ir(text)) == text


def test_builder_rejects_unknown_ops_and_bad_operands() -> None:
    b, y = _affine()
    with pytest.raises(ValueError, match="unknown op 'tir.frobnicate'"):
        b.op("tir.frobnicate", y)
    w = b._block.arguments[1]
    with pytest.raises(IRError):
        b.op("tir.dot", y, w)  # (?, 2) . (3, 2): inner dimensions 2 and 3
    with pytest.raises(ValueError, match="before the first op"):
        b.argument("late", "float32", ())
    assert "tir.add" in te.op_names()


def test_finished_builder_is_closed() -> None:
    b, y = _affine()
    b.finish([y])
    with pytest.raises(ValueError, match="finished"):
        b.op("tir.exp", y)


def test_parse_refuses_unversioned_and_future_text() -> None:
    b, y = _affine()
    text = te.print_ir(b.finish([y]))
    body = text.split("\n", 1)[1]
    with pytest.raises(te.IRVersionError, match="no '// tensorir-ir VERSION' header"):
        te.parse_ir(body)
    with pytest.raises(te.IRVersionError, match="version '99'"):
        te.parse_ir("// tensorir-ir 99\n" + body)
