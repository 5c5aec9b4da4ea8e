"""Accuracy of the vectorizable approximations against NumPy/SciPy, in ulps, f32 and f64.

Each approximation is compiled into an elementwise range kernel, run on wide random ranges,
log-uniform magnitudes (near zero to huge) and special values, and compared with a float64
reference (mpmath where NumPy/SciPy flush tails to zero).
"""

from __future__ import annotations

import ctypes
import functools
import math
import zlib

import mpmath
import numpy as np
import pytest
import scipy.special

from tensorir.codegen.cpu.approx import APPROXIMATIONS, BINARY_OPS
from tensorir.codegen.cpu.jit import compile_mlir, memref_args
from tensorir.codegen.cpu.mlir_text import range_kernel

_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_MEMREF = [_PTR, _PTR, _I64, _I64, _I64]
_TYPES = {np.float32: "f32", np.float64: "f64"}


@functools.cache
def _kernel(name: str, dtype: type) -> tuple[object, object]:
    ftype = _TYPES[dtype]
    arity = 2 if name in BINARY_OPS else 1
    text = range_kernel("kernel", [ftype] * arity, [ftype], lambda e, v: [APPROXIMATIONS[name](e, *v, ftype)])
    module = compile_mlir(text)
    function = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * (arity + 1)))(module.address("kernel"))
    return module, function


def evaluate(name: str, dtype: type, *inputs: np.ndarray) -> np.ndarray:
    """Run the compiled approximation ``name`` elementwise."""
    _, function = _kernel(name, dtype)
    inputs = [np.ascontiguousarray(x, dtype=dtype) for x in inputs]
    out = np.empty_like(inputs[0])
    args = [a for x in inputs + [out] for a in memref_args(x)]
    function(0, out.shape[0], *args)
    return out


def ulp_error(got: np.ndarray, reference: np.ndarray, dtype: type) -> np.ndarray:
    """|got - reference| in units of the spacing of ``dtype`` at the reference (0 where both
    are the same inf/nan; inf where only one is)."""
    reference = np.asarray(reference, np.float64)
    with np.errstate(all="ignore"):
        ref_in_dtype = reference.astype(dtype)
        same = (got.astype(np.float64) == reference) | (np.isnan(got) & np.isnan(reference))
        same |= np.isinf(ref_in_dtype) & (got == ref_in_dtype)
        spacing = np.spacing(np.abs(ref_in_dtype)).astype(np.float64)
        spacing = np.maximum(spacing, float(np.finfo(dtype).smallest_subnormal))
        error = np.abs(got.astype(np.float64) - reference) / spacing
    error[same] = 0.0
    error[np.isnan(error)] = np.inf
    return error


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    ex = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + ex), ex / (1 + ex))


def _erfc_reference(x: np.ndarray) -> np.ndarray:
    # SciPy's erfc is off by ~20 ulps near x = 4 and by hundreds in the far tail; use mpmath there.
    ref = scipy.special.erfc(x)
    tail = np.nonzero((x > 0.5) & (x < 40.0))[0]  # erfc(40) underflows to 0
    ref[tail] = [float(mpmath.erfc(mpmath.mpf(float(v)))) for v in x[tail]]
    return ref


REFERENCES = {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "tanh": np.tanh, "sigmoid": _stable_sigmoid,
    "softplus": lambda x: np.logaddexp(0.0, x), "erf": scipy.special.erf, "erfc": _erfc_reference,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "sqrt": np.sqrt, "absolute": np.abs,
    "floor": np.floor, "ceil": np.ceil, "rint": np.rint, "trunc": np.trunc,
}

