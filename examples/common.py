"""What the example programs share: the command line, shared datasets, the early-stopping loop, plots.

Kept to the parts that would otherwise be copied into every script; the models themselves stay in
their scripts so each reads as the DeepLearningTutorials program it follows.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import tensorir as tr
from tensorir.datasets import ImageDataset, load_mnist


def make_parser(description: str, full: dict, quick: dict, small_data: dict | None = None) -> argparse.ArgumentParser:
    """The options every example has; ``full`` and ``quick`` give the defaults of the two settings.

    Options left unset take their value from ``quick`` under ``--quick``, else from ``full``
    (see :func:`parse_args`); the help text shows both. ``small_data`` replaces the defaults
    that do not fit the small fallback data set (scikit-learn's 1,797 digits; see
    :func:`load_images`).
    """
    parser = argparse.ArgumentParser(description=description)

    def default(key: str) -> str:
        return f"(default {full.get(key)}; --quick: {quick.get(key, full.get(key))})"

    parser.add_argument("--epochs", type=int, help=f"maximum training epochs {default('epochs')}")
    parser.add_argument("--batch-size", type=int, help=f"examples per minibatch {default('batch_size')}")
    parser.add_argument("--learning-rate", type=float, help=f"SGD step size {default('learning_rate')}")
    parser.add_argument("--train-size", type=int, help=f"use only this many training examples {default('train_size')}")
    parser.add_argument("--data", help="data file or folder (default: search TENSORIR_DATA, the cache, shared/data)")
    parser.add_argument("--out", default="out", help="folder for the curve PNG, parameters and history (default out/)")
    parser.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    parser.add_argument("--quick", action="store_true", help="a tiny run for smoke tests and notebooks")
    parser.add_argument(
        "--no-progress", action="store_true", help="no tqdm bar, a line per epoch (the default off a terminal)"
    )
    parser.add_argument("--offline", action="store_true", help="never download; use local data or the fallbacks")
    parser.add_argument("--device", help="where the model trains: cpu or cuda (cuda0, cuda1, ...); default: "
                        "tensorir.config.device (TENSORIR_FLAGS)")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the processes of `mpirun -n N` (needs tensorir[distributed]); "
        "--batch-size is the global batch, split over them",
    )
    parser.set_defaults(_full=full, _quick=quick, _small_data=small_data or {})
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` and fill the unset options from the full or quick setting."""
    args = parser.parse_args(argv)
    if args.device:
        tr.config.device = args.device
    setting = {**args._full, **(args._quick if args.quick else {})}
    args._given = {key for key in setting if getattr(args, key, None) is not None}
    for key, value in setting.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    # Progress bars redraw with carriage returns: in a log file or CI they become thousands of lines.
    args.no_progress = args.no_progress or not sys.stderr.isatty()
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


# Data sets too small for the tutorial's MNIST settings: their examples' ``small_data`` settings apply.
SMALL_DATASETS = frozenset({"digits"})


def adapt_to_dataset(args: argparse.Namespace, dataset: ImageDataset) -> list[str]:
    """Replace the defaults that do not fit a small data set by the script's ``small_data`` ones.

    Only options the user left unset change (the quick setting already fits); each change is
    returned as words for the log, e.g. ``"batch_size 600 -> 50"``.
    """
    if dataset.name not in SMALL_DATASETS or args.quick:
        return []
    changes = []
    for key, value in args._small_data.items():
        if key not in args._given and getattr(args, key, None) != value:
            changes.append(f"{key} {getattr(args, key, None)} -> {value}")
            setattr(args, key, value)
    return changes


def load_images(args: argparse.Namespace, floatX: str) -> ImageDataset:
    """MNIST (or its fallback) cut to ``args.train_size``/``valid_size``/``test_size`` when set.

    On a small fallback data set, the script's ``small_data`` settings replace the defaults
    (:func:`adapt_to_dataset`), and the log says which and why.
    """
    dataset = load_mnist(args.data, download=not args.offline, dtype=floatX)
    changes = adapt_to_dataset(args, dataset)
    dataset = dataset.subset(args.train_size, getattr(args, "valid_size", None), getattr(args, "test_size", None))
    print(
        f"data: {dataset.name} from {dataset.source}: "
        f"{len(dataset.train)} train, {len(dataset.valid)} valid, {len(dataset.test)} test, "
        f"{dataset.image_shape[0]}x{dataset.image_shape[1]} images"
    )
    if changes:
        print(f"settings for the small {dataset.name} data set: {', '.join(changes)}")
    return dataset


