"""An Elman RNN over a sequence with theano.scan, trained a few steps (BPTT)."""

import numpy
import theano
import theano.tensor as T

rng = numpy.random.RandomState(7)
n_in, n_h = 3, 5
Wx = theano.shared(rng.randn(n_in, n_h) * 0.3, name="Wx")
Wh = theano.shared(rng.randn(n_h, n_h) * 0.3, name="Wh")
h0 = theano.shared(numpy.zeros(n_h), name="h0")
seq = T.matrix("seq")
target = T.vector("target")


def recurrence(x_t, h_tm1):
    return T.tanh(T.dot(x_t, Wx) + T.dot(h_tm1, Wh))


h, _ = theano.scan(fn=recurrence, sequences=seq, outputs_info=[h0], n_steps=seq.shape[0])
loss = T.sum((h[-1] - target) ** 2)
params = [Wx, Wh]
gparams = T.grad(loss, params)
train = theano.function([seq, target], loss, updates=[(p, p - 0.05 * g) for p, g in zip(params, gparams)])
data = rng.randn(6, n_in)
goal = numpy.linspace(-0.5, 0.5, n_h)
first = train(data, goal)
for _ in range(20):
    last = train(data, goal)
assert last < first, (first, last)
print("OK rnn_scan %.4f -> %.4f" % (first, last))
