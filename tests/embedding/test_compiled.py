"""Compiling built modules with a chosen pipeline and calling them: against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorir import embedding as te


def _mlp_module(dtype: str) -> object:
    b = te.ModuleBuilder("layer")
    x = b.argument("x", dtype, (None, 4))
    w = b.argument("w", dtype, (4, 3))
    bias = b.argument("bias", dtype, (3,))
    h = b.op("tir.tanh", b.op("tir.add", b.op("tir.dot", x, w), bias))
    total = b.op("tir.sum", b.op("tir.exp", h), axis=(1,))
    return b.finish([h, total])


def _reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.tanh(x @ w + bias)
    return h, np.exp(h).sum(axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pipeline", ["fast_run", "fast_compile", "none", ["canonicalize", "cse", "fuse", "dce"]])
def test_pipelines_agree_with_numpy(dtype: str, pipeline: object) -> None:
    compiled = te.compile_module(_mlp_module(dtype), pipeline=pipeline)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(dtype) for s in ((7, 4), (4, 3), (3,))]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(compiled(*args), _reference(*args)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@given(rows=st.integers(0, 40), dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
def test_any_batch_size(rows: int, dtype: str, seed: int) -> None:
    compiled = _COMPILED[dtype]
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal(s).astype(dtype) for s in ((rows, 4), (4, 3), (3,))]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(compiled(*args), _reference(*args)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


_COMPILED = {d: te.compile_module(_mlp_module(d)) for d in ("float32", "float64")}


def test_signature_keywords_and_reference_executor() -> None:
    compiled = te.compile_module(_mlp_module("float64"), executor="reference")
    sig = compiled.signature
    assert [p.name for p in sig.inputs] == ["x", "w", "bias"]
    assert sig.inputs[0] == te.Parameter("x", "float64", (None, 4))
    assert [p.shape for p in sig.outputs] == [(None, 3), (None,)]
    assert te.Signature.from_json(sig.to_json()) == sig
    assert compiled.signature_text() == "layer(x: float64[?,4], w: float64[4,3], bias: float64[3]) -> " \
                                        "(float64[?,3], float64[?])"
    rng = np.random.default_rng(1)
    x, w, bias = rng.standard_normal((2, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    got = compiled(bias=bias, x=x, w=w)
    np.testing.assert_allclose(got[0], _reference(x, w, bias)[0], rtol=1e-12)


def test_bad_calls_name_the_input() -> None:
    compiled = _COMPILED["float64"]
    x, w, bias = np.ones((2, 4)), np.ones((4, 3)), np.ones(3)
    with pytest.raises(TypeError, match=r"missing argument\(s\) \['bias'\]"):
        compiled(x, w)
    with pytest.raises(TypeError, match="no input named 'b'"):
        compiled(x, w, b=bias)
    with pytest.raises(ValueError, match='input "w".*static shape'):
        compiled(x, np.ones((4, 2)), bias)
    with pytest.raises(TypeError, match='input "x".*float32'):
        _COMPILED["float32"](x, w, bias)  # float64 into float32 only with a downcast
    with pytest.raises(ValueError, match="pipeline='fastest'"):
        te.compile_module(_mlp_module("float64"), pipeline="fastest")
    with pytest.raises(ValueError, match="executor='gpu'"):
        te.compile_module(_mlp_module("float64"), executor="gpu")


def test_outputs_are_owned_by_the_caller() -> None:
    b = te.ModuleBuilder("ident")
    x = b.argument("x", "float64", (None,))
    compiled = te.compile_module(b.finish([x, b.constant(np.arange(3.0))]))
    a = np.ones(4)
    same, const = compiled(a)
    assert not np.shares_memory(same, a)
    const[0] = 7.0  # writable, and the next call still sees the constant
    assert compiled(a)[1][0] == 0.0


def test_dlpack_output_format() -> None:
    torch = pytest.importorskip("torch")
    compiled = te.compile_module(_mlp_module("float32"), output_format="dlpack")
    args = [np.ones(s, "float32") for s in ((2, 4), (4, 3), (3,))]
    h, _ = (torch.utils.dlpack.from_dlpack(c) for c in compiled(*args))
    np.testing.assert_allclose(h.numpy(), _reference(*args)[0], rtol=1e-5)
