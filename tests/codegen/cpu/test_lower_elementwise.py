"""Kernel text of elementwise bodies: dtypes without lowering, vectorized machine code, and strided
outputs (writes into views)."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.codegen.cpu import compile_mlir
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel, strided_kernel
from tensorir.codegen.cpu.lower_reduction import rows_kernel
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.runtime.native_kernels import kernel_function

BODY = ElementwiseBody(["float32", "float32"], ["float32"],
                       [("tir.tanh", {}, (0,), "float32"), ("tir.mul", {}, (2, 1), "float32")], [3])


def test_unsupported_ops_and_dtypes_are_not_lowerable() -> None:
    with pytest.raises(NotLowerable):
        ElementwiseBody(["float16"], ["float16"], [("tir.exp", {}, (0,), "float16")], [1]).validate()
    with pytest.raises(NotLowerable):
        ElementwiseBody(["int32", "int32"], ["int32"], [("tir.pow", {}, (0, 1), "int32")], [2]).validate()


def test_flat_kernel_and_sum_vectorize() -> None:
    text = flat_kernel("kvec", BODY, (False, True)) + rows_kernel("ksum", ElementwiseBody.identity("float32"),
                                                                  "tir.sum", "float32", (False,))
    assembly = compile_mlir(text, opt_level=3).assembly()
    assert "ymm" in assembly or "zmm" in assembly


def test_strided_kernel_compiles_for_each_rank() -> None:
    text = "".join(strided_kernel(f"ks{r}", BODY, (r, max(r - 1, 0)), r) for r in (1, 2, 3))
    compile_mlir(text, opt_level=0)


def _run_strided(text: str, name: str, n_args: int, outer: int, *arrays) -> None:  # noqa: ANN002
    module = compile_mlir(text, opt_level=2)  # the machine code lives as long as its module
    fn = kernel_function(module.address(name), n_args)
    fn(0, outer, *map(id, arrays))


@pytest.mark.parametrize("output_inner", ["s", "u"])
def test_strided_output_writes_through_the_views_strides_only(output_inner: str) -> None:
    # y = x + y into a column slice of a bigger buffer (unit inner stride) and, with run-time
    # strides, into a reversed view: only the view's elements change.
    add = ElementwiseBody(["float64", "float64"], ["float64"], [("tir.add", {}, (0, 1), "float64")], [2])
    text = strided_kernel("kso", add, (2, 1), 2, ("s", "u"), strided_output=True, output_inner=output_inner)
    x = np.arange(5.0)[:, None] * np.ones((5, 4))
    y = np.array([10.0, 20.0])
    buf = np.full((5, 7), -1.0)
    view = buf[:, 2:4] if output_inner == "u" else buf[::-2, 5:3:-1]
    want = buf.copy()
    want_view = want[:, 2:4] if output_inner == "u" else want[::-2, 5:3:-1]
    want_view[...] = x[: view.shape[0], 1:3] + y
    _run_strided(text, "kso", 3, view.shape[0], x[: view.shape[0], 1:3], y, view)
    np.testing.assert_array_equal(buf, want)


def test_strided_output_in_place_operand_and_broadcast() -> None:
    # region += y with the region as operand 0 (read through the output's address), into a 3-D
    # view with steps; y (5, 1) has no leading dim and a size-1 last dim (both broadcast).
    add = ElementwiseBody(["int32", "int32"], ["int32"], [("tir.add", {}, (0, 1), "int32")], [2])
    text = strided_kernel("kip", add, (3, 2), 3, ("u", "z"), strided_output=True, output_inner="u",
                          inplace_operand=0)
    buf = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6)
    region = buf[1:4:2, ::-1, 2:5]
    y = (np.arange(5, dtype=np.int32) * 100).reshape(5, 1)
    want = buf.copy()
    want[1:4:2, ::-1, 2:5] += y
    _run_strided(text, "kip", 3, region.shape[0] * region.shape[1], region, y, region)
    np.testing.assert_array_equal(buf, want)
    with pytest.raises(ValueError):
        strided_kernel("kbad", add, (3, 2), 3, inplace_operand=0)


@pytest.mark.parametrize("kind", ["flat", "strided"])
def test_a_result_written_over_its_operand_stays_vectorized(kind: str) -> None:
    # The runtime writes a result over a dead operand (the same array for both). Without alias
    # scopes LLVM guards the vector loop with an overlap check that such a call fails, and every
    # element took the scalar loop; the kernels say their arguments do not alias instead, which
    # holds element for element. The values must come out right in place too.
    if kind == "flat":
        text, outer = flat_kernel("kinp", BODY, (False, True)), None
    else:
        text, outer = strided_kernel("kinp", BODY, (2, 1), 2, ("u", "u")), 6
    llvm_ir = compile_mlir(text, opt_level=3).llvm_ir
    assert "vector.memcheck" not in llvm_ir and "diff.check" not in llvm_ir and "x float>" in llvm_ir
    module = compile_mlir(text, opt_level=3)
    fn = kernel_function(module.address("kinp"), 3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 37)).astype(np.float32)
    y = rng.standard_normal(1 if kind == "flat" else 37).astype(np.float32)
    want = np.tanh(x) * y
    fn(0, outer if outer is not None else x.size, id(x), id(y), id(x))  # the output is x itself
    np.testing.assert_allclose(x, want, rtol=2e-6, atol=1e-6)
