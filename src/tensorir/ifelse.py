"""``tensorir.ifelse``: Theano's lazy conditional (``from tensorir.ifelse import ifelse``)."""

from tensorir.frontend.ifelse import ifelse

__all__ = ["ifelse"]
