"""A two-layer perceptron with MRG dropout, L2 penalty and momentum, in float32 via theano.config."""

import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

theano.config.floatX = "float32"


def layer(rng, n_in, n_out, name):
    bound = numpy.sqrt(6.0 / (n_in + n_out))
    W = theano.shared(numpy.asarray(rng.uniform(-bound, bound, (n_in, n_out)), dtype=theano.config.floatX), name=name)
    b = theano.shared(numpy.zeros(n_out, dtype=theano.config.floatX), name=name + "_b")
    return W, b


rng = numpy.random.RandomState(42)
trng = MRG_RandomStreams(1234)
x = T.matrix("x")
y = T.ivector("y")
W1, b1 = layer(rng, 4, 16, "W1")
W2, b2 = layer(rng, 16, 2, "W2")
hidden = T.tanh(T.dot(x, W1) + b1)
mask = trng.binomial(hidden.shape, p=0.8, n=1, dtype=hidden.dtype)
p_train = T.nnet.softmax(T.dot(hidden * mask / 0.8, W2) + b2)
p_test = T.nnet.softmax(T.dot(hidden, W2) + b2)
params = [W1, b1, W2, b2]
cost = T.nnet.categorical_crossentropy(p_train, y).mean() + 1e-4 * (W1 ** 2).sum()
grads = T.grad(cost, params)
velocities = [theano.shared(p.get_value() * 0.0) for p in params]
updates = []
for p, g, v in zip(params, grads, velocities):
    new_v = 0.9 * v - 0.1 * g
    updates.append((v, new_v))
    updates.append((p, p + new_v))
train = theano.function([x, y], cost, updates=updates)
accuracy = theano.function([x, y], T.mean(T.eq(T.argmax(p_test, axis=1), y)))

data = rng.randn(128, 4).astype("float32")
labels = (data[:, 0] * data[:, 1] > 0).astype("int32")
for _epoch in range(200):
    c = train(data, labels)
assert c.dtype == numpy.float32 and numpy.isfinite(c)
acc = accuracy(data, labels)
assert acc > 0.75, acc
print("OK mlp_dropout accuracy %.2f" % acc)
