"""Console tools: ``tensorir-opt`` (read IR, run passes, print IR)."""

from tensorir.tools.opt import main as opt_main

__all__ = ["opt_main"]
