"""The PyMC models of the tensorir-backend examples, and the check that two samplings agree.

Shared by ``pymc_eight_schools.py``, ``pymc_radon.py``, ``pymc_logistic.py``, their tests and
``benchmarks/pymc_backends.py``. Each model function returns a ``pm.Model``; ``sample`` runs
PyMC's NUTS with the model's logp and dlogp compiled in a given PyTensor mode (``None``:
PyMC's default backend), and ``compare_means`` says whether two posteriors have the same means
within Monte Carlo error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def eight_schools() -> Any:
    """Rubin's eight schools, non-centred: mu, tau, theta_j = mu + tau * z_j; y_j ~ N(theta_j, sigma_j)."""
    import pymc as pm

    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        z = pm.Normal("z", 0.0, 1.0, shape=8)
        theta = pm.Deterministic("theta", mu + tau * z)
        pm.Normal("y", theta, sigma, observed=y)
    return model


def radon_data(seed: int = 0, counties: int = 85, houses: int = 919) -> dict[str, np.ndarray]:
    """Data in the shape of Gelman and Hill's Minnesota radon survey (log radon by floor, county
    uranium), simulated from a varying-intercept model: the survey itself is not shipped."""
    rng = np.random.default_rng(seed)
    county = rng.integers(0, counties, houses)
    floor = rng.binomial(1, 0.17, houses).astype(float)
    uranium = rng.normal(0.0, 0.35, counties)
    intercept = 1.5 + 0.7 * uranium + rng.normal(0.0, 0.3, counties)
    log_radon = intercept[county] - 0.65 * floor + rng.normal(0.0, 0.75, houses)
    return {"county": county, "floor": floor, "uranium": uranium, "log_radon": log_radon}


def radon(seed: int = 0) -> Any:
    """Varying intercepts by county with a county-level uranium predictor and a floor slope."""
    import pymc as pm

    data = radon_data(seed)
    counties = len(data["uranium"])
    with pm.Model() as model:
        gamma = pm.Normal("gamma", 0.0, 10.0, shape=2)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        z_a = pm.Normal("z_a", 0.0, 1.0, shape=counties)
        a = gamma[0] + gamma[1] * data["uranium"] + sigma_a * z_a
        b = pm.Normal("b", 0.0, 10.0)
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        mean = a[data["county"]] + b * data["floor"]
        pm.Normal("log_radon", mean, sigma_y, observed=data["log_radon"])
    return model


def logistic(seed: int = 0, rows: int = 500, features: int = 5) -> Any:
    """Bayesian logistic regression on simulated data: beta ~ N(0, 2.5), y ~ Bernoulli(logit^-1(X beta + c))."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    true_beta = rng.normal(0.0, 1.0, features)
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(x @ true_beta - 0.5))))
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, 2.5, shape=features)
        c = pm.Normal("c", 0.0, 2.5)
        pm.Bernoulli("y", logit_p=pm.math.dot(x, beta) + c, observed=y)
    return model


MODELS: dict[str, Callable[[], Any]] = {"eight_schools": eight_schools, "radon": radon, "logistic": logistic}


def sample(model: Any, mode: Any, draws: int, tune: int, chains: int = 2, seed: int = 1) -> Any:
    """PyMC's NUTS on ``model``, with logp and dlogp compiled in PyTensor ``mode`` (None: PyMC's default)."""
    import pymc as pm

    with model:
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed, progressbar=False,
                         compute_convergence_checks=False, compile_kwargs={"mode": mode} if mode is not None else None)


@dataclass(frozen=True)
class MeanComparison:
    """One scalar of the posterior: both means, the combined Monte Carlo standard error, and the
    gap in units of it."""

    name: str
    mean_a: float
    mean_b: float
    mcse: float

    @property
    def z(self) -> float:
        return abs(self.mean_a - self.mean_b) / self.mcse if self.mcse > 0 else 0.0


def compare_means(trace_a: Any, trace_b: Any, var_names: list[str] | None = None) -> list[MeanComparison]:
    """Per scalar of the free variables: the two posterior means and their Monte Carlo error."""
    import arviz as az

    names = var_names or [v for v in trace_a.posterior.data_vars]
    mean_a, mean_b = trace_a.posterior.mean(("chain", "draw")), trace_b.posterior.mean(("chain", "draw"))
    mcse_a, mcse_b = az.mcse(trace_a, var_names=names), az.mcse(trace_b, var_names=names)
    out = []
    for name in names:
        ma, mb = np.atleast_1d(mean_a[name].values), np.atleast_1d(mean_b[name].values)
        ea, eb = np.atleast_1d(mcse_a[name].values), np.atleast_1d(mcse_b[name].values)
        for k in range(ma.size):
            label = name if ma.size == 1 else f"{name}[{k}]"
            out.append(MeanComparison(label, float(ma.flat[k]), float(mb.flat[k]),
                                      float(np.hypot(ea.flat[k], eb.flat[k]))))
    return out


def run_example(name: str, description: str) -> None:
    """The command line of the three example programs: sample with both backends, print the means."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    parser.add_argument("--chains", type=int, default=2, help="chains, run one after another (default 2)")
    parser.add_argument("--quick", action="store_true", help="200 draws and 200 tuning steps")
    args = parser.parse_args()
    if args.quick:
        args.draws, args.tune = 200, 200
    import time

    import tensorir.pytensor as tp

    results = {}
    for label, mode in (("tensorir", tp.mode()), ("PyMC default", None)):
        start = time.perf_counter()
        results[label] = sample(MODELS[name](), mode, args.draws, args.tune, args.chains)
        print(f"{label}: sampled in {time.perf_counter() - start:.1f} s")
    rows = compare_means(results["tensorir"], results["PyMC default"])
    print(f"{'variable':<14} {'tensorir':>10} {'default':>10} {'MC error':>9} {'gap/err':>8}")
    for row in rows:
        print(f"{row.name:<14} {row.mean_a:>10.4f} {row.mean_b:>10.4f} {row.mcse:>9.4f} {row.z:>8.2f}")
    worst = max(rows, key=lambda r: r.z)
    print(f"largest gap: {worst.name}, {worst.z:.2f} Monte Carlo standard errors")


def logp_dlogp(model: Any, mode: Any) -> tuple[Callable[[np.ndarray], Any], np.ndarray, Any]:
    """(f, x0, pytensor function): ``f(x) -> (logp, dlogp)`` over the raveled free variables, compiled
    in ``mode`` (None: PyMC's default), and the model's initial point raveled."""
    from pymc.blocking import DictToArrayBijection

    point = model.initial_point()
    function = model.logp_dlogp_function(mode=mode, ravel_inputs=True, initial_point=point)
    function.set_extra_values({})
    x0 = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    return function, x0, function._pytensor_function
