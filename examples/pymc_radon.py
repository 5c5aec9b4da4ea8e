"""A radon-style hierarchical regression (varying intercepts, county predictor).

Sampled by PyMC's NUTS with logp and dlogp compiled by tensorir, and again with PyMC's default
backend; prints both posterior means and their Monte Carlo error.

    python examples/pymc_radon.py [--quick] [--draws N] [--tune N] [--chains N]

Needs the `[pytensor]` extra (PyMC and PyTensor).
"""

from pymc_models import run_example

if __name__ == "__main__":
    run_example("radon", __doc__.split("\n")[0])
