"""An RBM's free energy and its CD-1 gradient in float32, with visible biases large enough
that log(1 + exp(x)) overflows float32 unless it is stabilized, gradient included."""

import numpy
import theano
import theano.tensor as T
from theano.tensor.shared_randomstreams import RandomStreams

theano.config.floatX = "float32"
rng = numpy.random.RandomState(0)
n_visible, n_hidden = 6, 4
W = theano.shared(numpy.asarray(rng.randn(n_visible, n_hidden) * 40, dtype="float32"), name="W")
hbias = theano.shared(numpy.full(n_hidden, 60.0, dtype="float32"), name="hbias")
vbias = theano.shared(numpy.zeros(n_visible, dtype="float32"), name="vbias")
theano_rng = RandomStreams(rng.randint(2 ** 30))


def free_energy(v_sample):
    wx_b = T.dot(v_sample, W) + hbias
    vbias_term = T.dot(v_sample, vbias)
    hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)
    return -hidden_term - vbias_term


v = T.matrix("v")
h_mean = T.nnet.sigmoid(T.dot(v, W) + hbias)
h_sample = theano_rng.binomial(size=h_mean.shape, n=1, p=h_mean, dtype=theano.config.floatX)
v_mean = T.nnet.sigmoid(T.dot(h_sample, W.T) + vbias)
chain_end = theano_rng.binomial(size=v_mean.shape, n=1, p=v_mean, dtype=theano.config.floatX)
cost = T.mean(free_energy(v)) - T.mean(free_energy(chain_end))
gparams = T.grad(cost, [W, hbias, vbias], consider_constant=[chain_end])
step = theano.function([v], [cost] + gparams, updates=[(p, p - 0.01 * g) for p, g in zip([W, hbias, vbias], gparams)])
data = (rng.rand(10, n_visible) > 0.5).astype("float32")
for _ in range(3):
    outputs = step(data)
    assert all(numpy.all(numpy.isfinite(o)) for o in outputs), outputs
print("OK rbm_free_energy")
