"""``tensorir.scan_module``: Theano's scan module (``scan``, ``until`` and the views)."""

from tensorir.frontend.scan import OrderedUpdates, foldl, foldr, map, reduce, scan, until

__all__ = ["OrderedUpdates", "foldl", "foldr", "map", "reduce", "scan", "until"]
