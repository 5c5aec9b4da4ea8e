"""Kernel text of elementwise bodies: dtypes without lowering, and vectorized machine code."""

from __future__ import annotations

import pytest

from tensorir.codegen.cpu import compile_mlir
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel, strided_kernel
from tensorir.codegen.cpu.lower_reduction import rows_kernel
from tensorir.codegen.cpu.scalar_ops import NotLowerable

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