# (low, high) of the test inputs; beyond float32's range values are clipped when cast.
RANGES = {
    "exp": (-800, 800), "exp2": (-1100, 1100), "expm1": (-800, 800), "log": (0, 1e308),
    "log2": (0, 1e308), "log10": (0, 1e308), "log1p": (-1, 1e308), "tanh": (-40, 40),
    "sigmoid": (-800, 800), "softplus": (-800, 800), "erf": (-30, 30), "erfc": (-30, 26.5),
    "sin": (-1e5, 1e5), "cos": (-1e5, 1e5), "tan": (-1e5, 1e5), "arcsin": (-1, 1),
    "arccos": (-1, 1), "arctan": (-1e300, 1e300), "sinh": (-800, 800), "cosh": (-800, 800),
    "sqrt": (0, 1e308), "absolute": (-1e300, 1e300), "floor": (-1e20, 1e20), "ceil": (-1e20, 1e20),
    "rint": (-1e20, 1e20), "trunc": (-1e20, 1e20),
}

# Bounds sit about one ulp above the measured maxima (ulps against a float64 reference).
ULP_BOUNDS = {np.float32: 2.0, np.float64: 2.0}
ULP_OVERRIDES = {
    ("tanh", np.float32): 3.0, ("sigmoid", np.float32): 3.5, ("tanh", np.float64): 4.0,
    ("sigmoid", np.float64): 4.0, ("softplus", np.float64): 3.0, ("erf", np.float64): 4.0,
    ("erfc", np.float64): 5.0, ("sinh", np.float64): 4.0, ("tan", np.float64): 4.0,
    ("sin", np.float64): 3.0, ("cos", np.float64): 3.0, ("expm1", np.float64): 3.0,
    ("arcsin", np.float64): 3.0, ("arctan", np.float64): 3.0, ("cosh", np.float64): 3.0,
}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-40, -1e-40, 5e-324,
            -1e-310, 1e-310, 3e38, -3e38, 1e300, -1e300, 88.72, 88.73, 89.5, -87.5, -103.9, -104.5,
            709.78, 709.8, 710.5, -745.1, -745.2, 1e-8, -1e-8, 1e-20, 26.0, -26.0]


def _inputs(name: str, dtype: type, count: int = 60_000) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dtype.__name__}".encode()))
    low, high = RANGES[name]
    biggest = max(abs(low), abs(high))
    uniform = rng.uniform(low, high, count)
    # Log-uniform magnitudes from the denormals up to the range limit, both signs.
    smallest = float(np.finfo(dtype).smallest_subnormal)
    magnitudes = np.exp(rng.uniform(math.log(smallest), math.log(biggest), count))
    logs = np.where(rng.random(count) < 0.5, -1.0, 1.0) * magnitudes
    near_one = 1.0 + rng.uniform(-1e-3, 1e-3, count // 4)
    x = np.concatenate([uniform, logs, near_one, -near_one])
    x = x[(x >= low) & (x <= high)]
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    return x[np.isfinite(x)]


def _report(name: str, dtype: type, x: np.ndarray, got: np.ndarray, ref: np.ndarray, err: np.ndarray) -> str:
    i = int(np.argmax(err))
    return (f"{name} {dtype.__name__}: max error {err[i]:.3g} ulp at x={x[i]!r}: "
            f"got {got[i]!r}, reference {ref[i]!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_unary_accuracy(name: str, dtype: type) -> None:
    x = _inputs(name, dtype)
    got = evaluate(name, dtype, x)
    with np.errstate(all="ignore"):
        ref = REFERENCES[name](x.astype(np.float64))
    err = ulp_error(got, ref, dtype)
    bound = ULP_OVERRIDES.get((name, dtype), ULP_BOUNDS[dtype])
    assert err.max() <= bound, _report(name, dtype, x, got, ref, err)


TRIG = {"sin", "cos", "tan"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_unary_special_values(name: str, dtype: type) -> None:
    with np.errstate(all="ignore"):
        x = np.array(SPECIALS, dtype=dtype)
    if name in TRIG:  # beyond the documented accurate range of the Cody-Waite reduction
        x = x[~(np.abs(x) > 1e6)]
    got = evaluate(name, dtype, x)
    with np.errstate(all="ignore"):
        ref = REFERENCES[name](x.astype(np.float64))
        ref_in_dtype = ref.astype(dtype)
    err = ulp_error(got, ref, dtype)
    bound = ULP_OVERRIDES.get((name, dtype), ULP_BOUNDS[dtype])
    assert err.max() <= bound, _report(name, dtype, x, got, ref, err)
    exact = ~np.isnan(ref_in_dtype) & ((ref_in_dtype == 0) | np.isinf(ref_in_dtype))
    # Signed zeros and infinities match exactly (e.g. tanh(-0) = -0, log(0) = -inf).
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(ref_in_dtype[exact]),
                                  err_msg=f"{name}: sign of zero/inf for x={x[exact]}")


def test_trig_huge_arguments_stay_bounded() -> None:
    x = np.array([1e7, -3e9, 1e15, 3e38, -3e38], np.float64)
    for name in ("sin", "cos"):
        for dtype in (np.float32, np.float64):
            got = evaluate(name, dtype, x.astype(dtype))
            assert np.all(np.abs(got[np.isfinite(got)]) <= 1), (name, got)


def test_erfc_far_tail_against_mpmath() -> None:
    # SciPy flushes erfc to 0 before the float64 denormal range ends; mpmath does not.
    x = np.array([20.0, 25.0, 26.5, 26.6, 26.9, 27.2, 27.3, 28.0, 40.0])
    got = evaluate("erfc", np.float64, x)
    ref = np.array([float(mpmath.erfc(mpmath.mpf(v))) for v in x])
    err = ulp_error(got, ref, np.float64)
    assert err.max() <= 4, _report("erfc", np.float64, x, got, ref, err)


def test_sigmoid_denormal_tail() -> None:
    x = np.array([-100.0, -103.0, -700.0, -740.0])
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        got = evaluate("sigmoid", dtype, xd)
        ref = np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in xd])
        err = ulp_error(got, ref, dtype)
        assert err.max() <= 3, _report("sigmoid", dtype, xd, got, ref, err)


