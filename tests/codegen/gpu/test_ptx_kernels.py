"""Every GPU kernel family lowers to PTX that ``ptxas`` accepts, for sm_80 and sm_90, in float32 and
float64 (no GPU needed; nothing here checks numbers: that needs a device, ``pytest -m gpu``)."""

from __future__ import annotations

import re

import pytest

from tensorir.codegen.cpu import lower_elementwise as cpu_elementwise
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import ROW_OPS
from tensorir.codegen.cpu.lower_reduction import NATIVE_REDUCTIONS
from tensorir.codegen.cpu.scalar_ops import LOWERINGS, NotLowerable
from tensorir.codegen.gpu import lower_elementwise as gpu_elementwise
from tensorir.codegen.gpu.lower_nn import row_kernel
from tensorir.codegen.gpu.lower_reduction import columns_kernel, rows_kernel
from tensorir.dialects.opdef import IRError
from tensorir.dialects.registry import _build
from tensorir.dialects.types import TensorType

from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas

REGISTRY = _build()
pytestmark = needs_ptxas


def lone_op_body(name: str, dtype: str) -> ElementwiseBody | None:
    """``name`` applied to operands of ``dtype`` (a bool condition for ``switch``), None where
    the op does not take that dtype."""
    opdef = REGISTRY[name]
    inputs = [dtype] * opdef.arity
    if name == "tir.switch":
        inputs[0] = "bool"
    try:
        (out,) = opdef.infer([TensorType(d, ()) for d in inputs], opdef.attributes)
        body = ElementwiseBody(inputs, [out.dtype], [(name, dict(opdef.attributes), tuple(range(opdef.arity)),
                                                      out.dtype)], [opdef.arity])
        body.validate()
    except (IRError, NotLowerable):
        return None
    return body


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dtype", [*FLOATS, "int32", "bool"])
def test_every_scalar_op_assembles(dtype: str, chip: str) -> None:
    bodies = {name: lone_op_body(name, dtype) for name in sorted(LOWERINGS)}
    kernels = [gpu_elementwise.flat_kernel(name[4:], body, [False] * len(body.input_dtypes))
               for name, body in bodies.items() if body is not None]
    assert len(kernels) >= (50 if dtype in FLOATS else 10)
    ptx = assembled_ptx(kernels, chip)
    assert len(entries(ptx)) == len(kernels)


def _fused_body(dtype: str) -> ElementwiseBody:
    """``(tanh(exp(x) + y), x < y and c)``: a transcendental chain, a comparison, a bool operand."""
    return ElementwiseBody([dtype, dtype, "bool"], [dtype, "bool"],
                           [("tir.exp", {}, (0,), dtype), ("tir.add", {}, (3, 1), dtype), ("tir.tanh", {}, (4,), dtype),
                            ("tir.lt", {}, (0, 1), "bool"), ("tir.and", {}, (6, 2), "bool")], [5, 7])


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise_variants_assemble(dtype: str, chip: str) -> None:
    body = _fused_body(dtype)
    kernels = [gpu_elementwise.flat_kernel("flat", body, [False, True, False]),
               gpu_elementwise.vector_kernel("vector", body, [False, True, False]),
               gpu_elementwise.vector_kernel("vector_all_full", body, [False, False, False])]
    kernels += [gpu_elementwise.strided_kernel(f"strided{rank}", body, rank) for rank in (1, 2, 4)]
    ptx = assembled_ptx(kernels, chip)
    assert entries(ptx) == ["flat", "vector", "vector_all_full", "strided1", "strided2", "strided4"]
    vector = ptx.split(".entry vector_all_full(", 1)[1].split(".entry", 1)[0]
    # One 16-byte access per float array: v4 of float32, v2 of float64, read through the nc cache.
    width = "v4.b32" if dtype == "float32" else "v2.b64"
    assert f"ld.global.nc.{width}" in vector and f"st.global.{width}" in vector


