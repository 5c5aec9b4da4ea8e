"""A quick tour of tensorir: three tutorial models trained in a few minutes on a laptop CPU.

1. logistic regression on MNIST (or the fallback data) to convergence, with early stopping;
2. a few epochs of LeNet on part of the training set;
3. a short char-LSTM run on tiny-shakespeare (or another text) and a generated sample.

Each model's test error or validation loss and its time per epoch are printed at the end.

    python examples/tour.py            # the tour (a few minutes on 2 cores)
    python examples/tour.py --quick    # seconds: the smoke-test setting of every model
"""

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import lenet
import logistic_regression
import lstm_text


def tour_settings(quick: bool) -> dict[str, list[str]]:
    """Each model's command line in the tour; --quick uses the scripts' own quick setting."""
    if quick:
        return {name: ["--quick"] for name in ("logistic_regression", "lenet", "lstm_text")}
    return {
        # The tutorial's settings; patience stops it when the validation error stops improving.
        "logistic_regression": ["--epochs", "200"],
        # A fifth of the training set, smaller minibatches for more steps per epoch.
        "lenet": ["--epochs", "3", "--train-size", "10000", "--batch-size", "100"],
        "lstm_text": [
            "--epochs", "2", "--batches-per-epoch", "150", "--n-hidden", "128", "--seq-len", "64",
            "--batch-size", "32", "--valid-batches", "20", "--sample-length", "300",
        ],
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run the three models, print a summary table and the LSTM's sample; return their histories."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs (seconds), as in the smoke tests")
    parser.add_argument("--data", help="MNIST file or folder for the image models (default: search)")
    parser.add_argument("--text", help="text file for the LSTM (default: tiny-shakespeare when found)")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    parser.add_argument("--offline", action="store_true", help="never download MNIST; use local data or fallbacks")
    args = parser.parse_args(argv)
    settings = tour_settings(args.quick)
    common = ["--out", args.out] + [
        f"--{flag}" for flag in ("no-progress", "offline") if getattr(args, flag.replace("-", "_"))
    ]
    image_data = ["--data", args.data] if args.data else []
    text_data = ["--data", args.text] if args.text else []

    results = []
    start = time.perf_counter()
    for title, module, extra in (
        ("1. logistic regression", logistic_regression, image_data),
        ("2. LeNet", lenet, image_data),
        ("3. char-LSTM", lstm_text, text_data),
    ):
        print(f"\n=== {title} ===")
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
    print(f"total {total:.0f} s; curves and parameters in {args.out}/")
    print(f"\nLSTM sample:\n{results[-1]['sample']}")
    return results


if __name__ == "__main__":
    main()
