"""The ops the rewrites produce: ``tir.gemm``/``gemv``/``ger`` (references, vjps) and ``tir.fused``."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.interpret import run_function
from tensorir.dialects.parser import parse_module
from tensorir.dialects.printer import print_module
from tensorir.dialects.verifier import verify
from tensorir.frontend.variable import apply_values

RNG = np.random.default_rng(3)


def _blas_case(name: str, trans: dict[str, bool]):  # noqa: ANN202
    alpha, beta = T.scalar("alpha"), T.scalar("beta")
    if name == "tir.gemm":
        c, a, b = T.matrix("c"), T.matrix("a"), T.matrix("b")
        shapes = {
            "a": (3, 4) if trans.get("trans_a") else (4, 3),
            "b": (5, 3) if trans.get("trans_b") else (3, 5),
        }
        vals = [
            RNG.standard_normal((4, 5)),
            0.7,
            RNG.standard_normal(shapes["a"]),
            RNG.standard_normal(shapes["b"]),
            -0.4,
        ]
        syms = [c, alpha, a, b, beta]
        A = vals[2].T if trans.get("trans_a") else vals[2]
        B = vals[3].T if trans.get("trans_b") else vals[3]
        expected = vals[4] * vals[0] + vals[1] * A @ B
    elif name == "tir.gemv":
        y, a, x = T.vector("y"), T.matrix("a"), T.vector("x")
        vals = [
            RNG.standard_normal(4),
            0.7,
            RNG.standard_normal((3, 4) if trans.get("trans") else (4, 3)),
            RNG.standard_normal(3),
            -0.4,
        ]
        syms = [y, alpha, a, x, beta]
        A = vals[2].T if trans.get("trans") else vals[2]
        expected = vals[4] * vals[0] + vals[1] * A @ vals[3]
    else:
        a, x, y = T.matrix("a"), T.vector("x"), T.vector("y")
        vals = [RNG.standard_normal((4, 5)), 0.7, RNG.standard_normal(4), RNG.standard_normal(5)]
        syms = [a, alpha, x, y]
        expected = vals[0] + vals[1] * np.outer(vals[2], vals[3])
    vals = [np.asarray(v, dtype="float64") for v in vals]
    out = apply_values(name, [s.value for s in syms], trans)
    return syms, vals, out, expected


CASES = [
    ("tir.gemm", {}),
    ("tir.gemm", {"trans_a": True}),
    ("tir.gemm", {"trans_a": True, "trans_b": True}),
    ("tir.gemm", {"trans_b": True}),
    ("tir.gemv", {}),
    ("tir.gemv", {"trans": True}),
    ("tir.ger", {}),
]


@pytest.mark.parametrize("name, trans", CASES)
def test_blas_reference_and_vjp(name: str, trans: dict[str, bool]) -> None:
    syms, vals, out, expected = _blas_case(name, trans)
    f = tr.function(syms, out, mode="NONE")
    np.testing.assert_allclose(f(*vals), expected, rtol=1e-12)
    weights = RNG.standard_normal(expected.shape)
    cost = (out * T.constant(weights)).sum()
    grads = tr.function(syms, tr.grad(cost, syms), mode="NONE")(*vals)
    eps = 1e-6
    for k, v in enumerate(vals):
        numeric = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            hi, lo = [x.copy() for x in vals], [x.copy() for x in vals]
            hi[k][idx] += eps
            lo[k][idx] -= eps
            numeric[idx] = (np.sum(f(*hi) * weights) - np.sum(f(*lo) * weights)) / (2 * eps)
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-5, atol=1e-7, err_msg=f"{name} {trans} operand {k}")


def test_blas_beta_zero_does_not_read_c() -> None:
    syms, vals, out, _ = _blas_case("tir.gemm", {})
    vals[0] = np.full_like(vals[0], np.nan)
    vals[4] = np.asarray(0.0)
    assert np.all(np.isfinite(tr.function(syms, out, mode="NONE")(*vals)))


FUSED = """func.func @f(%x: tensor<?x?xf32>, %y: tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>) {
  %0 = "tir.fused"(%x, %y) ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %c = "tir.constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
    %1 = "tir.mul"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %2 = "tir.add"(%1, %c) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "tir.yield"(%2) : (tensor<f32>) -> ()
  }) {axis = unit, inplace = unit, keepdims = false, reduce = unit}
      : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %3 = "tir.fused"(%x) ({
  ^bb0(%a2: tensor<f32>):
    %4 = "tir.exp"(%a2) : (tensor<f32>) -> tensor<f32>
    "tir.yield"(%4) : (tensor<f32>) -> ()
  }) {axis = array<i64: 0>, inplace = unit, keepdims = false, reduce = "tir.max"}
      : (tensor<?x?xf32>) -> tensor<?xf32>
  func.return %0, %3 : tensor<?x?xf32>, tensor<?xf32>
}
"""


def test_fused_prints_parses_and_evaluates() -> None:
    module = parse_module(FUSED)
    verify(module)
    text = print_module(module)
    assert print_module(parse_module(text)) == text
    x = RNG.standard_normal((3, 4)).astype("float32")
    y = RNG.standard_normal(4).astype("float32")
    out, red = run_function(module.functions[0], [x, y])
    np.testing.assert_allclose(out, x * y + 2, rtol=1e-6)
    np.testing.assert_allclose(red, np.exp(x).max(axis=0), rtol=1e-6)
    assert out.dtype == np.float32 and red.shape == (4,)


def test_fused_verifier() -> None:
    from tensorir.dialects.opdef import IRError
    from tensorir.dialects.types import TensorType

    for wrong in (TensorType("float64", ()), TensorType("float32", (3,))):
        module = parse_module(FUSED)
        fused = module.functions[0].regions[0].block.operations[0]
        fused.regions[0].block.arguments[0].type = wrong
        with pytest.raises(IRError, match="block argument 0"):
            verify(module)
    module = parse_module(FUSED)
    reduction = module.functions[0].regions[0].block.operations[1]
    reduction.attributes["reduce"] = "tir.argmax"
    with pytest.raises(IRError, match="reduce must be one of"):
        verify(module)


def test_fused_vjp_matches_the_unfused_graph() -> None:
    from tensorir.dialects.builder import Builder
    from tensorir.dialects.builtin import RETURN, make_func

    module = parse_module(FUSED)
    func = module.functions[0]
    fused_ops = func.regions[0].block.operations[:2]
    x = RNG.standard_normal((3, 4))
    y = RNG.standard_normal(4)
    f, block = make_func("g", [v.type for v in func.regions[0].block.arguments])
    b = Builder(block, track_location=False)
    args = list(block.arguments)
    outs: list = []
    for op in fused_ops:
        ins = args if len(op.operands) == 2 else args[:1]
        one = b.constant(np.ones((), dtype="float32"))
        g = b.op("tir.broadcast_like", one, args[0] if op.results[0].type.ndim == 2 else args[1])
        grads = op.opdef.vjp(b, _with_operands(op, ins), [g])
        outs.extend(v for v in grads if v is not None)
    block.append(__import__("tensorir").dialects.ir.Operation(RETURN, outs, []))
    dx1, dy1, dx2 = run_function(f, [x.astype("float32"), y.astype("float32")])
    np.testing.assert_allclose(dx1, np.broadcast_to(y, (3, 4)), rtol=1e-6)
    np.testing.assert_allclose(dy1, x.sum(axis=0), rtol=1e-5)
    e = np.exp(x.astype("float32"))
    np.testing.assert_allclose(dx2, e * (e == e.max(axis=0)), rtol=1e-6)


def _with_operands(op, operands):  # noqa: ANN001, ANN202
    from tensorir.dialects.ir import Operation, Region, _clone_region

    regions = [_clone_region(r, {}) for r in op.regions]
    new = Operation(op.opdef, operands, [r.type for r in op.results], op.attributes, regions)
    assert isinstance(new.regions[0], Region)
    return new
