"""Benchmark harness for tensorir against its peers (NumPy, PyTensor, JAX, PyTorch).

Run ``python benchmarks/compare.py``; see ``benchmarks/README.md``.
"""
