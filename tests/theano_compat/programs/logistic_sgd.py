"""Logistic regression trained by minibatch SGD, written the way Theano tutorials wrote it."""

import sys

import numpy
import theano
import theano.tensor as T


class LogisticRegression(object):
    def __init__(self, input, n_in, n_out, W=None):
        if not W:  # Theano's idiom: a variable given by the caller is truthy
            W = theano.shared(numpy.zeros((n_in, n_out), dtype=theano.config.floatX), name="W", borrow=True)
        self.W = W
        self.b = theano.shared(value=numpy.zeros((n_out,), dtype=theano.config.floatX), name="b", borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred")
        if y.dtype.startswith("int"):
            return T.mean(T.neq(self.y_pred, y))
        raise NotImplementedError()


def make_data(rng, n, n_in, n_out):
    centers = rng.randn(n_out, n_in) * 3
    labels = rng.randint(0, n_out, size=n)
    points = centers[labels] + rng.randn(n, n_in)
    shared_x = theano.shared(numpy.asarray(points, dtype=theano.config.floatX), borrow=True)
    shared_y = theano.shared(numpy.asarray(labels, dtype=theano.config.floatX), borrow=True)
    return shared_x, T.cast(shared_y, "int32")


def main(n_epochs):
    rng = numpy.random.RandomState(1234)
    train_x, train_y = make_data(rng, 200, 5, 3)
    batch_size = 20
    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    classifier = LogisticRegression(input=x, n_in=5, n_out=3)
    cost = classifier.negative_log_likelihood(y)
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    updates = [(classifier.W, classifier.W - 0.1 * g_W), (classifier.b, classifier.b - 0.1 * g_b)]
    train_model = theano.function(
        inputs=[index],
        outputs=cost,
        updates=updates,
        givens={x: train_x[index * batch_size: (index + 1) * batch_size],
                y: train_y[index * batch_size: (index + 1) * batch_size]},
    )
    error = theano.function([], classifier.errors(y), givens={x: train_x, y: train_y})
    before = error()
    for _ in range(n_epochs):
        for minibatch_index in range(200 // batch_size):
            train_model(minibatch_index)
    after = error()
    assert after < before and after < 0.2, (before, after)
    print("OK logistic_sgd error %.3f" % after)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
