# %% [markdown]
# # A convolutional network (LeNet) on MNIST
#
# The DeepLearningTutorials `convolutional_mlp.py`, written for tensorir: two convolution + max
# pooling layers (20 and 50 kernels of 5x5, 2x2 pooling, tanh), a tanh hidden layer of 500 and a
# logistic regression layer, trained by minibatch SGD with early stopping. The first layer's
# learned filters are saved as a picture, `out/lenet_filters.png`.
#
# Run it with `python examples/lenet.py` (`--help` for the options); on N processes, data-parallel:
# `mpirun -n 2 python examples/lenet.py --distributed` (needs `pip install -e '.[distributed]'`).

# %%
import time
from collections.abc import Sequence
from pathlib import Path

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
from mlp import HiddenLayer

import tensorir as tr
import tensorir.tensor as T
from tensorir.tensor.signal import pool

FULL = {
    "epochs": 200,
    "batch_size": 500,
    "learning_rate": 0.1,
    "train_size": None,
    "nkerns": [20, 50],
    "patience": 10000,
}
QUICK = {"epochs": 2, "batch_size": 50, "train_size": 1000, "valid_size": 200, "test_size": 200}
# On the 1,797 digits of the offline fallback (300 validation images): 6 validation minibatches,
# and patience scaled like the training set (about 40 epochs before it may stop).
SMALL_DATA = {"batch_size": 50, "patience": 1000}


# %% [markdown]
# ## The convolution + pooling layer
#
# Each of the layer's kernels sees every input feature map; 2x2 max pooling then halves the
# width and height. The bias is one number per output map, broadcast over the batch and the
# pixels with `dimshuffle('x', 0, 'x', 'x')`.


