"""``T.shared_randomstreams``: Theano's module name for ``RandomStreams``."""

from tensorir.frontend.random_streams import MRG_RandomStreams, RandomStreams

__all__ = ["MRG_RandomStreams", "RandomStreams"]
