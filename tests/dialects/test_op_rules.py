"""Every op declares its rules in one place: a differentiable op has a vjp; every op a reference."""

import pytest

from tensorir.dialects.opdef import OpDef
from tensorir.dialects.registry import OPS

STRUCTURAL = {"func.func", "func.return", "tir.yield", "tir.grad"}


@pytest.mark.parametrize("name", sorted(OPS))
def test_differentiable_ops_have_a_vjp(name):
    op = OPS[name]
    if op.differentiable and name not in STRUCTURAL:
        assert op.has_vjp, f"{name} is differentiable but declares no vjp rule"


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_have_a_reference_or_a_region_evaluator(name):
    op = OPS[name]
    if name in STRUCTURAL:
        return
    has_reference = type(op).reference is not OpDef.reference
    has_evaluate = hasattr(op, "evaluate")
    assert has_reference or has_evaluate, f"{name} has no NumPy reference implementation"


def test_fusion_classes_are_known():
    for name, op in OPS.items():
        assert op.fusion in {"elementwise", "reduction", "shape", "opaque", "control"}, name