def test_vector_lanes_and_alignment() -> None:
    assert gpu_elementwise.vector_lanes(["float32"]) == 4
    assert gpu_elementwise.vector_lanes(["float32", "float64"]) == 2
    assert gpu_elementwise.vector_lanes(["bool"]) == 4
    body = _fused_body("float32")
    # x (f32, 4 lanes of 4 bytes), y broadcast (one element), c (bool), then the two outputs.
    assert gpu_elementwise.vector_alignment(body, [False, True, False]) == [16, 1, 4, 16, 4]


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_reductions_assemble(dtype: str, chip: str) -> None:
    fused = ElementwiseBody([dtype, dtype], [dtype], [("tir.exp", {}, (0,), dtype), ("tir.mul", {}, (2, 1), dtype)],
                            [3])
    kernels = []
    for reduction in NATIVE_REDUCTIONS:
        out = "bool" if reduction in ("tir.all", "tir.any") else dtype
        short = reduction[4:]
        kernels.append(rows_kernel(f"rows_{short}", ElementwiseBody.identity(dtype), reduction, out, [False]))
        kernels.append(columns_kernel(f"columns_{short}", ElementwiseBody.identity(dtype), reduction, out, [False]))
    kernels.append(rows_kernel("rows_fused_sum", fused, "tir.sum", dtype, [False, True]))
    kernels.append(columns_kernel("columns_fused_max", fused, "tir.max", dtype, [False, False]))
    ptx = assembled_ptx(kernels, chip)
    assert len(entries(ptx)) == len(kernels)
    rows_sum = ptx.split(".entry rows_sum(", 1)[1].split(".entry", 1)[0]
    # Two butterflies of five steps (the warp, then the warps' partials); a 64-bit value moves
    # as two 32-bit shuffles.
    assert rows_sum.count("shfl.sync.bfly.b32") == (10 if dtype == "float32" else 20)
    assert "bar.sync" in rows_sum and ".shared" in rows_sum


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint16", "bool"])
def test_integer_reductions_assemble(dtype: str, chip: str) -> None:
    kernels = []
    for reduction in NATIVE_REDUCTIONS:
        out = "bool" if reduction in ("tir.all", "tir.any") else dtype
        kernels.append(rows_kernel(f"rows_{reduction[4:]}", ElementwiseBody.identity(dtype), reduction, out, [False]))
    assert len(entries(assembled_ptx(kernels, chip))) == len(kernels)


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_row_kernels_assemble(dtype: str, chip: str) -> None:
    kernels = [row_kernel(op[4:], op, dtype, "int32") for op in ROW_OPS]
    kernels.append(row_kernel("crossentropy_int64_labels", "tir.softmax_crossentropy", dtype, "int64"))
    ptx = assembled_ptx(kernels, chip)
    assert entries(ptx) == [op[4:] for op in ROW_OPS] + ["crossentropy_int64_labels"]
    assert "shfl.sync.bfly" in ptx and "ld.global.nc" in ptx


def test_row_kernel_refuses_what_the_cpu_refuses() -> None:
    with pytest.raises(NotLowerable):
        row_kernel("k", "tir.softmax", "int32")
    with pytest.raises(NotLowerable):
        row_kernel("k", "tir.softmax_crossentropy", "float32")  # no labels' dtype
    with pytest.raises(NotLowerable):
        row_kernel("k", "tir.sum", "float32")


_SSA = re.compile(r"%[A-Za-z_][\w]*|%\d+")


def _scalar_ops(kernel: str) -> list[str]:
    """The ``arith``/``math`` ops of the kernel's element loop, constants written as their values
    and other SSA names numbered in order of appearance (addresses and loop bounds left out)."""
    constants = dict(re.findall(r"^\s*(%\w+) = arith\.constant (.+)$", kernel, re.MULTILINE))
    loop = kernel.split("scf.for %i", 1)[1]
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        name = match.group(0)
        if name in constants:
            return f"({constants[name]})"
        return names.setdefault(name, f"%{len(names)}")

    lines = [line.strip() for line in loop.splitlines()]
    return [_SSA.sub(rename, line) for line in lines if re.match(r"%\w+ = (arith|math)\.", line)]


@pytest.mark.parametrize("dtype", FLOATS)
def test_gpu_elementwise_emits_the_cpus_scalar_body(dtype: str) -> None:
    """One definition per op, two targets: the flat kernels' element loops hold the same ops."""
    body = _fused_body(dtype)
    cpu = _scalar_ops(cpu_elementwise.flat_kernel("k", body, [False, False, False]))
    gpu = _scalar_ops(gpu_elementwise.flat_kernel("k", body, [False, False, False]))
    assert len(cpu) > 20 and cpu == gpu
