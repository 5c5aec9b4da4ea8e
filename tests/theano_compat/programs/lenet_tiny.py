"""A convolution + pooling layer in the LeNet tutorial's style, with the 0.8-era pooling call."""

import numpy
import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d
from theano.tensor.signal import downsample, pool

rng = numpy.random.RandomState(23455)
x = T.tensor4("x")
filter_shape = (3, 1, 3, 3)
W = theano.shared(numpy.asarray(rng.uniform(-0.3, 0.3, filter_shape), dtype=theano.config.floatX), borrow=True)
b = theano.shared(numpy.zeros((3,), dtype=theano.config.floatX), borrow=True)
conv_out = conv2d(input=x, filters=W, filter_shape=filter_shape, input_shape=(None, 1, 8, 8))
pooled_old = downsample.max_pool_2d(conv_out, (2, 2), ignore_border=True)
pooled_new = pool.pool_2d(input=conv_out, ds=(2, 2), ignore_border=True)
output = T.tanh(pooled_new + b.dimshuffle("x", 0, "x", "x"))
cost = output.flatten(2).sum()
gW = T.grad(cost, W)
f = theano.function([x], [pooled_old, pooled_new, gW])
images = rng.randn(2, 1, 8, 8).astype(theano.config.floatX)
old, new, g = f(images)
assert old.shape == (2, 3, 3, 3) and numpy.allclose(old, new)
assert g.shape == filter_shape and numpy.all(numpy.isfinite(g))
print("OK lenet_tiny")