def count_batches(dataset: ImageDataset, batch_size: int, train_rows: int | None = None) -> tuple[int, int, int]:
    """Whole minibatches in the train, validation and test splits (compiled shapes need whole ones);
    ``train_rows``: the rows of the training set this process reads, when it reads a shard."""
    train = len(dataset.train) if train_rows is None else train_rows
    counts = tuple(n // batch_size for n in (train, len(dataset.valid), len(dataset.test)))
    if min(counts) == 0:
        sizes = (len(dataset.train), len(dataset.valid), len(dataset.test))
        raise ValueError(f"--batch-size {batch_size} is larger than a split (train/valid/test sizes {sizes})")
    return counts  # type: ignore[return-value]


def shared_dataset(x: np.ndarray, y: np.ndarray, borrow: bool = True):
    """Load a split into shared variables, as the tutorial does, so minibatches never leave the device.

    The labels are stored as floatX (a GPU holds floats well) and cast back to int32 for indexing.
    """
    import tensorir as tr
    import tensorir.tensor as T

    shared_x = tr.shared(np.asarray(x, dtype=tr.config.floatX), borrow=borrow)
    shared_y = tr.shared(np.asarray(y, dtype=tr.config.floatX), borrow=borrow)
    return shared_x, T.cast(shared_y, "int32")


def join_processes(args: argparse.Namespace):
    """With ``--distributed``, join the processes ``mpirun`` started and return the world; else None.

    Every process evaluates the same parameters on the same validation set, so early stopping
    decides the same everywhere; only rank 0 prints and writes to ``--out`` (the others write
    to ``--out/rank<r>`` and print nothing, so the log reads as one run).
    """
    if not args.distributed:
        return None
    import tensorir.distributed as dist

    world = dist.init()
    if world.rank:
        args.out = args.out / f"rank{world.rank}"
        args.out.mkdir(parents=True, exist_ok=True)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        args.no_progress = True
    print(f"distributed: {world.size} processes, global batch {args.batch_size}")
    return world


def training_shard(world, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """This process's rows of the training set and its batch: local minibatch ``k`` is its part
    of global minibatch ``k`` (see ``tensorir.distributed.ShardedBatches``). Without a world,
    the whole set and ``batch_size``."""
    if world is None:
        return x, y, batch_size
    from tensorir.distributed import ShardedBatches

    # In order, as the tutorial reads its minibatches: the same steps as one process with the global batch.
    batches = ShardedBatches.for_world(world, len(x), batch_size, shuffle=False)
    return batches.shard(x), batches.shard(y), batches.local_batch


def average_over_processes(world, params: list, cost, grads: list) -> tuple:
    """Data parallelism in two lines: every process starts from rank 0's parameters and steps with
    the mean of all processes' gradients, summed inside the compiled training function. The cost
    travels in the same message, so the loss printed is the whole global batch's. Without a
    world, ``(cost, grads)`` as they are."""
    if world is None:
        return cost, grads
    world.broadcast_shared(params)
    cost, *grads = world.allreduce([cost, *grads], op="mean")
    return cost, grads


def progress(total: int, desc: str, enabled: bool = True) -> tqdm:
    """A tqdm bar; the caller shows its running loss with ``bar.set_postfix(loss=...)``."""
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def train_with_early_stopping(
    train_model: Callable[[int], float],
    validate_model: Callable[[int], float],
    test_model: Callable[[int], float],
    n_batches: tuple[int, int, int],
    *,
    n_epochs: int,
    patience: int = 10000,
    patience_increase: int = 2,
    improvement_threshold: float = 0.995,
    on_new_best: Callable[[], None] | None = None,
    show_progress: bool = True,
    name: str = "",
) -> dict:
    """Minibatch SGD with the tutorial's early stopping; returns the history.

    ``patience`` is a number of minibatches. A validation error below ``improvement_threshold``
    times the best so far extends it to ``patience_increase`` times the current iteration; training
    stops when the iteration count passes it or after ``n_epochs``. The test error is measured only
    for new best models, so it is the error of the model one would keep.
    """
    n_train_batches, n_valid_batches, n_test_batches = n_batches
    # Validate at least once per epoch, and at least twice within the initial patience.
    validation_frequency = max(1, min(n_train_batches, patience // 2))
    best_validation_loss = np.inf
    test_score = np.nan
    history: dict = {"batch_loss": [], "epoch_loss": [], "validation": [], "epoch_seconds": []}
    iteration = 0
    done_looping = False
    epoch = 0
    while epoch < n_epochs and not done_looping:
        epoch += 1
        start = time.perf_counter()
        losses = []
        bar = progress(n_train_batches, f"{name} epoch {epoch}", show_progress)
        for minibatch_index in range(n_train_batches):
            losses.append(float(train_model(minibatch_index)))
            bar.update()
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
            iteration = (epoch - 1) * n_train_batches + minibatch_index
            if (iteration + 1) % validation_frequency == 0:
                this_validation_loss = float(np.mean([validate_model(i) for i in range(n_valid_batches)]))
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iteration * patience_increase)
                    best_validation_loss = this_validation_loss
                    test_score = float(np.mean([test_model(i) for i in range(n_test_batches)]))
                    if on_new_best is not None:
                        on_new_best()
                history["validation"].append(
                    {
                        "epoch": epoch,
                        "iteration": iteration + 1,
                        "error": this_validation_loss,
                        "test_of_best": test_score,
                    }
                )
                if show_progress:  # without bars (a log), the epoch's line below says it once
                    tqdm.write(
                        f"{name} epoch {epoch}, minibatch {minibatch_index + 1}/{n_train_batches}, "
                        f"validation error {this_validation_loss * 100:.2f} %, "
                        f"test error of best model {test_score * 100:.2f} %"
                    )
            if patience <= iteration:
                done_looping = True
                break
        bar.close()
        history["batch_loss"] += losses
        history["epoch_loss"].append(float(np.mean(losses)))
        history["epoch_seconds"].append(time.perf_counter() - start)
        if not show_progress:
            print(
                f"{name} epoch {epoch}: training loss {np.mean(losses):.4f}, best validation error "
                f"{best_validation_loss * 100:.2f} %, its test error {test_score * 100:.2f} %, "
                f"{history['epoch_seconds'][-1]:.2f} s",
                flush=True,
            )
    history.update(
        epochs=epoch,
        best_validation_error=float(best_validation_loss),
        test_error=test_score,
        seconds_per_epoch=float(np.mean(history["epoch_seconds"])),
    )
    return history


def plot_training_curve(path: Path, history: dict, title: str) -> Path:
    """Save the per-minibatch loss and the validation error against training progress as a PNG."""
    # The object-oriented API needs no pyplot state or GUI backend, in scripts and notebooks alike.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    loss_ax, error_ax = fig.subplots(1, 2)
    loss_ax.plot(history["batch_loss"], lw=0.6, alpha=0.5, label="minibatch")
    if history.get("epoch_loss"):
        per_epoch = len(history["batch_loss"]) / max(1, len(history["epoch_loss"]))
        ticks = (np.arange(len(history["epoch_loss"])) + 1) * per_epoch
        loss_ax.plot(ticks, history["epoch_loss"], "o-", label="epoch mean")
    loss_ax.set(xlabel="minibatch", ylabel="training loss (nats)", title=title)
    loss_ax.legend()
    validation = history.get("validation", [])
    if validation:
        error_ax.plot([v["iteration"] for v in validation], [v["error"] for v in validation], "o-", label="validation")
        error_ax.set(xlabel="minibatch", ylabel=history.get("validation_label", "error rate"))
        error_ax.legend()
    fig.savefig(path, dpi=100)
    return path


def save_history(out: Path, name: str, history: dict) -> Path:
    """Write the history as JSON (the smoke tests read it to check that the loss fell)."""
    path = out / f"{name}_history.json"
    path.write_text(json.dumps(history, indent=1, default=float))
    return path
