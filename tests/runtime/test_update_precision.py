"""Updates folded into a product's accumulation keep the precision of a separate subtraction.

``W - lr * dot(g, x.T)`` is one gemm into ``W`` (passes/blas.py). When the product's inner size
passes BLAS's K-block, BLAS would add each block's partial sum into ``W`` and round it at ``W``'s
magnitude; the BLAS step then accumulates the product apart and adds it once
(runtime/native_blas.py, ``FOLDED_MAX_K``). The updated parameter is compared with a float64
reference computed from the same float32 operands, in float32 ulps of the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.native_blas import FOLDED_MAX_K


def ulp_errors(got: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|got - reference|`` in ulps of ``reference`` rounded to ``got``'s dtype."""
    spacing = np.spacing(np.abs(reference).astype(got.dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - reference) / spacing


def _update(form: str, m: int, k: int, n: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(updated parameter, float64 reference) of one SGD-like step on a parameter of magnitude
    0.5-2 whose step is about a hundredth of it (most of the step's bits lie below W's ulp)."""
    rng = np.random.default_rng(seed)
    lr = float(np.asarray(0.01 / np.sqrt(k), dtype))  # exact in dtype: the reference uses the same
    w0 = rng.uniform(0.5, 2.0, (m, n) if form != "gemv" else (m,)).astype(dtype)
    w = tr.shared(w0.copy(), name="W")
    g = T.matrix("g", dtype=dtype)
    if form == "gemv":
        v = T.vector("v", dtype=dtype)
        gv, vv = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal(k).astype(dtype)
        step = tr.function([g, v], [], updates=[(w, w - lr * T.dot(g, v))])
        step(gv, vv)
        exact = gv.astype(np.float64) @ vv.astype(np.float64)
    else:
        x = T.matrix("x", dtype=dtype)
        shapes = {"nt": ((m, k), (n, k)), "tn": ((k, m), (k, n)), "nn": ((m, k), (k, n))}[form]
        gv, xv = (rng.standard_normal(s).astype(dtype) for s in shapes)
        product = T.dot(*{"nt": (g, x.T), "tn": (g.T, x), "nn": (g, x)}[form])
        step = tr.function([g, x], [], updates=[(w, w - lr * product)])
        step(gv, xv)
        g64, x64 = gv.astype(np.float64), xv.astype(np.float64)
        exact = {"nt": lambda: g64 @ x64.T, "tn": lambda: g64.T @ x64, "nn": lambda: g64 @ x64}[form]()
    return w.get_value(), w0.astype(np.float64) - lr * exact


@pytest.mark.parametrize("form", ["nt", "tn", "nn", "gemv"])
@pytest.mark.parametrize("k", [FOLDED_MAX_K // 2, 16 * FOLDED_MAX_K])
@pytest.mark.parametrize("columns", [48, 10])  # 10: the skinny kernels' (runtime/native_blas.py)
def test_folded_update_within_one_ulp_float32(form: str, k: int, columns: int) -> None:
    if form == "gemv" and columns != 48:
        pytest.skip("a vector has one column")
    m, n = (64, columns) if form != "gemv" else (96, 1)
    got, reference = _update(form, m, k, n, "float32")
    errors = ulp_errors(got, reference)
    # A separate product and subtraction: 0.25 ulp mean, under 1 at most. Rounding once per
    # K-block of BLAS instead gave 1.2 mean (6-8 at most) at k = 8192.
    assert errors.mean() <= 0.5, f"{form} k={k}: mean {errors.mean():.3f} ulp, max {errors.max():.2f}"
    worst = np.unravel_index(errors.argmax(), errors.shape)
    assert errors.max() <= 1.5, f"{form} k={k}: {errors.max():.2f} ulp at {worst}: {got[worst]} vs {reference[worst]}"


@pytest.mark.parametrize("form", ["nt", "gemv"])
def test_folded_update_float64(form: str) -> None:
    got, reference = _update(form, 32, 4 * FOLDED_MAX_K, 24, "float64")
    np.testing.assert_allclose(got, reference, rtol=1e-14, atol=0)


@pytest.mark.parametrize("batch", [20, FOLDED_MAX_K])  # small_inner's inner sizes; joined past the K-block
def test_tied_weight_update_joined_within_one_ulp_float32(batch: int) -> None:
    """A weight used twice (``x @ W`` and ``h @ W.T``) gets its two gradient products joined into
    one product over both minibatches (passes/blas.py ``JoinChainedProducts``), folded into W."""
    rng = np.random.default_rng(3)
    m, n = 96, 40
    lr = float(np.float32(0.01 / np.sqrt(batch)))
    w0 = rng.uniform(0.5, 2.0, (m, n)).astype(np.float32)
    w = tr.shared(w0.copy(), name="W")
    x, dh, h, dz = (T.matrix(name, dtype="float32") for name in ("x", "dh", "h", "dz"))
    gradient = T.dot(x.T, dh) + T.dot(h.T, dz).T
    step = tr.function([x, dh, h, dz], [], updates=[(w, w - lr * gradient)])
    assert step.ir().count("\"tir.gemm\"") == 1
    values = [rng.standard_normal(s).astype(np.float32) for s in ((batch, m), (batch, n), (batch, n), (batch, m))]
    step(*values)
    x64, dh64, h64, dz64 = (v.astype(np.float64) for v in values)
    reference = w0.astype(np.float64) - lr * (x64.T @ dh64 + dz64.T @ h64)
    errors = ulp_errors(w.get_value(), reference)
    assert errors.mean() <= 0.5, f"batch {batch}: mean {errors.mean():.3f} ulp, max {errors.max():.2f}"
    assert errors.max() <= 1.5
