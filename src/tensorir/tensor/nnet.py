"""``T.nnet``: neural-network ops (softmax family, cross-entropies, conv2d, activations)."""

from tensorir.frontend import nnet as _nnet

globals().update({_name: getattr(_nnet, _name) for _name in _nnet.__all__})
__all__ = list(_nnet.__all__)