def test_f32_exp_of_negated_abs() -> None:
    # Fused as exp(-abs(y)), LLVM proves the sign and drops the x >= 0 scaling and the upper clamp
    # of the f32 exp; the remaining branch must still give denormals, 0 and nan.
    text = range_kernel("kernel", ["f32"], ["f32"],
                        lambda e, v: [APPROXIMATIONS["exp"](e, e.neg(e.abs(v[0], "f32"), "f32"), "f32")])
    module = compile_mlir(text)
    function = ctypes.CFUNCTYPE(None, _I64, _I64, *(_MEMREF * 2))(module.address("kernel"))
    rng = np.random.default_rng(5)
    with np.errstate(all="ignore"):
        x = np.concatenate([np.array(SPECIALS, np.float32), rng.uniform(-110, 110, 50_000).astype(np.float32)])
    out = np.empty_like(x)
    function(0, x.size, *memref_args(x), *memref_args(out))
    ref = np.exp(-np.abs(x.astype(np.float64)))
    err = ulp_error(out, ref, np.float32)
    assert err.max() <= ULP_BOUNDS[np.float32], _report("exp(-abs)", np.float32, x, out, ref, err)


def test_f32_tanh_and_sigmoid_stay_in_range() -> None:
    # Dense near the point where tanh rounds to 1 and out to inf: never past +-1, exactly +-1 there.
    x = np.concatenate([np.linspace(0.0, 12.0, 200_001), [20.0, 1e30, np.inf]]).astype(np.float32)
    for sign in (1, -1):
        got = evaluate("tanh", np.float32, sign * x)
        assert np.all(np.abs(got) <= 1)
        np.testing.assert_array_equal(got[x >= 9.1], np.float32(sign))
        s = evaluate("sigmoid", np.float32, sign * x)
        assert np.all((s >= 0) & (s <= 1))


