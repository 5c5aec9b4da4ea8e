"""``tensorir.tensor.signal.pool``: ``pool_2d``."""

from tensorir.frontend import pool as _pool

globals().update({_name: getattr(_pool, _name) for _name in _pool.__all__})
__all__ = list(_pool.__all__)