# %%
class LeNetConvPoolLayer:
    """A convolution layer followed by max pooling and tanh."""

    def __init__(self, rng: np.random.RandomState, input, filter_shape, image_shape, poolsize=(2, 2)):
        """``filter_shape``: (kernels, input maps, h, w); ``image_shape``: (batch, input maps, h, w)."""
        assert image_shape[1] == filter_shape[1]
        self.input = input
        # Each hidden unit sees fan_in inputs and sends gradient to fan_out units (after pooling).
        fan_in = np.prod(filter_shape[1:])
        fan_out = filter_shape[0] * np.prod(filter_shape[2:]) // np.prod(poolsize)
        W_bound = np.sqrt(6.0 / (fan_in + fan_out))
        self.W = tr.shared(
            np.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape), dtype=tr.config.floatX),
            borrow=True,
        )
        self.b = tr.shared(np.zeros((filter_shape[0],), dtype=tr.config.floatX), borrow=True)
        conv_out = T.nnet.conv2d(input=input, filters=self.W, filter_shape=filter_shape, input_shape=image_shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.params = [self.W, self.b]


# %% [markdown]
# ## A picture of the first layer's filters


# %%
def save_filter_picture(filters: np.ndarray, path: Path) -> Path:
    """Draw (kernels, 1, h, w) filters as a grid of grey images, each scaled to its own range."""
    from matplotlib.figure import Figure

    n = len(filters)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(1.2 * cols, 1.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, kernel in zip(axes, filters[:, 0]):
        ax.imshow(kernel, cmap="gray", interpolation="nearest")
    fig.suptitle("LeNet layer 0 filters")
    fig.savefig(path, dpi=100)
    return path


# %% [markdown]
# ## Building and training
#
# The 28x28 input becomes (28-5+1)/2 = 12x12 maps after layer 0 and (12-5+1)/2 = 4x4 after
# layer 1, so the hidden layer sees `nkerns[1] * 4 * 4` inputs. Two 5x5 filters do not fit in
# the 8x8 digits of the offline fallback: there the filters are 3x3 then 2x2 and only the first
# layer pools (8 -> 6 -> 3 -> 2), a LeNet of its own sizes. The minibatch size is part of the
# shapes given to `conv2d`, so validation and testing use the same batch size.


# %%
# (filter, pool) of the two conv layers for each input size.
GEOMETRY = {
    (28, 28): [((5, 5), (2, 2)), ((5, 5), (2, 2))],
    (8, 8): [((3, 3), (2, 2)), ((2, 2), (1, 1))],
}


def feature_map_sizes(image_shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The map size entering each conv layer and the one leaving the last: [(28, 28), (12, 12), (4, 4)]."""
    if image_shape not in GEOMETRY:
        raise ValueError(f"LeNet has layer sizes for images of {sorted(GEOMETRY)}, not {image_shape}")
    sizes = [image_shape]
    for (fh, fw), (ph, pw) in GEOMETRY[image_shape]:
        h, w = sizes[-1]
        sizes.append(((h - fh + 1) // ph, (w - fw + 1) // pw))
    return sizes


def main(argv: Sequence[str] | None = None) -> dict:
    """Train LeNet with early stopping, save its first-layer filters; return the history."""
    parser = make_parser("LeNet-5 style convolutional network on MNIST by minibatch SGD.", FULL, QUICK, SMALL_DATA)
    parser.add_argument("--nkerns", type=int, nargs=2, help="kernels in the two conv layers (default 20 50)")
    parser.add_argument("--patience", type=int, help="initial patience in minibatches (default 10000)")
    args = parse_args(parser, argv)
    world = join_processes(args)
    # As in the tutorial: train in single precision (theano.config.floatX = 'float32').
    tr.config.floatX = "float32"
    dataset = load_images(args, tr.config.floatX)
    train_x, train_y, batch_size = training_shard(world, dataset.train.x, dataset.train.y, args.batch_size)
    train_set_x, train_set_y = shared_dataset(train_x, train_y)
    valid_set_x, valid_set_y = shared_dataset(dataset.valid.x, dataset.valid.y)
    test_set_x, test_set_y = shared_dataset(dataset.test.x, dataset.test.y)
    nkerns = args.nkerns
    n_batches = count_batches(dataset, batch_size, len(train_x))
    rng = np.random.RandomState(args.seed)

    print("... building the model")
    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    (filter0, pool0), (filter1, pool1) = GEOMETRY[dataset.image_shape]
    size0, size1, size2 = feature_map_sizes(dataset.image_shape)
    layer0_input = x.reshape((batch_size, 1, *size0))
    layer0 = LeNetConvPoolLayer(
        rng,
        input=layer0_input,
        image_shape=(batch_size, 1, *size0),
        filter_shape=(nkerns[0], 1, *filter0),
        poolsize=pool0,
    )
    layer1 = LeNetConvPoolLayer(
        rng,
        input=layer0.output,
        image_shape=(batch_size, nkerns[0], *size1),
        filter_shape=(nkerns[1], nkerns[0], *filter1),
        poolsize=pool1,
    )
    # flatten(2) keeps the batch axis: (batch, nkerns[1], 4, 4) -> (batch, nkerns[1] * 16).
    n_flat = nkerns[1] * size2[0] * size2[1]
    layer2 = HiddenLayer(rng, input=layer1.output.flatten(2), n_in=n_flat, n_out=500, activation=T.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=500, n_out=10)
    cost = layer3.negative_log_likelihood(y)

    def batch(data):
        return data[index * batch_size : (index + 1) * batch_size]

    test_model = tr.function([index], layer3.errors(y), givens={x: batch(test_set_x), y: batch(test_set_y)})
    validate_model = tr.function([index], layer3.errors(y), givens={x: batch(valid_set_x), y: batch(valid_set_y)})
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = tr.grad(cost, params)
    train_cost, grads = average_over_processes(world, params, cost, grads)
    updates = [(param_i, param_i - args.learning_rate * grad_i) for param_i, grad_i in zip(params, grads)]
    train_model = tr.function(
        [index], train_cost, updates=updates, givens={x: batch(train_set_x), y: batch(train_set_y)}
    )

    best_path = args.out / "lenet_best.npz"

    def save_best() -> None:
        np.savez(best_path, *[p.get_value() for p in params])

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
        name="lenet",
    )
    elapsed = time.perf_counter() - start
    history.update(model="lenet", dataset=dataset.name, data_note=dataset.note)
    print(
        f"Optimization complete. Best validation score of {history['best_validation_error'] * 100:.2f} % "
        f"with test performance {history['test_error'] * 100:.2f} %; "
        f"{history['epochs']} epochs in {elapsed:.1f} s ({history['seconds_per_epoch']:.2f} s/epoch)"
    )
    history["filters"] = str(save_filter_picture(layer0.W.get_value(), args.out / "lenet_filters.png"))
    history["curve"] = str(plot_training_curve(args.out / "lenet_curve.png", history, "LeNet"))
    save_history(args.out, "lenet", history)
    return history


# %%
if __name__ == "__main__":
    main()
