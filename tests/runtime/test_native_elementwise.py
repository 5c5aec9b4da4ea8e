"""Native elementwise kernels against the reference executor: every op, dtypes, shapes, layouts.

One executor per (op, dtype) is built once and shared by the hypothesis examples, so each kernel
variant (flat, strided per rank) compiles once (at O1: speed does not matter here).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import RETURN, make_func
from tensorir.dialects.interpret import EvaluationError
from tensorir.dialects.ir import Operation
from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.elementwise import OPS as ELEMENTWISE_OPS
from tensorir.dialects.types import TensorType
from tensorir.runtime.native import NativeExecutor
from tensorir.runtime.reference import ReferenceExecutor

DTYPES = ("float32", "float64", "int32", "uint8", "bool")
NAMES = [op.name for op in ELEMENTWISE_OPS] + ["tir.sigmoid_binary_crossentropy"]
_EXECUTORS: dict[tuple[str, str, int], tuple[NativeExecutor, ReferenceExecutor, list[str]] | None] = {}


def _attrs(name: str, dtype: str) -> dict:
    if name == "tir.cast":
        return {"dtype": "float32" if dtype != "float32" else "int16"}
    if name == "tir.round":
        return {"mode": "half_to_even" if dtype == "float64" else "half_away_from_zero"}
    return {}


def executors(name: str, dtype: str, rank: int):  # noqa: ANN201
    """(native, reference, operand dtypes) for ``name`` on operands of ``dtype``, or None if invalid."""
    key = (name, dtype, rank)
    if key not in _EXECUTORS:
        arity = 3 if name in ("tir.clip", "tir.switch") else 2 if name in _BINARY else 1
        dtypes = [dtype] * arity
        if name == "tir.switch":
            dtypes[0] = "bool"
        types = [TensorType(d, (None,) * rank) for d in dtypes]
        func, block = make_func("f", types)
        b = Builder(block)
        try:
            out = b.op(name, *block.arguments, **_attrs(name, dtype))
        except (IRError, TypeError):
            _EXECUTORS[key] = None
            return None
        block.append(Operation(RETURN, [out], []))
        _EXECUTORS[key] = (NativeExecutor(func, opt_level=1, cache_dir=None), ReferenceExecutor(func), dtypes)
    return _EXECUTORS[key]


_BINARY = {"tir.add", "tir.sub", "tir.mul", "tir.true_div", "tir.int_div", "tir.mod", "tir.pow", "tir.maximum",
           "tir.minimum", "tir.arctan2", "tir.lt", "tir.gt", "tir.le", "tir.ge", "tir.eq", "tir.neq", "tir.and",
           "tir.or", "tir.xor", "tir.sigmoid_binary_crossentropy"}


def random_values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("uint"):
        return rng.integers(0, 7, size=shape).astype(dtype)
    if dtype.startswith("int"):
        return rng.integers(-6, 7, size=shape).astype(dtype)
    values = rng.uniform(-3, 3, size=shape)
    special = rng.random(shape)
    values[special < 0.05] = 0.0
    values[(special > 0.05) & (special < 0.08)] = 0.5
    return values.astype(dtype)


def with_layout(arr: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout: Fortran order, reversed, every other element, or
    contiguous rows with gaps between them (a column slice of a wider array)."""
    if layout == "fortran" and arr.ndim:
        return np.asfortranarray(arr)
    if layout == "reversed" and arr.ndim:
        flipped = np.ascontiguousarray(arr[..., ::-1])
        return flipped[..., ::-1]
    if layout == "step2" and arr.ndim:
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        wide[..., ::2] = arr
        return wide[..., ::2]
    if layout == "columns" and arr.ndim:
        wide = np.zeros(arr.shape[:-1] + (arr.shape[-1] + 3,), arr.dtype)
        wide[..., 1:-2] = arr
        return wide[..., 1:-2]
    return arr


@st.composite
def operand_shapes(draw, n: int, rank: int):  # noqa: ANN001, ANN201
    """Output shape of ``rank`` and per operand a broadcastable shape of the same rank (dims 0..5)."""
    out = tuple(draw(st.lists(st.integers(0, 5), min_size=rank, max_size=rank)))
    shapes = []
    for _ in range(n):
        mask = draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
        shapes.append(tuple(1 if m else d for d, m in zip(out, mask)))
    return shapes


def check_outputs(native: list[np.ndarray], reference: list[np.ndarray], inputs: list[np.ndarray]) -> None:
    for got, want in zip(native, reference):
        assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
        if want.dtype.kind == "f":
            tol = 2e-5 if want.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True,
                                       err_msg=f"inputs: {inputs}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"inputs: {inputs}")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15)
@given(data=st.data())
def test_op_native_matches_reference(name: str, data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    rank = data.draw(st.integers(0, 3), label="rank")
    pair = executors(name, dtype, rank)
    if pair is None:
        return
    native, reference, dtypes = pair
    shapes = data.draw(operand_shapes(len(dtypes), rank), label="shapes")
    layout = st.sampled_from(["c", "fortran", "reversed", "step2", "columns"])
    layouts = data.draw(st.lists(layout, min_size=len(dtypes), max_size=len(dtypes)), label="layouts")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    inputs = [with_layout(random_values(rng, d, s), lay) for d, s, lay in zip(dtypes, shapes, layouts)]
    with np.errstate(all="ignore"):
        try:
            want = reference.run(inputs)
        except EvaluationError:
            with pytest.raises(EvaluationError):
                native.run(inputs)
            return
    got = native.run(inputs)
    check_outputs(got, want, inputs)


def test_every_elementwise_op_has_a_native_lowering() -> None:
    missing = []
    for name in NAMES:
        pair = executors(name, "float64", 1)
        if pair is not None and pair[0].step_kinds[0][1] != "kernel":
            missing.append(name)
    assert not missing, f"no native lowering: {missing}"


def test_large_inputs_run_threaded_and_match() -> None:
    native, reference, _ = executors("tir.tanh", "float32", 1)
    x = np.random.default_rng(0).standard_normal(1 << 18).astype(np.float32)
    check_outputs(native.run([x]), reference.run([x]), [x[:4]])
    native, reference, _ = executors("tir.add", "float32", 2)
    a = np.random.default_rng(1).standard_normal((600, 400)).astype(np.float32)
    b = a[:, :1].copy()
    check_outputs(native.run([a.T, b.T]), reference.run([a.T, b.T]), [])
