"""``tensorir.tensor.random``: ``RandomStreams``."""

from tensorir.frontend import random_streams as _random_streams

globals().update({_name: getattr(_random_streams, _name) for _name in _random_streams.__all__})
__all__ = list(_random_streams.__all__)