def _pairs(values: list[float], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    grid_a, grid_b = np.meshgrid(np.array(values, dtype), np.array(values, dtype))
    return grid_a.ravel().copy(), grid_b.ravel().copy()


def _assert_same_special(name: str, a: np.ndarray, b: np.ndarray, got: np.ndarray, ref: np.ndarray) -> None:
    tolerance = 2 * np.spacing(np.abs(ref))
    ok = (np.isnan(got) & np.isnan(ref)) | ((got == ref) & (np.signbit(got) == np.signbit(ref)))
    with np.errstate(invalid="ignore"):
        ok |= np.isfinite(ref) & (np.abs(got - ref) <= tolerance) & (ref != 0)
    bad = np.nonzero(~ok)[0]
    assert bad.size == 0, f"{name}: " + ", ".join(f"({a[i]!r}, {b[i]!r}) -> {got[i]!r}, want {ref[i]!r}"
                                                  for i in bad[:10])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_power_special_cases(dtype: type) -> None:
    values = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, np.inf, -np.inf, np.nan,
              1e-3, 10.0, 2.5, -2.5, 1e-310 if dtype is np.float64 else 1e-40]
    x, y = _pairs(values, dtype)
    got = evaluate("power", dtype, x, y)
    with np.errstate(all="ignore"):
        ref = np.power(x, y)
    _assert_same_special("power", x, y, got, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_power_accuracy(dtype: type) -> None:
    rng = np.random.default_rng(3)
    count = 40_000
    log_max = 80.0 if dtype is np.float32 else 700.0
    x = np.concatenate([rng.uniform(0, 10, count), np.exp(rng.uniform(-log_max, log_max, count))])
    x = x.astype(dtype)
    y = np.concatenate([rng.uniform(-30, 30, count), rng.uniform(-1, 1, count)]).astype(dtype)
    negative = rng.random(x.size) < 0.3  # negative bases with integral exponents
    x = np.where(negative, -x, x)
    y = np.where(negative, np.round(y), y).astype(dtype)
    got = evaluate("power", dtype, x, y)
    with np.errstate(all="ignore"):
        if dtype is np.float32:
            ref = np.power(x.astype(np.float64), y.astype(np.float64))
        else:  # NumPy's float64 pow is itself off by up to ~1 ulp; check a subset in mpmath
            x, y, got = x[::40], y[::40], got[::40]
            ref = np.array([float(mpmath.power(mpmath.mpf(float(a)), mpmath.mpf(float(b))))
                            for a, b in zip(x, y)])
    err = ulp_error(got, ref, dtype)
    bound = 1.0 if dtype is np.float32 else 4.0
    i = int(np.argmax(err))
    assert err[i] <= bound, (f"power {dtype.__name__}: {err[i]:.3g} ulp at {x[i]!r}**{y[i]!r}: "
                             f"{got[i]!r} vs {ref[i]!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_arctan2(dtype: type) -> None:
    rng = np.random.default_rng(4)
    y = (rng.standard_normal(50_000) * np.exp(rng.uniform(-30, 30, 50_000))).astype(dtype)
    x = (rng.standard_normal(50_000) * np.exp(rng.uniform(-30, 30, 50_000))).astype(dtype)
    got = evaluate("arctan2", dtype, y, x)
    ref = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    err = ulp_error(got, ref, dtype)
    i = int(np.argmax(err))
    assert err[i] <= 3, f"arctan2: {err[i]:.3g} ulp at ({y[i]!r}, {x[i]!r}): {got[i]!r} vs {ref[i]!r}"
    a, b = _pairs([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30], dtype)
    got = evaluate("arctan2", dtype, a, b)
    _assert_same_special("arctan2", a, b, got, np.arctan2(a, b))


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin", "copysign"])
def test_binary_math_ops(name: str) -> None:
    a, b = _pairs([0.0, 1.0, -2.0, np.inf, -np.inf, np.nan, 3.5], np.float64)
    got = evaluate(name, np.float64, a, b)
    _assert_same_special(name, a, b, got, getattr(np, name)(a, b))


def test_table_names_are_numpy_names() -> None:
    for name in APPROXIMATIONS:
        assert name in ("sigmoid", "softplus", "erf", "erfc") or hasattr(np, name), name
