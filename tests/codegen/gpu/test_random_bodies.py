"""Small random elementwise bodies (hypothesis) lower to PTX that ``ptxas`` accepts, in each of the
elementwise kernel variants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.gpu.lower_elementwise import flat_kernel, strided_kernel, vector_kernel

from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas

UNARY = ("tir.exp", "tir.log", "tir.tanh", "tir.sigmoid", "tir.sqrt", "tir.abs", "tir.neg", "tir.sin", "tir.softplus",
         "tir.log1p", "tir.erf", "tir.floor", "tir.sqr", "tir.reciprocal")
BINARY = ("tir.add", "tir.sub", "tir.mul", "tir.true_div", "tir.maximum", "tir.minimum", "tir.pow", "tir.arctan2")


@st.composite
def bodies(draw: st.DrawFn) -> ElementwiseBody:
    """1 to 3 float operands of one dtype, 1 to 5 ops each reading earlier values, 1 or 2 outputs."""
    dtype = draw(st.sampled_from(FLOATS))
    n_in = draw(st.integers(1, 3))
    body = ElementwiseBody([dtype] * n_in, [])
    for _ in range(draw(st.integers(1, 5))):
        count = n_in + len(body.ops)
        if draw(st.booleans()):
            name, operands = draw(st.sampled_from(UNARY)), (draw(st.integers(0, count - 1)),)
        else:
            name = draw(st.sampled_from(BINARY))
            operands = (draw(st.integers(0, count - 1)), draw(st.integers(0, count - 1)))
        body.ops.append((name, {}, operands, dtype))
    last = n_in + len(body.ops) - 1
    body.outputs = sorted({last, draw(st.integers(0, last))})
    body.output_dtypes = [dtype] * len(body.outputs)
    body.validate()
    return body


@needs_ptxas
@settings(max_examples=4)
@given(body=bodies(), scalars=st.lists(st.booleans(), min_size=3, max_size=3), chip=st.sampled_from(CHIPS))
def test_random_bodies_assemble(body: ElementwiseBody, scalars: list[bool], chip: str) -> None:
    flags = scalars[:len(body.input_dtypes)]
    kernels = [flat_kernel("flat", body, flags), vector_kernel("vector", body, flags),
               strided_kernel("strided", body, 3)]
    assert entries(assembled_ptx(kernels, chip)) == ["flat", "vector", "strided"]
