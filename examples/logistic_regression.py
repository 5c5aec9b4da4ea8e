# %% [markdown]
# # Classifying MNIST digits with logistic regression
#
# The DeepLearningTutorials `logistic_sgd.py`, written for tensorir: a softmax regression
# trained by minibatch stochastic gradient descent, with early stopping on the validation error.
# The best parameters are saved to `out/logistic_regression_best.npz`.
#
# Run it with `python examples/logistic_regression.py` (`--help` for the options); on N processes, data-parallel:
# `mpirun -n 2 python examples/logistic_regression.py --distributed` (needs `pip install -e '.[distributed]'`).

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

import tensorir as tr
import tensorir.tensor as T

FULL = {"epochs": 1000, "batch_size": 600, "learning_rate": 0.13, "train_size": None, "patience": 5000}
QUICK = {"epochs": 2, "batch_size": 100, "train_size": 2000, "valid_size": 500, "test_size": 500}
# On the 1,797 digits of the offline fallback (300 validation images): 6 validation minibatches,
# and patience scaled like the training set (about 40 epochs before it may stop).
SMALL_DATA = {"batch_size": 50, "patience": 1000}


# %% [markdown]
# ## The model
#
# $P(Y=i \mid x, W, b) = \mathrm{softmax}_i(Wx + b)$; the prediction is the most probable class,
# and the loss is the mean negative log-likelihood of the true labels.


# %%
class LogisticRegression:
    """Multi-class logistic regression: a fully connected layer followed by a softmax."""

    def __init__(self, input, n_in: int, n_out: int):
        # Zeros are a fine start: the loss is convex in W and b.
        self.W = tr.shared(value=np.zeros((n_in, n_out), dtype=tr.config.floatX), name="W", borrow=True)
        self.b = tr.shared(value=np.zeros((n_out,), dtype=tr.config.floatX), name="b", borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """Mean over the minibatch of -log P(y | x): index row i, column y[i] of the log-probabilities."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """The fraction of the minibatch that is misclassified."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred", ("y", y.type, "y_pred", self.y_pred.type))
        if y.dtype.startswith("int"):
            return T.mean(T.neq(self.y_pred, y))
        raise NotImplementedError(f"labels must be integers, got {y.dtype}")


# %% [markdown]
# ## Training
#
# The data lives in shared variables; each compiled function takes a minibatch index and
# `givens` substitutes the slice of the shared data for the symbolic inputs.


# %%
def main(argv: Sequence[str] | None = None) -> dict:
    """Train, report validation/test error per epoch, save the best parameters; return the history."""
    parser = make_parser("Softmax regression on MNIST by minibatch SGD with early stopping.", FULL, QUICK, SMALL_DATA)
    parser.add_argument("--patience", type=int, help="initial patience in minibatches (default 5000)")
    args = parse_args(parser, argv)
    world = join_processes(args)
    dataset = load_images(args, tr.config.floatX)
    train_x, train_y, batch_size = training_shard(world, dataset.train.x, dataset.train.y, args.batch_size)
    train_set_x, train_set_y = shared_dataset(train_x, train_y)
    valid_set_x, valid_set_y = shared_dataset(dataset.valid.x, dataset.valid.y)
    test_set_x, test_set_y = shared_dataset(dataset.test.x, dataset.test.y)
    n_batches = count_batches(dataset, batch_size, len(train_x))

    print("... building the model")
    index = T.lscalar()  # index to a minibatch
    x = T.matrix("x")  # rasterized images
    y = T.ivector("y")  # labels
    classifier = LogisticRegression(input=x, n_in=dataset.n_features, n_out=10)
    cost = classifier.negative_log_likelihood(y)

    def batch(data):
        return data[index * batch_size : (index + 1) * batch_size]

    test_model = tr.function(
        inputs=[index], outputs=classifier.errors(y), givens={x: batch(test_set_x), y: batch(test_set_y)}
    )
    validate_model = tr.function(
        inputs=[index], outputs=classifier.errors(y), givens={x: batch(valid_set_x), y: batch(valid_set_y)}
    )
    g_W, g_b = tr.grad(cost=cost, wrt=[classifier.W, classifier.b])
    train_cost, (g_W, g_b) = average_over_processes(world, [classifier.W, classifier.b], cost, [g_W, g_b])
    updates = [
        (classifier.W, classifier.W - args.learning_rate * g_W),
        (classifier.b, classifier.b - args.learning_rate * g_b),
    ]
    train_model = tr.function(
        inputs=[index], outputs=train_cost, updates=updates, givens={x: batch(train_set_x), y: batch(train_set_y)}
    )

    best_path = args.out / "logistic_regression_best.npz"

    def save_best() -> None:
        np.savez(best_path, W=classifier.W.get_value(), b=classifier.b.get_value())

    print("... training the model")
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
        name="logreg",
    )
    elapsed = time.perf_counter() - start
    # Reload the saved best parameters, as the tutorial's predict() does, and check them.
    best = np.load(best_path)
    classifier.W.set_value(best["W"])
    classifier.b.set_value(best["b"])
    reloaded = float(np.mean([test_model(i) for i in range(n_batches[2])]))
    history.update(
        model="logistic_regression", dataset=dataset.name, data_note=dataset.note, reloaded_test_error=reloaded
    )
    print(
        "Optimization complete with best validation score of "
        f"{history['best_validation_error'] * 100:.2f} %, "
        f"with test performance {history['test_error'] * 100:.2f} % (reloaded: {reloaded * 100:.2f} %)"
    )
    print(f"The code ran for {history['epochs']} epochs, {history['epochs'] / elapsed:.2f} epochs/sec")
    history["curve"] = str(
        plot_training_curve(args.out / "logistic_regression_curve.png", history, "logistic regression")
    )
    save_history(args.out, "logistic_regression", history)
    return history


# %%
if __name__ == "__main__":
    main()
