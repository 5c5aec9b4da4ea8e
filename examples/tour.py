"""A quick tour of tensorir: three tutorial models trained in a few minutes on a laptop CPU.

1. logistic regression on MNIST (or the fallback data) to convergence, with early stopping;
2. a few epochs of LeNet on part of the training set;
3. a short char-LSTM run on tiny-shakespeare (or another text) and a generated sample.

Each model's test error or validation loss and its time per epoch are printed at the end, with
the data each one used and why.

    python examples/tour.py              # the tour (a few minutes on 2 cores)
    python examples/tour.py --offline    # never touch the network: local data or the fallbacks
    python examples/tour.py --quick      # seconds: the smoke-test setting of every model

The image data is looked up once, here: MNIST where found or downloadable, else Fashion-MNIST,
else scikit-learn's 8x8 digits (see ``tensorir.datasets.load_mnist``); the models then read
that same data.
"""

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import lenet
import logistic_regression
import lstm_text

import tensorir as tr
from tensorir.datasets import DIGITS, ImageDataset, load_mnist

MODELS = ("logistic_regression", "lenet", "lstm_text")

# Each model's command line in the tour, by image data set; the digits' LeNet trains longer because
# its epochs are 23 minibatches of 8x8 images (its patience stops it first).
TOUR_SETTINGS: dict[str, dict[str, list[str]]] = {
    "mnist": {
        # The tutorial's settings; patience stops it when the validation error stops improving.
        "logistic_regression": ["--epochs", "200"],
        # A fifth of the training set, smaller minibatches for more steps per epoch.
        "lenet": ["--epochs", "3", "--train-size", "10000", "--batch-size", "100"],
    },
    "digits": {
        "logistic_regression": ["--epochs", "200"],
        "lenet": ["--epochs", "60"],
    },
}
LSTM_SETTINGS = [
    "--epochs", "2", "--batches-per-epoch", "150", "--n-hidden", "128", "--seq-len", "64",
    "--batch-size", "32", "--valid-batches", "20", "--sample-length", "300",
]  # fmt: skip


def tour_settings(quick: bool, image_data: str = "mnist") -> dict[str, list[str]]:
    """Each model's command line in the tour; --quick uses the scripts' own quick setting.

    ``image_data`` is the name of the image data set; Fashion-MNIST takes MNIST's settings.
    """
    if quick:
        return {name: ["--quick"] for name in MODELS}
    images = TOUR_SETTINGS["digits" if image_data == DIGITS else "mnist"]
    return {**images, "lstm_text": LSTM_SETTINGS}


def image_data_argument(dataset: ImageDataset) -> list[str]:
    """The ``--data`` that makes a script read the data set the tour found."""
    return ["--data", DIGITS if dataset.name == DIGITS else dataset.source]


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run the three models, print a summary table and the LSTM's sample; return their histories."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs (seconds), as in the smoke tests")
    parser.add_argument("--data", help="MNIST file or folder for the image models (default: search)")
    parser.add_argument("--text", help="text file for the LSTM (default: tiny-shakespeare when found)")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars (the default when not on a terminal)")
    parser.add_argument("--offline", action="store_true", help="never download; use local data or the fallbacks")
    parser.add_argument("--device", help="where the models train: cpu or cuda (cuda0, cuda1, ...); default: "
                        "tensorir.config.device (TENSORIR_FLAGS)")
    args = parser.parse_args(argv)
    if args.device:
        tr.config.device = args.device
    common = ["--out", args.out] + [
        f"--{flag}" for flag in ("no-progress", "offline") if getattr(args, flag.replace("-", "_"))
    ]

    start = time.perf_counter()
    print("=== data ===")
    images = load_mnist(args.data, download=not args.offline)
    print(f"images: {images.name} from {images.source}")
    settings = tour_settings(args.quick, images.name)
    text_data = ["--data", args.text] if args.text else []

    results = []
    for title, module, extra in (
        ("1. logistic regression", logistic_regression, image_data_argument(images)),
        ("2. LeNet", lenet, image_data_argument(images)),
        ("3. char-LSTM", lstm_text, text_data),
    ):
        print(f"\n=== {title} ===", flush=True)
        results.append(module.main(settings[module.__name__] + common + extra))
    total = time.perf_counter() - start

    print("\n=== summary ===")
    print(f"{'model':<22}{'data':<16}{'epochs':>7}{'s/epoch':>10}  result")
    for r in results:
        if "test_error" in r:
            result = f"test error {r['test_error'] * 100:.2f} %"
        else:
            result = f"validation loss {r['validation_loss']:.3f} nats/char"
        # A text's source is a path: show its folder's name (e.g. "tinyshakespeare").
        data = r["dataset"] if len(r["dataset"]) < 16 else (Path(r["dataset"]).parent.name or "text")[:15]
        print(f"{r['model']:<22}{data:<16}{r['epochs']:>7}{r['seconds_per_epoch']:>10.2f}  {result}")
    print(f"images: {images.name} ({images.note or 'found at ' + images.source})")
    text = results[-1]
    print(f"text: {text['dataset']}" + (f" ({text['data_note']})" if text.get("data_note") else ""))
    print(f"total {total:.0f} s; curves and parameters in {args.out}/")
    print(f"\nLSTM sample:\n{text['sample']}")
    return results


if __name__ == "__main__":
    main()
