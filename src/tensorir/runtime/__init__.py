"""Executing compiled functions: executors, argument checking, buffers, BLAS, compile cache."""

from tensorir.runtime.arguments import InputError, convert_argument
from tensorir.runtime.reference import ReferenceExecutor

__all__ = ["InputError", "ReferenceExecutor", "convert_argument"]
