"""The device-neutral Philox and uniform emitters, run on the CPU against the NumPy reference of
``tir`` random draws (the GPU's random kernels are made of the same ops); and the GPU's uniform
kernels assemble."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tensorir.codegen.cpu import compile_mlir, memref_args, range_kernel
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_random import uniform_kernel
from tensorir.codegen.gpu.ptx import compile_to_ptx
from tensorir.codegen.gpu.ptxas import assemble, find_ptxas
from tensorir.codegen.philox import emit_philox4x32_10, emit_uniform
from tensorir.dialects.tir.random import philox4x32_10, random_words, seed_state, uniform_from_words

_MEMREF = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]


def _run(text: str, name: str, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
    module = compile_mlir(text)
    arity = len(inputs) + len(outputs)
    function = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, *(_MEMREF * arity))(module.address(name))
    function(0, inputs[0].size, *[a for array in inputs + outputs for a in memref_args(array)])


def test_philox_words_match_the_reference() -> None:
    rng = np.random.default_rng(0)
    counters = [rng.integers(0, 2**32, 500, dtype=np.uint64).astype(np.uint32) for _ in range(4)]
    key = (0xDEADBEEF, 0x01234567)
    keys = [np.full(500, k, dtype=np.uint32) for k in key]
    words = [np.empty(500, np.uint32) for _ in range(4)]
    text = range_kernel("philox", ["i32"] * 6, ["i32"] * 4, lambda e, v: emit_philox4x32_10(e, v[:4], v[4:]))
    _run(text, "philox", counters + keys, words)
    expected = philox4x32_10(counters, key)
    for k in range(4):
        np.testing.assert_array_equal(words[k], expected[k])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniforms_match_the_reference(dtype: str) -> None:
    """A whole draw: the stream's words (as the GPU kernel makes them) to uniforms, bit for bit."""
    per_value = 2 if dtype == "float64" else 1
    words, _ = random_words(seed_state(1234, 5), 4000 * per_value)
    t = "f32" if dtype == "float32" else "f64"
    inputs = [np.ascontiguousarray(words[k::per_value]) for k in range(per_value)]
    out = np.empty(4000, dtype=dtype)
    text = range_kernel("uniform", ["i32"] * per_value, [t], lambda e, v: [emit_uniform(e, v, dtype)])
    _run(text, "uniform", inputs, [out])
    np.testing.assert_array_equal(out, uniform_from_words(words, dtype))
    assert out.min() > 0 and out.max() < 1


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas is not installed")
@pytest.mark.parametrize("chip", ["sm_80", "sm_90"])
def test_uniform_kernels_assemble(chip: str) -> None:
    ptx = compile_to_ptx(gpu_module([uniform_kernel("uniform32", "float32"), uniform_kernel("uniform64", "float64")]),
                         chip)
    cubin, messages = assemble(ptx, chip)
    assert cubin, messages
    assert ".visible .entry uniform32(" in ptx and ".visible .entry uniform64(" in ptx
