"""Gradient ops remember the forward op they differentiate (dialects/provenance.py)."""

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.ir import walk
from tensorir.dialects.provenance import GradientLocation, describe_location


def test_gradient_ops_name_their_forward_op():
    x = T.vector("x")
    y = T.sum(T.exp(x))  # forward-line
    (g,) = tr.grad(y, [x])
    f = tr.function([x], g, mode="NONE")
    ops = [op for op in walk(f.func) if op.name not in ("func.func", "func.return")]
    located = [op for op in ops if isinstance(op.location, GradientLocation)]
    assert located, [op.name for op in ops]
    forward = {op.location.forward_op for op in located}
    assert "tir.exp" in forward
    exp_grad = next(op for op in located if op.location.forward_op == "tir.exp")
    assert "part of the gradient of tir.exp" in describe_location(exp_grad)
    assert "test_autodiff_provenance.py" in str(exp_grad.location.forward_location)


def test_grad_op_expanded_by_the_pass_keeps_provenance():
    x = T.vector("x")
    cost = T.sum(T.sin(x))
    f = tr.function([x], tr.grad(cost, x))
    located = [op for op in walk(f.func) if isinstance(op.location, GradientLocation)]
    assert any(op.location.forward_op == "tir.sin" for op in located)
