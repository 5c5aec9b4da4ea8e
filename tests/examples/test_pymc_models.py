"""The PyMC examples: logp and dlogp compiled by tensorir agree with PyMC's own compilation, and
NUTS on them gives the same posterior means within Monte Carlo error (slow)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymc", reason="the PyMC examples need the [pytensor] extra (PyMC)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import pymc_models  # noqa: E402

import tensorir.pytensor as tp  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTensor's BLAS notice, PyMC's sampler chatter
        yield


@pytest.mark.parametrize("name", sorted(pymc_models.MODELS))
def test_logp_and_dlogp_match_pytensor(name: str) -> None:
    model = pymc_models.MODELS[name]()
    ours, x0, function = pymc_models.logp_dlogp(model, tp.mode())
    theirs, _, _ = pymc_models.logp_dlogp(model, "FAST_COMPILE")  # PyTensor's Python implementations
    assert tp.fallbacks(function) == []
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = x0 + rng.normal(0.0, 0.5, x0.size)
        (logp, dlogp), (want_logp, want_dlogp) = ours(x), theirs(x)
        np.testing.assert_allclose(logp, want_logp, rtol=1e-12)
        np.testing.assert_allclose(dlogp, want_dlogp, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(pymc_models.MODELS))
def test_nuts_posterior_means_agree_with_pymc_default(name: str) -> None:
    ours = pymc_models.sample(pymc_models.MODELS[name](), tp.mode(), draws=500, tune=500, seed=1)
    default = pymc_models.sample(pymc_models.MODELS[name](), None, draws=500, tune=500, seed=2)
    rows = pymc_models.compare_means(ours, default)
    # Independent chains: each mean differs by about one combined MC standard error; allow 4.5
    # (with ~100 scalars, a true difference of that size would be rare under the same posterior).
    worst = max(rows, key=lambda r: r.z)
    assert worst.z < 4.5, (f"{worst.name}: tensorir {worst.mean_a:.4f} vs default {worst.mean_b:.4f} "
                           f"(MCSE {worst.mcse:.4f})")
