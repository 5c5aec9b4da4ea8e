"""``tir.scan``, ``tir.if`` and the leading-axis helpers: semantics, verifier, text form, rules."""

import numpy as np
import pytest
from tests.helpers import assert_round_trip

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects import Builder, Module, make_func, parse_module, print_module, run_function, verify
from tensorir.dialects.builtin import RETURN, YIELD
from tensorir.dialects.ir import Block, Operation, Region
from tensorir.dialects.opdef import IRError
from tensorir.dialects.parser import ParseError
from tensorir.dialects.tir import control
from tensorir.dialects.types import TensorType
from tensorir.frontend.gradient import verify_grad
from tensorir.frontend.scan import scan

F64 = TensorType("float64", ())
VEC = TensorType("float64", (None,))
I64 = TensorType("int64", ())


def _cumulative_scan(reverse=False, keep=()):
    """func(n, xs, init) = the running sum of xs as a tir.scan with one sequence and one state."""
    func, block = make_func("cumsum", [I64, VEC, TensorType("float64", (1,))], ["n", "xs", "init"])
    body = Block([F64, F64], ["x", "prev"])
    bb = Builder(body, track_location=False)
    total = bb.op("tir.add", body.arguments[0], body.arguments[1])
    body.append(Operation(YIELD, [total, bb.op("tir.mul", total, total)], []))
    b = Builder(block, track_location=False)
    k0 = keep[0] if keep else None
    types = [TensorType("float64", (k0 or None,)), TensorType("float64", (keep[1] if keep and keep[1] else None,))]
    op = b.create(control.SCAN, block.arguments, {"seq_taps": [[0]], "state_taps": [[-1]], "keep": keep,
                                                   "reverse": reverse, "name": "cumsum"}, [Region([body])], types)
    block.append(Operation(RETURN, op.results, []))
    return func


def test_scan_reference_forward_reverse_and_keep():
    xs = np.asarray([1.0, 2.0, 3.0])
    buf, squares = run_function(_cumulative_scan(), [np.int64(-1), xs, np.asarray([10.0])])
    np.testing.assert_allclose(buf, [10, 11, 13, 16])  # the window, then the steps
    np.testing.assert_allclose(squares, [121, 169, 256])
    buf, _ = run_function(_cumulative_scan(reverse=True), [np.int64(-1), xs, np.asarray([10.0])])
    np.testing.assert_allclose(buf, [16, 15, 13, 10])  # by position; the window comes last
    last, sq = run_function(_cumulative_scan(keep=(1, 2)), [np.int64(2), xs, np.asarray([0.0])])
    np.testing.assert_allclose(last, [3.0])
    np.testing.assert_allclose(sq, [1.0, 9.0])


def test_scan_run_time_errors_name_the_problem():
    func = _cumulative_scan()
    with pytest.raises(Exception, match="n_steps=5 but sequence 0"):
        run_function(func, [np.int64(5), np.ones(3), np.asarray([0.0])])
    func = _cumulative_scan(keep=(1, 0))
    out = run_function(func, [np.int64(0), np.ones(3), np.asarray([4.0])])
    np.testing.assert_allclose(out[0], [4.0])  # no step ran: the last value is the initial one


def test_scan_and_if_print_and_parse():
    func = _cumulative_scan()
    verify(func)
    text = assert_round_trip(func)
    assert '"tir.scan"(%n, %xs, %init) ({' in text and "^bb0(%x: tensor<f64>, %prev: tensor<f64>)" in text
    assert '%0:2 = "tir.scan"' in text
    a, b = T.dscalar("a"), T.dscalar("b")
    from tensorir.ifelse import ifelse

    f = tr.function([a, b], ifelse(a < b, a * 2, b), mode="NONE")
    text = assert_round_trip(f.func)
    assert text.count("^bb0") == 2 and '"tir.if"' in text


def test_nested_loops_round_trip_and_run():
    x = T.dmatrix("x")
    zero = T.constant(0.0, dtype="float64")
    rows, _ = scan(lambda r: scan(lambda v, acc: acc + v, sequences=r, outputs_info=zero)[0], sequences=x)
    f = tr.function([x], rows, mode="NONE")
    assert_round_trip(f.func)
    np.testing.assert_allclose(f(np.arange(6.0).reshape(2, 3)), [[0, 1, 3], [3, 7, 12]])


def test_verifier_rejects_bad_scans():
    text = print_module(Module([_cumulative_scan()]))
    bad_taps = text.replace("state_taps = [array<i64: -1>]", "state_taps = [array<i64: 1>]")
    with pytest.raises(ParseError, match="negative"):
        parse_module(bad_taps)
    bad_yield = text.replace('"tir.yield"(%1, %2) : (tensor<f64>, tensor<f64>)', '"tir.yield"(%1) : (tensor<f64>)')
    with pytest.raises(ParseError, match="tir.yield of 2"):
        parse_module(bad_yield)
    func = _cumulative_scan()
    scan_op = func.regions[0].block.operations[0]
    scan_op.regions[0].block.arguments[0].type = TensorType("float32", ())
    with pytest.raises(IRError, match="block arguments"):
        verify(func)


def test_if_verifier_checks_branch_types():
    func, block = make_func("f", [TensorType("bool", ()), F64], ["c", "x"])
    regions = []
    for dtype in ("float64", "float32"):
        body = Block([F64])
        value = Builder(body, track_location=False).op("tir.cast", body.arguments[0], dtype=dtype)
        body.append(Operation(YIELD, [value], []))
        regions.append(Region([body]))
    op = Operation(control.IF, block.arguments, [F64], {}, regions)
    with pytest.raises(IRError, match="else branch yields"):
        control.IF.verify(op)


@pytest.mark.parametrize("name", ["slice", "pad", "flip"])
def test_leading_axis_helpers_reference_and_gradients(name):
    rng = np.random.default_rng(0)

    def build(x):
        one, three = (T.constant(np.int64(v)) for v in (1, 3))
        if name == "slice":
            return tr.frontend.variable.apply_values("tir.slice_leading", [x.value, one.value, three.value], {})
        if name == "pad":
            return tr.frontend.variable.apply_values("tir.pad_leading", [x.value, one.value, three.value], {})
        return tr.frontend.variable.apply_values("tir.flip_leading", [x.value], {})

    x = T.dmatrix("x")
    value = rng.normal(size=(4, 2))
    out = tr.function([x], build(x))(value)
    expected = {"slice": value[1:3], "pad": np.concatenate([np.zeros((1, 2)), value, np.zeros((3, 2))]),
                "flip": value[::-1]}[name]
    np.testing.assert_allclose(out, expected)
    verify_grad(build, [value], n_tests=1)
    t = T.dmatrix("t")
    rop = tr.function([x, t], T.Rop(build(x), x, t), on_unused_input="ignore")
    np.testing.assert_allclose(rop(value, value), expected)


def test_every_control_op_has_vjp_and_jvp():
    for op in control.OPS:
        assert op.has_vjp and op.has_jvp, op.name
