"""The NaN guard's counting kernel against NumPy, and its compiled code (vectorized)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.codegen.cpu.lower_bad_values import bad_values_kernel
from tensorir.runtime.monitors import BadValueCounter

_COUNTER = BadValueCounter(big=1e6)


def numpy_counts(a: np.ndarray, big: float) -> tuple[int, int, int]:
    with np.errstate(invalid="ignore"):
        return (int(np.isnan(a).sum()), int(np.isinf(a).sum()), int((np.isfinite(a) & (np.abs(a) > big)).sum()))


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), size=st.integers(0, 300),
       seed=st.integers(0, 2**31 - 1), strided=st.booleans())
def test_counts_match_numpy(dtype, size, seed, strided):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=size * (2 if strided else 1)).astype(dtype) * 1e3
    specials = np.array([np.nan, np.inf, -np.inf, 2e6, -3e6, 1e5], dtype=dtype)
    if a.size:
        positions = rng.integers(0, a.size, size=min(a.size, 12))
        a[positions] = rng.choice(specials, size=positions.size)
    view = a[::2] if strided else a
    assert tuple(_COUNTER.count(view)) == numpy_counts(view, 1e6)


def test_other_dtypes():
    assert tuple(_COUNTER.count(np.array([1, 2], dtype=np.int64))) == (0, 0, 0)
    half = np.array([np.nan, np.inf, 1.0], dtype=np.float16)
    assert tuple(_COUNTER.count(half)) == (1, 1, 0)
    complex_values = np.array([complex(np.nan, 0), complex(1, np.inf)])
    assert tuple(_COUNTER.count(complex_values)) == (1, 1, 0)
    fortran = np.asfortranarray(np.array([[np.nan, 1.0], [2.0, np.inf]], dtype=np.float32))
    assert tuple(_COUNTER.count(fortran)) == (1, 1, 0)


def test_big_threshold_above_float32_range_counts_nothing_finite():
    counter = BadValueCounter(big=1e300)
    a = np.array([3e38, np.inf], dtype=np.float32)
    assert tuple(counter.count(a)) == (0, 1, 0)


@pytest.mark.parametrize("element", ["f32", "f64"])
def test_kernel_vectorizes(element):
    from tensorir.codegen.cpu.jit import compile_mlir

    module = compile_mlir(bad_values_kernel(element))
    scalar = "float" if element == "f32" else "double"
    assert f"x {scalar}>" in module.llvm_ir, module.llvm_ir


def test_unknown_element_type():
    with pytest.raises(ValueError, match="f16"):
        bad_values_kernel("f16")
