# %% [markdown]
# # A multilayer perceptron on MNIST
#
# The DeepLearningTutorials `mlp.py`, written for tensorir: one tanh hidden layer of 500 units
# under the logistic regression layer of `logistic_regression.py`, trained by minibatch SGD on the
# negative log-likelihood plus L1 and L2 penalties, with the same early stopping.
#
# Run it with `python examples/mlp.py` (`--help` for the options); on N processes, data-parallel:
# `mpirun -n 2 python examples/mlp.py --distributed` (needs `pip install -e '.[distributed]'`).

# %%
import time
from collections.abc import Sequence

import numpy as np
from common import (
    average_over_processes,
    count_batches,
    join_processes,
    load_images,
    make_parser,
    parse_args,
    plot_training_curve,
    save_history,
    shared_dataset,
    train_with_early_stopping,
    training_shard,
)
from logistic_regression import LogisticRegression

import tensorir as tr
import tensorir.tensor as T

FULL = {
    "epochs": 1000,
    "batch_size": 20,
    "learning_rate": 0.01,
    "train_size": None,
    "n_hidden": 500,
    "l1_reg": 0.0,
    "l2_reg": 0.0001,
    "patience": 10000,
}
QUICK = {"epochs": 2, "batch_size": 50, "train_size": 2000, "valid_size": 500, "test_size": 500}
# On the 1,797 digits of the offline fallback: patience scaled like the training set (about 40
# epochs of 59 minibatches before it may stop).
SMALL_DATA = {"patience": 2500}


# %% [markdown]
# ## The layers
#
# A hidden layer computes $\tanh(xW + b)$. Its weights start uniform in
# $\pm\sqrt{6 / (n_{in} + n_{out})}$ (Glorot and Bengio, 2010), which keeps the activations and
# the back-propagated gradients of tanh units near unit variance; sigmoid units need four times that.


# %%
class HiddenLayer:
    """A fully connected layer with a nonlinearity (tanh by default)."""

    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_out: int, W=None, b=None, activation=T.tanh):
        self.input = input
        if W is None:
            bound = np.sqrt(6.0 / (n_in + n_out))
            W_values = np.asarray(rng.uniform(low=-bound, high=bound, size=(n_in, n_out)), dtype=tr.config.floatX)
            if activation == T.nnet.sigmoid:
                W_values *= 4
            W = tr.shared(value=W_values, name="W", borrow=True)
        if b is None:
            b = tr.shared(value=np.zeros((n_out,), dtype=tr.config.floatX), name="b", borrow=True)
        self.W = W
        self.b = b
        lin_output = T.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]


class MLP:
    """One hidden layer under a logistic regression layer."""

    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_hidden: int, n_out: int):
        self.hiddenLayer = HiddenLayer(rng=rng, input=input, n_in=n_in, n_out=n_hidden, activation=T.tanh)
        self.logRegressionLayer = LogisticRegression(input=self.hiddenLayer.output, n_in=n_hidden, n_out=n_out)
        # Penalties on the weights (not the biases) keep the weights small.
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W**2).sum() + (self.logRegressionLayer.W**2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


# %% [markdown]
# ## Training
#
# `tr.grad` differentiates the regularized cost with respect to every parameter; the updates
# are plain SGD steps.


# %%
def main(argv: Sequence[str] | None = None) -> dict:
    """Train the MLP with early stopping; return the history."""
    parser = make_parser("A tanh multilayer perceptron on MNIST by minibatch SGD.", FULL, QUICK, SMALL_DATA)
    parser.add_argument("--n-hidden", type=int, help="hidden units (default 500)")
    parser.add_argument("--l1-reg", type=float, help="L1 penalty weight (default 0)")
    parser.add_argument("--l2-reg", type=float, help="L2 penalty weight (default 0.0001)")
    parser.add_argument("--patience", type=int, help="initial patience in minibatches (default 10000)")
    args = parse_args(parser, argv)
    world = join_processes(args)
    dataset = load_images(args, tr.config.floatX)
    train_x, train_y, batch_size = training_shard(world, dataset.train.x, dataset.train.y, args.batch_size)
    train_set_x, train_set_y = shared_dataset(train_x, train_y)
    valid_set_x, valid_set_y = shared_dataset(dataset.valid.x, dataset.valid.y)
    test_set_x, test_set_y = shared_dataset(dataset.test.x, dataset.test.y)
    n_batches = count_batches(dataset, batch_size, len(train_x))

    print("... building the model")
    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    rng = np.random.RandomState(args.seed)
    classifier = MLP(rng=rng, input=x, n_in=dataset.n_features, n_hidden=args.n_hidden, n_out=10)
    cost = classifier.negative_log_likelihood(y) + args.l1_reg * classifier.L1 + args.l2_reg * classifier.L2_sqr

    def batch(data):
        return data[index * batch_size : (index + 1) * batch_size]

    test_model = tr.function(
        inputs=[index], outputs=classifier.errors(y), givens={x: batch(test_set_x), y: batch(test_set_y)}
    )
    validate_model = tr.function(
        inputs=[index], outputs=classifier.errors(y), givens={x: batch(valid_set_x), y: batch(valid_set_y)}
    )
    gparams = tr.grad(cost, wrt=classifier.params)
    train_cost, gparams = average_over_processes(world, classifier.params, cost, gparams)
    updates = [(param, param - args.learning_rate * gparam) for param, gparam in zip(classifier.params, gparams)]
    train_model = tr.function(
        inputs=[index], outputs=train_cost, updates=updates, givens={x: batch(train_set_x), y: batch(train_set_y)}
    )

    best_path = args.out / "mlp_best.npz"

    def save_best() -> None:
        np.savez(best_path, *[p.get_value() for p in classifier.params])

    print("... training")
    start = time.perf_counter()
    history = train_with_early_stopping(
        train_model,
        validate_model,
        test_model,
        n_batches,
        n_epochs=args.epochs,
        patience=args.patience,
        on_new_best=save_best,
        show_progress=not args.no_progress,
        name="mlp",
    )
    elapsed = time.perf_counter() - start
    history.update(model="mlp", dataset=dataset.name, data_note=dataset.note)
    print(
        f"Optimization complete. Best validation score of {history['best_validation_error'] * 100:.2f} % "
        f"with test performance {history['test_error'] * 100:.2f} %; "
        f"{history['epochs']} epochs in {elapsed:.1f} s ({history['seconds_per_epoch']:.2f} s/epoch)"
    )
    history["curve"] = str(plot_training_curve(args.out / "mlp_curve.png", history, "MLP"))
    save_history(args.out, "mlp", history)
    return history


# %%
if __name__ == "__main__":
    main()
