"""``tensorir.tensor.signal``."""

from tensorir.tensor.signal import pool

__all__ = ["pool"]
